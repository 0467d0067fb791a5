"""A real store outage under `copyloom serve`: answers go on from the journal, replayed exactly once.

The outage is real (`tests/outages.py`): a cut TCP forwarder to PostgreSQL, an exclusive lock on SQLite.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from copyloom.domain.pseudonyms import pseudonymise
from copyloom.services.assignment import choose_variant
from copyloom.services.experiments import get_experiment
from copyloom.storage.journal import journal_files
from copyloom.storage.tables import assignments
from tests.helpers import METRICS_HEADERS, Workspace
from tests.outages import Outage, start_serve_with_journal


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
