"""This folder's tests run against real stores and servers (`tests/stores.py`) and a real S3 server."""

from tests.s3server import s3_server
from tests.stores import api, database_url, postgres_dsn, settings, store, workspace

__all__ = ["api", "database_url", "postgres_dsn", "s3_server", "settings", "store", "workspace"]
