"""Fair sharing: one tenant's event batches at its limit cannot starve another tenant's content calls."""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid

import httpx

from copyloom.server import ThreadedServer, build_app
from copyloom.settings import Settings
from copyloom.storage.db import Store
from tests.helpers import Workspace, make_workspace

SLOWDOWN_FACTOR = 3
"""Tenant A's content p50 while tenant B posts at its event limit stays within this factor of its idle
p50 (docs/security.md)."""


def _batch(size: int) -> bytes:
    events = [
        {
            "event_type": "users.messages.email.Click",
            "id": str(uuid.uuid4()),
            "time": 1764338400,
            "user": {"user_id": f"user-{i}", "external_user_id": f"ext-{i}"},
            "properties": {"campaign_id": "camp-1", "dispatch_id": "d-1", "user_agent": "Mozilla/5.0"},
        }
        for i in range(size)
    ]
    return json.dumps({"events": events}).encode()


def _content_p50_s(client: httpx.Client, workspace: Workspace, tag: str, n: int) -> float:
    headers = {"Authorization": f"Bearer {workspace.token}"}
    took = []
    for i in range(n):
        started = time.perf_counter()
        response = client.get(
            f"/v1/content/{workspace.experiment_id}",
            params={"recipient": f"{tag}-{i}", "dispatch": "d"},
            headers=headers,
        )
        took.append(time.perf_counter() - started)
        assert response.status_code == 200
        time.sleep(0.005)
    return statistics.median(took)


def _post_at_the_limit(url: str, workspace: Workspace, stop: threading.Event, answers: list[int]) -> None:
    """Tenant B as Braze posts: 1,000-event batches back to back, waiting as long as a 429 says."""
    bodies = [_batch(1000) for _ in range(20)]
    headers = {"Authorization": f"Bearer {workspace.token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            response = client.post("/v1/events", content=bodies[len(answers) % len(bodies)], headers=headers)
            answers.append(response.status_code)
            if response.status_code == 429:
                stop.wait(float(response.headers["retry-after"]))


def test_event_batches_at_the_limit_keep_another_tenants_content_latency(
    settings: Settings, store: Store
) -> None:
    tenant_a = make_workspace(store, "tenant-a")
    tenant_b = make_workspace(store, "tenant-b")
    patient = settings.replace(response_budget_ms=10_000.0, journal_after_ms=10_000.0)
    stop = threading.Event()
    answers: list[int] = []
    with (
        ThreadedServer(build_app(patient, store, with_learner=False)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        _content_p50_s(client, tenant_a, "warm", 30)
        idle_s = _content_p50_s(client, tenant_a, "idle", 150)
        poster = threading.Thread(target=_post_at_the_limit, args=(server.url, tenant_b, stop, answers))
        poster.start()
        try:
            time.sleep(0.5)
            loaded_s = _content_p50_s(client, tenant_a, "loaded", 150)
        finally:
            stop.set()
            poster.join()

    assert answers.count(200) >= 3, answers
    assert set(answers) <= {200, 429}
    assert loaded_s <= SLOWDOWN_FACTOR * idle_s, (
        f"idle p50 {idle_s * 1000:.1f} ms, loaded {loaded_s * 1000:.1f} ms"
    )
