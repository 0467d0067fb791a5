"""Send-planner benchmark: what the dashboard's bounded plan costs the event loop of its API process.

    .venv/bin/python benchmarks/planner.py [--audience 1000000] [--variants 4] [--seconds 5]

Measures how late an asyncio task that sleeps 2 ms at a time wakes up: for `--seconds` with nothing
else running; while one bounded plan (`web.dashboard_plan.run_bounded`) runs on a thread of the same
process, which holds Python's interpreter lock part of the time; and while it runs in the dashboard's
worker process (`PlanRunner`, spawned before the measurement). Prints one JSON line with the wake-up
delays (p50, p99, max, in ms) and each plan's seeds and wall time. How long `copyloom plan` itself
takes: time the command (docs/planner.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import anyio.to_thread

from copyloom.simulation.planner import PlanRequest, SendPlan
from copyloom.web.dashboard_plan import DASHBOARD_SEEDS, PlanRunner, run_bounded

_SLEEP_S = 0.002


async def _wake_up_delays_ms(stop: asyncio.Event) -> list[float]:
    delays = []
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(_SLEEP_S)
        delays.append((time.perf_counter() - started - _SLEEP_S) * 1000)
    return sorted(delays)


def _summary(delays: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(delays[len(delays) // 2], 2),
        "p99_ms": round(delays[int(len(delays) * 0.99)], 2),
        "max_ms": round(delays[-1], 1),
    }


async def _probed(work: Callable[[], Awaitable[object]]) -> dict[str, Any]:
    stop = asyncio.Event()
    probe = asyncio.create_task(_wake_up_delays_ms(stop))
    started = time.perf_counter()
    result = await work()
    elapsed_s = time.perf_counter() - started
    stop.set()
    found: dict[str, Any] = _summary(await probe)
    if isinstance(result, SendPlan):
        found |= {"plan_seeds": result.seeds_run, "plan_s": round(elapsed_s, 1)}
    return found


async def _measure(request: PlanRequest, seconds: float) -> dict[str, Any]:
    runner = PlanRunner()
    try:
        await runner.run(replace(request, seeds=1))  # start the worker process outside the measurement
        return {
            "audience": request.audience,
            "variants": request.variants,
            "idle": await _probed(lambda: asyncio.sleep(seconds)),
            "plan_on_thread": await _probed(lambda: anyio.to_thread.run_sync(run_bounded, request)),
            "plan_in_process": await _probed(lambda: runner.run(request)),
        }
    finally:
        runner.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audience", type=int, default=1_000_000)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0, help="How long to probe the idle loop.")
    args = parser.parse_args()
    request = PlanRequest(
        audience=args.audience, variants=args.variants, base_rate=0.03, seeds=DASHBOARD_SEEDS
    )
    print(json.dumps(asyncio.run(_measure(request, args.seconds))))


if __name__ == "__main__":
    main()
