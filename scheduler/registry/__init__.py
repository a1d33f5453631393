"""The registry of partners: domain values, dataset files, the database store."""
