"""Assembling an API process: the app with its runtime and learner, the production server that runs it
(granian or uvicorn, one or more worker processes), and a server on a background thread."""

from __future__ import annotations

import asyncio
import ctypes
import functools
import gc
import logging
import math
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Literal, get_args

import anyio.to_thread
import uvicorn
from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import Server as GranianServer
from starlette.applications import Starlette

from copyloom.errors import StoreUnavailable
from copyloom.services.journal import OutageJournal
from copyloom.services.serving import ServingRuntime
from copyloom.settings import Settings, journal_directory, load_settings
from copyloom.storage.db import Store, open_store
from copyloom.web.app import BackgroundTask, create_app
from copyloom.worker import DELIVERY_INTERVAL_S, delivery_loop, ingest_loop, learner_loop

log = logging.getLogger(__name__)


def build_app(
    settings: Settings,
    store: Store,
    *,
    with_learner: bool,
    with_ingest: bool = False,
    clock: Callable[[], float] = time.time,
    seed: int | None = None,
) -> Starlette:
    """The API app for these settings, with the learner (and the delivery of the alerts it raises) and the
    ingest poller inside when asked, and the outage journal's replay loop always."""
    journal = OutageJournal(journal_directory(settings))
    runtime = ServingRuntime(
        store,
        cache_refresh_s=settings.cache_refresh_s,
        group_commit_window_ms=settings.group_commit_window_ms,
        group_commit_max_batch=settings.group_commit_max_batch,
        cohort_width_s=settings.cohort_width_s,
        recent_assignments_per_experiment=settings.recent_assignments_per_experiment,
        clock=clock,
        journal=journal,
        journal_after_ms=settings.journal_after_ms,
        unknown_ids_remembered=settings.unknown_ids_remembered,
    )
    runtime.attribution_window_s = settings.attribution_window_h * 3600.0 or None
    background: list[BackgroundTask] = [
        functools.partial(journal.replay_loop, store, interval_s=settings.journal_replay_interval_s)
    ]
    if store.checkpoints_in_background:
        background.append(functools.partial(checkpoint_loop, store, interval_s=_CHECKPOINT_INTERVAL_S))
    if with_learner:
        loop = functools.partial(
            learner_loop,
            store,
            interval_s=settings.learn_interval_s,
            samples=settings.learn_samples,
            clock=clock,
            seed=seed,
        )
        background.append(loop)
        deliver = functools.partial(
            delivery_loop,
            store,
            interval_s=DELIVERY_INTERVAL_S,
            clock=clock,
            allow_loopback_http=settings.webhook_allow_loopback_http,
        )
        background.append(deliver)
    if with_ingest:
        background.append(
            functools.partial(ingest_loop, store, interval_s=settings.ingest_interval_s, clock=clock)
        )
    return create_app(
        runtime,
        public_base_url=settings.public_base_url,
        max_body_bytes=settings.max_body_bytes,
        max_events_per_post=settings.max_events_per_post,
        rate_limit_per_s=settings.rate_limit_per_s,
        rate_limit_burst=settings.rate_limit_burst,
        event_rate_limit_per_s=settings.event_rate_limit_per_s,
        event_rate_limit_burst=settings.event_rate_limit_burst,
        event_batches_in_flight=settings.event_batches_in_flight,
        response_budget_ms=settings.response_budget_ms,
        dashboard_session_ttl_s=settings.dashboard_session_ttl_s,
        metrics_token=settings.metrics_token,
        metrics_experiment_labels=settings.metrics_experiment_labels,
        sign_in_free_failures=settings.sign_in_free_failures,
        sign_in_max_wait_s=settings.sign_in_max_wait_s,
        sign_in_throttle_max_keys=settings.sign_in_throttle_max_keys,
        body_read_timeout_s=settings.body_read_timeout_s,
        background=background,
    )


def app_for_workers() -> Starlette:
    """The app each of `copyloom serve --workers N` processes builds for itself (a uvicorn factory).

    Worker processes run no background loops: the learner and the ingest poller run once, in
    `copyloom worker`, not N times.
    """
    settings = load_settings()
    store = open_store(settings.database_url, background_checkpoint=True)
    app = build_app(settings, store, with_learner=False, with_ingest=False)
    freeze_startup_heap()
    return app


ServerName = Literal["granian", "uvicorn"]
SERVER_NAMES: tuple[str, ...] = get_args(ServerName)
DEFAULT_SERVER: ServerName = "granian"
_BACKLOG = 2048


def run_server(
    settings: Settings,
    *,
    server: ServerName,
    workers: int,
    with_learner: bool,
    with_ingest: bool,
    host: str,
    port: int,
) -> None:
    """Serve the API until stopped, in `workers` processes of the named server.

    One worker builds the app with the background loops it is asked for; several build it without them
    (the learner and the ingest poller then run once, in `copyloom worker`, not N times).
    """
    if workers > 1:
        with_learner = with_ingest = False
    build = functools.partial(_app_in_worker, settings, with_learner=with_learner, with_ingest=with_ingest)
    log_level = settings.log_level.lower()
    timeout_s = settings.header_read_timeout_s
    if server == "granian":
        _run_granian(
            build, workers=workers, host=host, port=port, log_level=log_level, header_timeout_s=timeout_s
        )
    elif workers > 1:
        uvicorn.run(
            "copyloom.server:app_for_workers",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level=log_level,
            backlog=_BACKLOG,
            timeout_keep_alive=math.ceil(timeout_s),
        )
    else:
        uvicorn.run(
            build(),
            host=host,
            port=port,
            log_level=log_level,
            backlog=_BACKLOG,
            timeout_keep_alive=math.ceil(timeout_s),
        )


def _app_in_worker(settings: Settings, *, with_learner: bool, with_ingest: bool) -> Starlette:
    store = open_store(settings.database_url, background_checkpoint=True)
    app = build_app(settings, store, with_learner=with_learner, with_ingest=with_ingest)
    freeze_startup_heap()
    return app


def freeze_startup_heap() -> None:
    """Keep the cyclic garbage collector off the request path of a serving process.

    Python's collector walks every tracked object in the generations it collects; a full collection
    over a started app (SQLAlchemy, Starlette, scipy: hundreds of thousands of objects) stops every
    request for tens of milliseconds, which was most of the content endpoint's p99. `gc.freeze` moves
    what start-up built, which lives as long as the process, out of the collector's sight, and a larger
    first-generation threshold makes the remaining collections rarer. Cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_GEN0_THRESHOLD, _GC_OLDER_THRESHOLD, _GC_OLDER_THRESHOLD)


_GC_GEN0_THRESHOLD = 50_000  # allocations between young collections (CPython's default: 700)
_GC_OLDER_THRESHOLD = 20  # young collections per older one (default: 10)


async def checkpoint_loop(store: Store, *, interval_s: float) -> None:
    """Checkpoint the SQLite WAL every `interval_s`, in a thread, off the request path (see `open_store`)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await anyio.to_thread.run_sync(store.checkpoint)
        except StoreUnavailable as exc:  # e.g. the disk is gone: the journal takes over; try again later
            log.warning("WAL checkpoint failed: %s", exc.message)


_CHECKPOINT_INTERVAL_S = 1.0


def _run_granian(
    build: Callable[[], Starlette],
    *,
    workers: int,
    host: str,
    port: int,
    log_level: str,
    header_timeout_s: float,
) -> None:
    def load_in_worker(_target: str) -> Starlette:
        _die_with_parent()
        return build()

    granian = GranianServer(
        "copyloom",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        backlog=_BACKLOG,
        log_level=LogLevels(log_level),
        http1_settings=HTTP1Settings(header_read_timeout=round(header_timeout_s * 1000)),
    )
    granian.serve(target_loader=load_in_worker)


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its supervisor dies, even by SIGKILL: an orphaned worker would
    go on answering on the port with nobody to stop it."""
    if sys.platform != "linux":
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ThreadedServer:
    """A real uvicorn server on a loopback port, run on a thread (for the demo and the tests).

    Use as a context manager: entering waits until the server accepts connections.
    """

    def __init__(self, app: Starlette, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="copyloom-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
