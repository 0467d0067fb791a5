"""A real store outage under `copyloom serve`: answers go on from the journal, replayed exactly once.

The outage is real. PostgreSQL: the server reaches the database through a TCP forwarder that the test
cuts (open connections drop, new ones are refused) and restores. SQLite: another connection holds an
exclusive lock (`BEGIN EXCLUSIVE`), so the server's writes cannot commit.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from copyloom.domain.pseudonyms import pseudonymise
from copyloom.server import free_port
from copyloom.services.assignment import choose_variant
from copyloom.services.experiments import get_experiment
from copyloom.storage.journal import journal_files
from copyloom.storage.tables import assignments
from tests.helpers import METRICS_HEADERS, METRICS_TOKEN, Workspace
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


def start_serve_with_journal(database_url: str, journal_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
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
        [sys.executable, "-m", "copyloom", "serve", "--no-learner", "--no-ingest"], env=env
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


def content(client: httpx.Client, workspace: Workspace, recipient: str) -> httpx.Response:
    return client.get(
        f"/v1/content/{workspace.experiment_id}",
        params={"recipient": recipient, "dispatch": "d"},
        headers={"Authorization": f"Bearer {workspace.token}"},
    )


def expected_variant(workspace: Workspace, recipient: str) -> str:
    """The deterministic choice on the last known weights (uniform: the learner has not run)."""
    experiment = get_experiment(workspace.store, workspace.experiment_id)
    key = pseudonymise(workspace.tenant.pseudonym_key, recipient)
    weights = [1.0] * len(experiment.variant_ids)
    return choose_variant(experiment.variant_ids, weights, experiment.experiment_id, key)


def stored(workspace: Workspace) -> list[tuple[str, str, str]]:
    with workspace.store.read() as conn:
        query = sa.select(assignments.c.recipient_key, assignments.c.dispatch_id, assignments.c.variant_id)
        return [(str(k), str(d), str(v)) for k, d, v in conn.execute(query)]


def metric(client: httpx.Client, name: str) -> float:
    lines = client.get("/metrics", headers=METRICS_HEADERS).text.splitlines()
    return float(next(line for line in lines if line.startswith(f"{name} ")).split()[-1])


def wait_until_healthy(client: httpx.Client) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        health: dict[str, object] = client.get("/healthz").json()
        if health["status"] == "ok":
            return health
        time.sleep(0.1)
    pytest.fail(f"still {health} 60 s after the store came back")


def test_an_outage_is_served_from_the_journal_and_replayed_exactly_once(
    outage: Outage, workspace: Workspace, tmp_path: Path
) -> None:
    process, url = start_serve_with_journal(outage.server_database_url, tmp_path / "journal")
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(5):  # known before the outage: token, experiment and weights are in memory
                assert content(client, workspace, f"before-{i}").status_code == 200

            outage.cut()
            answered = {f"during-{i}": content(client, workspace, f"during-{i}") for i in range(30)}
            again = {r: content(client, workspace, r).json()["variant_id"] for r in answered}
            health = client.get("/healthz")
            depth, degraded = (
                metric(client, "copyloom_journal_depth"),
                metric(client, "copyloom_store_degraded"),
            )
            outage.restore()
            recovered = wait_until_healthy(client)
            after = {
                name: metric(client, name)
                for name in (
                    "copyloom_journal_depth",
                    "copyloom_journal_replayed_total",
                    "copyloom_journal_replay_conflicts_total",
                    "copyloom_store_degraded",
                )
            }
    finally:
        process.terminate()
        process.wait(timeout=30)

    assert all(r.status_code == 200 for r in answered.values())
    variants = {r: response.json()["variant_id"] for r, response in answered.items()}
    assert variants == {r: expected_variant(workspace, r) for r in answered}
    assert again == variants, "a second render during the outage gets the same variant"
    assert all(r.json()["pixel_url"].endswith("/v1/pixel/-.gif") for r in answered.values())
    assert health.status_code == 200, "a degraded worker still serves: the load balancer keeps it"
    assert health.json()["status"] == "degraded"
    assert health.json()["store"] == "unreachable"
    assert health.json()["journal_depth"] == 30
    assert (depth, degraded) == (30.0, 1.0)

    assert recovered == {"status": "ok"}
    assert after == {
        "copyloom_journal_depth": 0.0,
        "copyloom_journal_replayed_total": 30.0,
        "copyloom_journal_replay_conflicts_total": 0.0,
        "copyloom_store_degraded": 0.0,
    }
    rows = stored(workspace)
    assert len(rows) == 35
    by_recipient = {pseudonymise(workspace.tenant.pseudonym_key, r): v for r, v in variants.items()}
    assert sorted((k, v) for k, d, v in rows if k in by_recipient) == sorted(by_recipient.items())
    assert journal_files(tmp_path / "journal") == []


def test_the_journal_of_a_killed_worker_is_replayed_by_the_next_one(
    outage: Outage, workspace: Workspace, tmp_path: Path
) -> None:
    process, url = start_serve_with_journal(outage.server_database_url, tmp_path / "journal")
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            assert content(client, workspace, "warm-up").status_code == 200
            outage.cut()
            variants = {f"r{i}": content(client, workspace, f"r{i}").json()["variant_id"] for i in range(10)}
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    outage.restore()
    left = journal_files(tmp_path / "journal")

    process, url = start_serve_with_journal(outage.server_database_url, tmp_path / "journal")
    try:
        deadline = time.monotonic() + 60
        while journal_files(tmp_path / "journal") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=30)

    assert len(left) == 1
    rows = stored(workspace)
    assert len(rows) == 11
    expected = {(pseudonymise(workspace.tenant.pseudonym_key, r), "d", v) for r, v in variants.items()}
    assert expected <= set(rows)
    assert journal_files(tmp_path / "journal") == []
