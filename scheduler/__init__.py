"""sistercity: reminders and meeting agendas for a province's sister-city relations."""

__version__ = "0.1.0"
