"""This folder's tests run against real stores and servers (`tests/stores.py`)."""

from tests.stores import api, database_url, postgres_dsn, settings, store, workspace

__all__ = ["api", "database_url", "postgres_dsn", "settings", "store", "workspace"]
