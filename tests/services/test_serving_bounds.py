"""A serving worker's memory is bounded whatever ids a tenant makes up, and one tenant's flood of unknown
experiment ids never stops the refresher that brings every other tenant's changes (finding 5)."""

from __future__ import annotations

import asyncio
import time

from copyloom.errors import NotFound, Unauthorized
from copyloom.services import experiments
from copyloom.services.expiring import ExpiringKeys
from copyloom.services.serving import ServingRuntime
from tests.helpers import Workspace, make_workspace

_BOUND = 500
_REFRESH_S = 0.2
_FLOOD = 10_000  # distinct unknown ids: twenty times the bound
# The pause must show within a refresh interval, plus the time a loaded test machine takes for one
# refresh while the flood's store reads hold the worker's threads.
_PAUSE_SEEN_WITHIN_S = _REFRESH_S + 1.0


def runtime_for(workspace: Workspace, refresh_s: float = _REFRESH_S) -> ServingRuntime:
    return ServingRuntime(
        workspace.store,
        cache_refresh_s=refresh_s,
        group_commit_window_ms=1,
        group_commit_max_batch=64,
        cohort_width_s=60,
        recent_assignments_per_experiment=1000,
        journal_after_ms=1000.0,
        unknown_ids_remembered=_BOUND,
    )


def test_expiring_keys_stay_within_their_bound_after_100_000_distinct_keys() -> None:
    now = [0.0]
    keys = ExpiringKeys(1000, ttl_s=10.0, clock=lambda: now[0])

    for i in range(100_000):
        keys.add(f"ex_{i}")
        assert len(keys) <= 1000

    assert "ex_99999" in keys
    assert "ex_0" not in keys
    now[0] = 10.0
    assert "ex_99999" not in keys, "expired after ttl_s"
    keys.add("ex_new")
    assert len(keys) == 1, "expired keys are dropped as new ones come"


def test_a_flood_of_unknown_ids_stays_bounded_and_another_tenants_pause_gets_through(
    workspace: Workspace,
) -> None:
    flooder = make_workspace(workspace.store, "globex")

    async def run() -> tuple[float, int, int, int]:
        runtime = runtime_for(workspace)
        runtime.start()
        acme = await runtime.authenticate(workspace.token)
        globex = await runtime.authenticate(flooder.token)
        await runtime.serve(acme, workspace.experiment_id, "r1", "d")
        largest = 0
        paused_at = seen_at = 0.0

        async def unknown(i: int) -> None:
            try:
                await runtime.serve(globex, f"ex_made_up_{i}", "r", "d")
            except NotFound:
                return
            raise AssertionError("a made-up id was served")

        for start in range(0, _FLOOD, 200):
            await asyncio.gather(*(unknown(i) for i in range(start, start + 200)))
            largest = max(largest, len(runtime.unknown_experiments))
            if start == _FLOOD // 2:
                experiments.change_status(workspace.store, workspace.experiment_id, "pause", time.time())
                paused_at = time.monotonic()
            if paused_at and not seen_at:
                served = await runtime.serve(acme, workspace.experiment_id, "r2", "d")
                if served.pixel_token is None:  # paused: the control, without an assignment
                    seen_at = time.monotonic()
        while not seen_at and time.monotonic() - paused_at < 10:
            served = await runtime.serve(acme, workspace.experiment_id, "r2", "d")
            seen_at = time.monotonic() if served.pixel_token is None else 0.0
            await asyncio.sleep(0.01)
        sizes = runtime.cache_sizes()
        await runtime.stop()
        return seen_at - paused_at, largest, sizes["experiments"], runtime.refresh_stats().failures

    delay_s, largest, cached, failures = asyncio.run(run())

    assert delay_s <= _PAUSE_SEEN_WITHIN_S, f"the pause reached the worker after {delay_s:.2f} s"
    assert largest <= _BOUND
    assert cached == 1, "only the experiment that exists is kept and refreshed"
    assert failures == 0


def test_made_up_tokens_stay_within_the_bound(workspace: Workspace) -> None:
    async def run() -> dict[str, int]:
        runtime = runtime_for(workspace, refresh_s=60.0)
        for i in range(1_000):
            try:
                await runtime.authenticate(f"made-up-{i}")
            except Unauthorized:
                continue
        return runtime.cache_sizes()

    sizes = asyncio.run(run())

    assert sizes["unknown_tokens"] == _BOUND
    assert sizes["tenants"] == 0
