"""The database: engine and sessions, tables, ORM models, Alembic migrations."""
