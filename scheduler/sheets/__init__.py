"""Spreadsheets of agreements: template, import and export."""
