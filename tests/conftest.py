"""The test tiers. `make test-fast` runs what needs no store, server, subprocess or browser; `make test`
runs everything.

A test is marked `integration` when it uses a fixture that opens a store or starts a server, a browser or
a process (`tests/stores.py`, `tests/s3server.py`, `tests/browser/conftest.py`), when it lives in
`tests/system/` or `tests/browser/`, or when it says so itself (`pytest.mark.integration`: tests that
start processes of their own). This conftest
imports nothing heavy: the engine's tests run with numpy and scipy alone.
"""

from __future__ import annotations

import pytest

_INTEGRATION_FIXTURES = frozenset({"postgres_dsn", "database_url", "store", "api", "s3_server", "chromium"})
_INTEGRATION_FOLDERS = frozenset({"system", "browser"})


def _is_integration(item: pytest.Item) -> bool:
    in_folder = _INTEGRATION_FOLDERS.intersection(item.path.relative_to(item.config.rootpath).parts[1:-1])
    return bool(in_folder or _INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_integration(item):
            item.add_marker(pytest.mark.integration)
