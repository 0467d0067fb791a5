"""Assembling an API process: the app with its runtime and learner, and a server on a background thread."""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from copyloom.services.journal import OutageJournal
from copyloom.services.serving import ServingRuntime
from copyloom.settings import Settings, journal_directory, load_settings
from copyloom.storage.db import Store, open_store
from copyloom.web.app import BackgroundTask, create_app
from copyloom.worker import ingest_loop, learner_loop


def build_app(
    settings: Settings,
    store: Store,
    *,
    with_learner: bool,
    with_ingest: bool = False,
    clock: Callable[[], float] = time.time,
    seed: int | None = None,
) -> Starlette:
    """The API app for these settings, with the learner and the ingest poller inside when asked, and the
    outage journal's replay loop always."""
    journal = OutageJournal(journal_directory(settings))
    runtime = ServingRuntime(
        store,
        cache_refresh_s=settings.cache_refresh_s,
        group_commit_window_ms=settings.group_commit_window_ms,
        group_commit_max_batch=settings.group_commit_max_batch,
        cohort_width_s=settings.cohort_width_s,
        clock=clock,
        journal=journal,
        journal_after_ms=settings.journal_after_ms,
    )
    background: list[BackgroundTask] = [
        functools.partial(journal.replay_loop, store, interval_s=settings.journal_replay_interval_s)
    ]
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
        response_budget_ms=settings.response_budget_ms,
        dashboard_session_ttl_s=settings.dashboard_session_ttl_s,
        background=background,
    )


def app_for_workers() -> Starlette:
    """The app each of `copyloom serve --workers N` processes builds for itself (a uvicorn factory).

    Worker processes run no background loops: the learner and the ingest poller run once, in
    `copyloom worker`, not N times.
    """
    settings = load_settings()
    return build_app(settings, open_store(settings.database_url), with_learner=False, with_ingest=False)


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
