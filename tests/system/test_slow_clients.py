"""`copyloom serve` drops a client that sends its request headers too slowly (finding 9)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

import pytest

from copyloom.storage.db import Store
from tests.helpers import Workspace
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


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_a_slow_body_gets_408_and_the_connection_back(
    store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch, workspace: Workspace, server: str
) -> None:
    """A body that trickles in (the headers promise 1,000 bytes, 10 arrive) is cut off at
    `COPYLOOM_BODY_READ_TIMEOUT_S` with the error shape, under either server, on every route."""
    monkeypatch.setenv("COPYLOOM_BODY_READ_TIMEOUT_S", "1")
    process, url = start_serve(database_url, "--server", server, "--no-learner", "--no-ingest")
    try:
        address = urlparse(url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as slow:
            slow.sendall(
                f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {workspace.token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode()
                + b'{"events":'
            )
            started = time.monotonic()
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = slow.recv(4096)
                if not chunk:
                    break
                answer += chunk
            waited_s = time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=30)

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout", answer[:300]
    assert b'"code":"request_timeout"' in rest
    assert waited_s < 5, f"the answer took {waited_s:.1f} s"
