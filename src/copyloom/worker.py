"""Background loops: the learner and the Currents ingest poller, run by `serve` or `worker`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import anyio.to_thread
import numpy as np

from copyloom.services.ingestion import poll_sources
from copyloom.services.learning import LearnOutcome, learn_once
from copyloom.storage.db import Store

log = logging.getLogger(__name__)


async def learner_loop(
    store: Store,
    *,
    interval_s: float,
    samples: int,
    clock: Callable[[], float],
    seed: int | None = None,
    on_pass: Callable[[list[LearnOutcome]], None] | None = None,
) -> None:
    """Recompute every live experiment's weights every `interval_s` seconds, until cancelled.

    A failing pass (e.g. the store is down) is logged and retried at the next interval.
    """
    rng = np.random.default_rng(seed)
    while True:
        try:
            outcomes = await anyio.to_thread.run_sync(learn_once, store, clock(), rng, samples)
        except Exception:  # the loop must outlive a store outage
            log.exception("learner pass failed")
        else:
            if on_pass is not None:
                on_pass(outcomes)
        await asyncio.sleep(interval_s)


async def ingest_loop(store: Store, *, interval_s: float, clock: Callable[[], float]) -> None:
    """Poll every tenant's stored Currents source every `interval_s` seconds, until cancelled."""
    while True:
        try:
            await anyio.to_thread.run_sync(poll_sources, store, clock)
        except Exception:  # the loop must outlive a store outage
            log.exception("ingest pass failed")
        await asyncio.sleep(interval_s)
