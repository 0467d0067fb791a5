"""This folder's tests run against real stores and servers (`tests/stores.py`) and a real S3 server."""

from tests.currents_samples import braze_samples_fixture, generated_samples_fixture, samples_fixture
from tests.outages import outage
from tests.s3server import s3_server
from tests.stores import api, database_url, postgres_dsn, settings, store, workspace

__all__ = [
    "api",
    "braze_samples_fixture",
    "database_url",
    "generated_samples_fixture",
    "outage",
    "postgres_dsn",
    "s3_server",
    "samples_fixture",
    "settings",
    "store",
    "workspace",
]
