"""This folder's tests run against real stores and servers (`tests/stores.py`)."""

from tests.currents_samples import braze_samples_fixture, generated_samples_fixture, samples_fixture
from tests.stores import api, database_url, postgres_dsn, settings, store, workspace

__all__ = [
    "api",
    "braze_samples_fixture",
    "database_url",
    "generated_samples_fixture",
    "postgres_dsn",
    "samples_fixture",
    "settings",
    "store",
    "workspace",
]
