"""Persistence: SQLAlchemy Core tables, Alembic migrations and repositories for SQLite and PostgreSQL."""
