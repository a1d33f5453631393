"""The service layer: one operation per user action, under the CLI, the daemon and the web app."""
