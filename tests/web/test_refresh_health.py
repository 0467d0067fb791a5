"""A cache refresh that fails shows in `/healthz` (degraded, with its reason) and in `/metrics`, and the
refresher recovers once the store answers again (finding 5)."""

from __future__ import annotations

import time
from collections.abc import Callable

from copyloom.storage.db import Store
from tests.helpers import METRICS_HEADERS, Api, Workspace


def _rename(store: Store, old: str, new: str) -> None:
    with store.write() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")


def _metric(api: Api, name: str) -> float:
    lines = api.client.get("/metrics", headers=METRICS_HEADERS).text.splitlines()
    return float(next(line for line in lines if line.startswith(name + " ")).split()[-1])


def _wait_for(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def test_a_failing_refresh_turns_healthz_degraded_and_counts_in_metrics(
    api: Api, workspace: Workspace
) -> None:
    assert api.content(workspace.token, workspace.experiment_id, recipient="u").status_code == 200
    assert api.client.get("/healthz").json() == {"status": "ok"}

    # A statement the store refuses: every refresh fails until the table is back.
    _rename(workspace.store, "experiments", "experiments_away")
    try:
        _wait_for(lambda: bool(api.client.get("/healthz").json()["status"] == "degraded"))
        health = api.client.get("/healthz").json()
        assert health["cache_refresh"], health
        assert health["cache_age_s"] >= 0
        assert _metric(api, "copyloom_cache_refresh_failures_total") >= 1
        assert api.content(workspace.token, workspace.experiment_id, recipient="u").status_code == 200
    finally:
        _rename(workspace.store, "experiments_away", "experiments")

    _wait_for(lambda: bool(api.client.get("/healthz").json() == {"status": "ok"}))
    assert _metric(api, "copyloom_cache_refresh_age_seconds") < 5
