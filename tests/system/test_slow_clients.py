"""`copyloom serve` drops a client that sends its request headers too slowly (finding 9)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

import pytest

from copyloom.storage.db import Store
from tests.system.test_serve import start_serve


def test_a_slow_header_client_is_dropped_by_granian(
    store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn has no such timeout before a connection's first request: there the setting bounds only
    idle keep-alive connections (docs/security.md)."""
    monkeypatch.setenv("COPYLOOM_HEADER_READ_TIMEOUT_S", "1")
    process, url = start_serve(database_url, "--server", "granian", "--no-learner", "--no-ingest")
    try:
        address = urlparse(url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers started, never finished
            started = time.monotonic()
            while slow.recv(4096):  # a 408 answer, if any, then the close
                pass
            waited_s = time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=30)

    assert waited_s < 5, f"the connection stayed open {waited_s:.1f} s"
