"""The background daemon: leadership, schedule, job child processes."""
