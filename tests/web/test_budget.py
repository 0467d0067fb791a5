"""The response budget: when the store is stuck, the control goes out in time and the fallback is counted."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from copyloom.server import ThreadedServer, build_app
from copyloom.settings import Settings
from copyloom.storage.db import Store
from tests.helpers import METRICS_HEADERS, Workspace, make_workspace


@pytest.fixture
def budget_api(settings: Settings, store: Store) -> Iterator[tuple[httpx.Client, Workspace]]:
    workspace = make_workspace(store, "acme")
    # The journal threshold past the budget: this is the fallback of a store that is slow, not gone.
    tight = settings.replace(response_budget_ms=300.0, cache_refresh_s=60.0, journal_after_ms=5000.0)
    with (
        ThreadedServer(build_app(tight, store, with_learner=False)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield client, workspace


def test_a_stuck_store_gets_the_control_within_the_budget(budget_api: tuple[httpx.Client, Workspace]) -> None:
    client, workspace = budget_api
    headers = {"Authorization": f"Bearer {workspace.token}"}
    url = f"/v1/content/{workspace.experiment_id}"
    client.get(url, params={"recipient": "warm-up"}, headers=headers)  # caches the token and experiment

    with workspace.store.write() as conn:  # a real lock held by another writer: the commit must wait
        if not workspace.store.is_sqlite:
            conn.exec_driver_sql("LOCK TABLE assignments IN EXCLUSIVE MODE")
        started = time.monotonic()
        response = client.get(url, params={"recipient": "u-1"}, headers=headers)
        elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert response.json()["variant_id"] == "control"
    assert response.json()["pixel_url"].endswith("/v1/pixel/-.gif")
    assert elapsed < 1.5
    assert (
        "copyloom_content_budget_fallbacks_total 1.0"
        in client.get("/metrics", headers=METRICS_HEADERS).text.splitlines()
    )
