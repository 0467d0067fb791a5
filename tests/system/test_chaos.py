"""Chaos, repeatable: `copyloom serve` killed with SIGKILL and its store cut off at random moments under
concurrent content calls and event posts, on SQLite and PostgreSQL.

What it promises (DESIGN.md, contract 3): every recipient answered with 200 keeps that variant and is
stored once; every event acknowledged with 200 is counted exactly once, however often Braze re-sends it.
The moments are drawn from a seeded generator, so a failing run can be replayed.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from copyloom.domain.pseudonyms import pseudonymise
from copyloom.services.journal import replay_journals
from copyloom.storage.tables import assignments, engagements, seen_events
from tests.helpers import Workspace
from tests.outages import Outage, start_serve_with_journal
from tests.web.test_events import braze_event

pytestmark = pytest.mark.slow

SEED = 20261207
ROUNDS = 4
CLIENTS = 6


@dataclass
class Ledger:
    """What the clients were told: answers (recipient → variant) and acknowledged events (id → recipient),
    and every recipient a click was posted for."""

    answered: dict[str, str] = field(default_factory=dict)
    acknowledged: dict[str, str] = field(default_factory=dict)
    clicked: set[str] = field(default_factory=set)
    sent_events: int = 0
    refused: int = 0
    lost_connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def test_kills_and_cuts_at_random_moments_lose_nothing_and_count_nothing_twice(
    outage: Outage, workspace: Workspace, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    journal = tmp_path / "journal"
    ledger = Ledger()
    names = itertools.count()
    for round_number in range(ROUNDS):
        durable = sorted(ledger.answered)  # every earlier answer is in the store: replayed below
        process, url = start_serve_with_journal(outage.server_database_url, journal, own_session=True)
        stop = threading.Event()
        workers = [
            threading.Thread(
                target=_client,
                args=(url, workspace, ledger, stop, random.Random(rng.random()), durable, names),
            )
            for _ in range(CLIENTS)
        ]
        for worker in workers:
            worker.start()
        try:
            time.sleep(rng.uniform(0.3, 1.2))
            if round_number % 2 == 1:  # a store outage mid-traffic, then the kill
                outage.cut()
                time.sleep(rng.uniform(0.2, 0.8))
                outage.restore()
                time.sleep(rng.uniform(0.0, 0.5))
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            stop.set()
            for worker in workers:
                worker.join(timeout=60)
            outage.restore()
        replay_journals(workspace.store, journal)  # what the next process would do, before its clients

    _resend_every_acknowledged_event(outage, workspace, ledger, journal)

    print(  # the suite's figures, shown with `pytest -s` or on failure
        f"chaos: {ROUNDS} kills, {ROUNDS // 2} store outages, {len(ledger.answered)} recipients answered, "
        f"{ledger.sent_events} events posted, {len(ledger.acknowledged)} acknowledged, "
        f"{ledger.refused} refused (5xx/4xx), {ledger.lost_connections} connections lost"
    )
    assert len(ledger.answered) > 100, "traffic must flow between the kills"
    assert len(ledger.acknowledged) > 20
    stored = _stored(workspace)
    keys = {pseudonymise(workspace.tenant.pseudonym_key, r): r for r in ledger.answered}
    assert [k for k, n in stored.counts.items() if n > 1] == [], "an assignment stored twice"
    assert {r: stored.variants.get(k) for k, r in keys.items()} == ledger.answered
    assert set(ledger.acknowledged) <= stored.seen_event_ids
    acknowledged = {pseudonymise(workspace.tenant.pseudonym_key, r) for r in ledger.acknowledged.values()}
    posted = {pseudonymise(workspace.tenant.pseudonym_key, r) for r in ledger.clicked}
    # A batch whose answer was lost to the kill may have been counted: posted, never promised.
    assert acknowledged <= stored.clicked <= posted, "every acknowledged click counted, nothing invented"


def _client(
    url: str,
    workspace: Workspace,
    ledger: Ledger,
    stop: threading.Event,
    rng: random.Random,
    durable: list[str],
    names: itertools.count[int],
) -> None:
    headers = {"Authorization": f"Bearer {workspace.token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=5) as client:
        while not stop.is_set():
            if durable and rng.random() < 0.3:
                batch = [braze_event("Click", r, "d") for r in rng.sample(durable, min(5, len(durable)))]
                _post(client, ledger, batch)
            else:
                _answer(client, workspace, ledger, f"r{next(names)}")


def _answer(client: httpx.Client, workspace: Workspace, ledger: Ledger, recipient: str) -> None:
    path, params = f"/v1/content/{workspace.experiment_id}", {"recipient": recipient, "dispatch": "d"}
    response = _request(ledger, lambda: client.get(path, params=params))
    if response is not None and response.status_code == 200:
        with ledger.lock:
            ledger.answered[recipient] = response.json()["variant_id"]


def _post(client: httpx.Client, ledger: Ledger, batch: list[dict[str, Any]]) -> None:
    response = _request(ledger, lambda: client.post("/v1/events", json={"events": batch}))
    with ledger.lock:
        ledger.sent_events += len(batch)
        ledger.clicked.update(event["user"]["user_id"] for event in batch)
        if response is not None and response.status_code == 200:
            ledger.acknowledged.update((event["id"], event["user"]["user_id"]) for event in batch)


def _request(ledger: Ledger, call: Callable[[], httpx.Response]) -> httpx.Response | None:
    try:
        response = call()
    except httpx.TransportError:  # killed before it answered: nothing was promised
        with ledger.lock:
            ledger.lost_connections += 1
        return None
    if response.status_code != 200:
        with ledger.lock:
            ledger.refused += 1
    return response


def _resend_every_acknowledged_event(
    outage: Outage, workspace: Workspace, ledger: Ledger, journal: Path
) -> None:
    """Currents delivers at least once: every acknowledged event comes again, and counts nothing more."""
    process, url = start_serve_with_journal(outage.server_database_url, journal, own_session=True)
    try:
        headers = {"Authorization": f"Bearer {workspace.token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            events = [braze_event("Click", r, "d") | {"id": i} for i, r in ledger.acknowledged.items()]
            for start in range(0, len(events), 500):
                response = client.post("/v1/events", json={"events": events[start : start + 500]})
                assert response.status_code == 200, response.text
                assert response.json()["duplicate"] == len(events[start : start + 500])
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@dataclass(frozen=True)
class _Stored:
    counts: dict[str, int]
    variants: dict[str, str]
    seen_event_ids: set[str]
    clicked: set[str]


def _stored(workspace: Workspace) -> _Stored:
    with workspace.store.read() as conn:
        rows = conn.execute(
            sa.select(assignments.c.recipient_key, assignments.c.variant_id).where(
                assignments.c.experiment_id == workspace.experiment_id
            )
        ).all()
        seen = conn.execute(
            sa.select(seen_events.c.event_id).where(seen_events.c.tenant_id == workspace.tenant.tenant_id)
        ).scalars()
        clicked = conn.execute(
            sa.select(assignments.c.recipient_key)
            .join(engagements, engagements.c.assignment_id == assignments.c.assignment_id)
            .where(engagements.c.kind == "click", assignments.c.experiment_id == workspace.experiment_id)
        ).scalars()
        counts: dict[str, int] = {}
        for key, _ in rows:
            counts[str(key)] = counts.get(str(key), 0) + 1
        return _Stored(
            counts, {str(k): str(v) for k, v in rows}, {str(e) for e in seen}, {str(k) for k in clicked}
        )
