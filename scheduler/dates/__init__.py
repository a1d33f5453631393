"""Dates: the Thai government calendar, Buddhist-Era parsing and formatting, crontab."""
