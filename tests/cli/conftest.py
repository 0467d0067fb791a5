"""This folder's tests run the command line against real stores (`tests/stores.py`)."""

import pytest

from tests.cli.runner import Cli
from tests.stores import api, database_url, postgres_dsn, settings, store, workspace

__all__ = ["api", "cli", "database_url", "postgres_dsn", "settings", "store", "workspace"]


@pytest.fixture
def cli(database_url: str) -> Cli:
    """The command line on an initialised store."""
    cli = Cli(database_url)
    cli.run("init")
    return cli
