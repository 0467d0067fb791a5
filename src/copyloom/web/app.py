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
from copyloom.web.dashboard_throttle import SignInThrottle
from copyloom.web.errors import EXCEPTION_HANDLERS
from copyloom.web.limits import RateLimiter
from copyloom.web.management import ManagementApi
from copyloom.web.metrics import Metrics, MetricsMiddleware, operator_only
from copyloom.web.openapi import OPENAPI_PATH, openapi_endpoint
from copyloom.web.routes import Endpoints
from copyloom.web.timeouts import BodyReadTimeout

BackgroundTask = Callable[[], Coroutine[Any, Any, None]]


def create_app(
    runtime: ServingRuntime,
    *,
    public_base_url: str,
    max_body_bytes: int,
    max_events_per_post: int,
    rate_limit_per_s: float,
    rate_limit_burst: int,
    event_rate_limit_per_s: float,
    event_rate_limit_burst: int,
    event_batches_in_flight: int,
    response_budget_ms: float,
    dashboard_session_ttl_s: float,
    metrics_token: str,
    metrics_experiment_labels: bool,
    sign_in_free_failures: int,
    sign_in_max_wait_s: float,
    sign_in_throttle_max_keys: int,
    body_read_timeout_s: float,
    background: Sequence[BackgroundTask] = (),
) -> Starlette:
    """Build the ASGI app. `background` coroutines (e.g. the learner loop) run for the app's lifetime.

    Every limit comes from the settings (no defaults here: `settings.py` holds them). `/metrics` exists
    only with a `metrics_token` (without one it answers 404 like any unknown path)."""
    limiter = RateLimiter(rate_limit_per_s, rate_limit_burst)
    metrics = Metrics(
        runtime.weights_age_s,
        runtime.journal_stats,
        runtime.refresh_stats,
        experiment_labels=metrics_experiment_labels,
        health_counts=runtime.health_counts,
    )
    endpoints = Endpoints(
        runtime,
        public_base_url,
        max_body_bytes,
        max_events_per_post,
        limiter,
        RateLimiter(event_rate_limit_per_s, event_rate_limit_burst, unit="events"),
        asyncio.Semaphore(event_batches_in_flight),
        budget_s=response_budget_ms / 1000,
        on_fallback=metrics.fallbacks.inc,
    )
    runtime.writer.on_batch = metrics.batch_size.observe
    runtime.on_refused = lambda path, rows: metrics.refused_rows.labels(path=path).inc(rows)
    runtime.on_other_source = metrics.other_sources.inc
    routes: list[BaseRoute] = [
        Route("/v1/content/{experiment_id}", endpoints.content, methods=["GET", "POST"]),
        Route("/v1/events", endpoints.events, methods=["POST"]),
        Route("/v1/pixel/{token}.gif", endpoints.pixel, methods=["GET"]),
        Route("/healthz", endpoints.health, methods=["GET"]),
        Route(OPENAPI_PATH, openapi_endpoint(max_events_per_post=max_events_per_post), methods=["GET"]),
    ]
    management = ManagementApi(runtime, RateLimiter(rate_limit_per_s, rate_limit_burst), max_body_bytes)
    routes.extend(management.routes())
    if metrics_token:
        routes.append(Route("/metrics", operator_only(metrics.endpoint, metrics_token), methods=["GET"]))
    throttle = SignInThrottle(sign_in_free_failures, sign_in_max_wait_s, sign_in_throttle_max_keys)
    dashboard = Dashboard(runtime, public_base_url, dashboard_session_ttl_s, throttle)
    routes.extend(dashboard.routes())
    served = [route for route in routes if isinstance(route, Route)]
    route_of = {route.endpoint: route.path for route in served}
    methods = {method for route in served for method in route.methods or ()}
    middleware = [
        Middleware(MetricsMiddleware, metrics=metrics, route_of=route_of, methods=methods),
        Middleware(BodyReadTimeout, timeout_s=body_read_timeout_s),
    ]

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
            dashboard.planner.close()

    return Starlette(
        routes=routes, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan
    )
