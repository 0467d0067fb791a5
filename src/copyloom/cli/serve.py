"""`copyloom serve`, `copyloom worker` and `copyloom learn`: the HTTP API and the background loops."""

from __future__ import annotations

import sys
import time
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any

import click

from copyloom.cli.common import (
    LazyChoice,
    LazyDefault,
    current_settings,
    emit,
    handles_errors,
    json_option,
    ready_store,
)

if TYPE_CHECKING:
    from copyloom.server import ServerName
    from copyloom.settings import Settings
    from copyloom.storage.db import Store


def _server_names() -> Iterable[str]:
    from copyloom.server import SERVER_NAMES

    return SERVER_NAMES


def _default_server() -> str:
    from copyloom.server import DEFAULT_SERVER

    return DEFAULT_SERVER


@click.command()
@click.option(
    "--once", is_flag=True, help="Run one pass and exit (default: loop every COPYLOOM_LEARN_INTERVAL_S)."
)
@click.option("--seed", type=int, default=None, help="Seed the Monte Carlo draws (reproducible weights).")
@json_option
@handles_errors
def learn(once: bool, seed: int | None, as_json: bool) -> None:
    """Recompute the weights of every live experiment, and send the alerts that raises to the tenants'
    webhooks (with --once, each alert's first attempt; looping, retries too)."""
    import asyncio

    import numpy as np

    from copyloom.services import alerts
    from copyloom.services.learning import learn_once
    from copyloom.worker import learner_loop

    settings = current_settings()
    store = ready_store(settings)
    if not once:
        loop = learner_loop(
            store,
            interval_s=settings.learn_interval_s,
            samples=settings.learn_samples,
            clock=time.time,
            seed=seed,
        )
        asyncio.run(_with_delivery(store, settings, loop))
        return
    outcomes = learn_once(store, time.time(), np.random.default_rng(seed), settings.learn_samples)
    with alerts.delivery_client() as client:  # the alerts of this pass get their first attempt now
        alerts.deliver_due(
            store, time.time(), client=client, allow_loopback_http=settings.webhook_allow_loopback_http
        )
    data = [
        {
            "experiment_id": o.experiment_id,
            "weights": o.allocation.weights if o.allocation else None,
            "p_best": o.allocation.p_best if o.allocation else None,
            "winner": o.allocation.winner if o.allocation else None,
            "retired": o.retired,
            "error": o.error,
        }
        for o in outcomes
    ]
    text = "\n".join(f"{d['experiment_id']}: {d['error'] or d['weights']}" for d in data)
    emit(data, as_json, text or "no live experiments")
    if any(o.error for o in outcomes):
        sys.exit(1)


@click.command()
@click.option("--host", default=None, help="Listen address (default: COPYLOOM_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (default: COPYLOOM_PORT).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="API processes. With more than one, run the learner and ingest poller in `copyloom worker`.",
)
@click.option(
    "--server",
    "server_name",
    type=LazyChoice(_server_names),
    default=LazyDefault(_default_server),
    show_default=True,
    help="ASGI server: granian (faster here, see docs/benchmarks.md) or uvicorn.",
)
@click.option("--no-learner", is_flag=True, help="Serve only; run the learner elsewhere (`copyloom worker`).")
@click.option("--no-ingest", is_flag=True, help="Do not poll the tenants' Currents sources here.")
@handles_errors
def serve(
    *,
    host: str | None,
    port: int | None,
    workers: int,
    server_name: ServerName,
    no_learner: bool,
    no_ingest: bool,
) -> None:
    """Run the HTTP API (content endpoint, pixel, events webhook, metrics), with the learner and the
    ingest poller in the same process unless told otherwise."""
    from copyloom.server import run_server

    settings = current_settings()
    ready_store(settings).dispose()  # checks the store is reachable and migrated before workers start
    if workers > 1:
        click.echo(f"{workers} API processes; background loops run in `copyloom worker`", err=True)
    run_server(
        settings,
        server=server_name,
        workers=workers,
        with_learner=not no_learner,
        with_ingest=not no_ingest,
        host=host or settings.host,
        port=port or settings.port,
    )


@click.command()
@handles_errors
def worker() -> None:
    """Run the background loops without the HTTP API: the learner (every COPYLOOM_LEARN_INTERVAL_S) with
    the delivery of its alerts, and the poller of every tenant's Currents source (every
    COPYLOOM_INGEST_INTERVAL_S)."""
    import asyncio

    from copyloom.worker import ingest_loop, learner_loop

    settings = current_settings()
    store = ready_store(settings)

    learner = learner_loop(
        store, interval_s=settings.learn_interval_s, samples=settings.learn_samples, clock=time.time
    )
    ingest = ingest_loop(store, interval_s=settings.ingest_interval_s, clock=time.time)
    asyncio.run(_with_delivery(store, settings, learner, ingest))


async def _with_delivery(store: Store, settings: Settings, *loops: Coroutine[Any, Any, None]) -> None:
    """Run the learner loop (and any others) with the delivery loop of the alerts it raises."""
    import asyncio

    from copyloom.worker import DELIVERY_INTERVAL_S, delivery_loop

    delivery = delivery_loop(
        store,
        interval_s=DELIVERY_INTERVAL_S,
        clock=time.time,
        allow_loopback_http=settings.webhook_allow_loopback_http,
    )
    await asyncio.gather(*loops, delivery)
