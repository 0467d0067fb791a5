"""Background loops: the learner, the Currents ingest poller and the alerts' delivery, run by `serve` or
`worker`."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import anyio.to_thread
import numpy as np

from copyloom.domain.alerts import DEFAULT_SCHEDULE, RetrySchedule
from copyloom.services.alerts import deliver_due, delivery_client
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


async def delivery_loop(
    store: Store,
    *,
    interval_s: float,
    clock: Callable[[], float],
    allow_loopback_http: bool,
    schedule: RetrySchedule = DEFAULT_SCHEDULE,
) -> None:
    """POST the alerts due to tenants' webhooks every `interval_s` seconds, until cancelled."""
    rng = random.Random()  # noqa: S311 - retry jitter, not a secret
    with delivery_client() as client:
        while True:
            try:
                await anyio.to_thread.run_sync(
                    lambda: deliver_due(
                        store,
                        clock(),
                        client=client,
                        allow_loopback_http=allow_loopback_http,
                        schedule=schedule,
                        rng=rng,
                    )
                )
            except Exception:  # the loop must outlive a store outage
                log.exception("alert delivery pass failed")
            await asyncio.sleep(interval_s)


DELIVERY_INTERVAL_S = 2.0
"""Seconds between looks for due alerts: well under the first retry's 5 s."""
