"""The test tiers. `make test-fast` runs what needs no store, server, subprocess or browser; `make test`
runs everything.

A test is marked `integration` when it uses a fixture that opens a store or starts a server, a browser or
a process (`tests/stores.py`, `tests/s3server.py`, `tests/browser/conftest.py`), or when its module says
so with `pytestmark = pytest.mark.integration` (tests that start processes themselves). This conftest
imports nothing heavy: the engine's tests run with numpy and scipy alone.
"""

from __future__ import annotations

import pytest

_INTEGRATION_FIXTURES = frozenset({"postgres_dsn", "database_url", "store", "api", "s3_server", "chromium"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
