"""Real store outages and `copyloom serve` processes for the whole-system tests.

The outage is real. PostgreSQL: the server reaches the database through a TCP forwarder that the test
cuts (open connections drop, new ones are refused) and restores. SQLite: another connection holds an
exclusive lock (`BEGIN EXCLUSIVE`), so the server's writes cannot commit.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from copyloom.server import free_port
from tests.helpers import METRICS_TOKEN
from tests.tcpproxy import TcpProxy


@dataclass
class Outage:
    server_database_url: str
    cut: Callable[[], None]
    restore: Callable[[], None]


@pytest.fixture
def outage(database_url: str) -> Iterator[Outage]:
    if database_url.startswith("sqlite"):
        yield from _sqlite_lock(database_url)
        return
    url = make_url(database_url)
    with TcpProxy(url.port or 5432, url.host or "127.0.0.1") as proxy:
        via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        yield Outage(via_proxy, proxy.cut, proxy.restore)


def _sqlite_lock(database_url: str) -> Iterator[Outage]:
    held: list[sqlite3.Connection] = []

    def cut() -> None:
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        held.append(conn)

    def restore() -> None:
        while held:
            conn = held.pop()
            conn.execute("ROLLBACK")
            conn.close()

    try:
        yield Outage(database_url, cut, restore)
    finally:
        restore()


def start_serve_with_journal(
    database_url: str, journal_dir: Path, *, own_session: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    """`copyloom serve` with a short journal threshold and replay interval, once it answers; with
    `own_session`, in a process group of its own, so that `os.killpg` reaches every process it starts."""
    port = free_port()
    env = {
        **os.environ,
        "COPYLOOM_DATABASE_URL": database_url,
        "COPYLOOM_PORT": str(port),
        "COPYLOOM_LOG_LEVEL": "WARNING",
        "COPYLOOM_CACHE_REFRESH_S": "0.2",
        "COPYLOOM_JOURNAL_DIR": str(journal_dir),
        "COPYLOOM_JOURNAL_AFTER_MS": "300",
        "COPYLOOM_JOURNAL_REPLAY_INTERVAL_S": "0.3",
        "COPYLOOM_RESPONSE_BUDGET_MS": "1500",
        "COPYLOOM_METRICS_TOKEN": METRICS_TOKEN,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "copyloom", "serve", "--no-learner", "--no-ingest"],
        env=env,
        start_new_session=own_session,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "copyloom serve exited"
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("copyloom serve did not come up in 30 s")
