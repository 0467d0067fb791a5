"""The Starlette application: routes, error mapping and background tasks for one API process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from copyloom.services.serving import ServingRuntime
from copyloom.web.dashboard import Dashboard
from copyloom.web.errors import EXCEPTION_HANDLERS
from copyloom.web.limits import RateLimiter
from copyloom.web.metrics import Metrics, MetricsMiddleware
from copyloom.web.openapi import OPENAPI_PATH, openapi_endpoint
from copyloom.web.routes import Endpoints

BackgroundTask = Callable[[], Coroutine[Any, Any, None]]


def create_app(
    runtime: ServingRuntime,
    *,
    public_base_url: str,
    max_body_bytes: int,
    max_events_per_post: int,
    rate_limit_per_s: float,
    rate_limit_burst: int,
    response_budget_ms: float,
    dashboard_session_ttl_s: float,
    background: Sequence[BackgroundTask] = (),
) -> Starlette:
    """Build the ASGI app. `background` coroutines (e.g. the learner loop) run for the app's lifetime.

    Every limit comes from the settings (no defaults here: `settings.py` holds them)."""
    limiter = RateLimiter(rate_limit_per_s, rate_limit_burst)
    metrics = Metrics(runtime.weights_age_s, runtime.journal_stats)
    endpoints = Endpoints(
        runtime,
        public_base_url,
        max_body_bytes,
        max_events_per_post,
        limiter,
        budget_s=response_budget_ms / 1000,
        on_fallback=metrics.fallbacks.inc,
    )
    runtime.writer.on_batch = metrics.batch_size.observe
    routes: list[BaseRoute] = [
        Route("/v1/content/{experiment_id}", endpoints.content, methods=["GET", "POST"]),
        Route("/v1/events", endpoints.events, methods=["POST"]),
        Route("/v1/pixel/{token}.gif", endpoints.pixel, methods=["GET"]),
        Route("/healthz", endpoints.health, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route(OPENAPI_PATH, openapi_endpoint(max_events_per_post=max_events_per_post), methods=["GET"]),
    ]
    dashboard = Dashboard(runtime, public_base_url, dashboard_session_ttl_s)
    routes.extend(dashboard.routes())
    route_of = {route.endpoint: route.path for route in routes if isinstance(route, Route)}
    middleware = [Middleware(MetricsMiddleware, metrics=metrics, route_of=route_of)]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        runtime.start()
        tasks = [asyncio.create_task(task(), name="background") for task in background]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runtime.stop()

    return Starlette(
        routes=routes, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan
    )
