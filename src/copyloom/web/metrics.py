"""`GET /metrics` in Prometheus format, for an operator only: requests by route and status, latency,
group-commit batch sizes, the age of the weights this worker holds (the oldest, or per live experiment
when the operator opts in to experiment labels), and its outage journal."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from copyloom.errors import Unauthorized
from copyloom.services.health import CHECK_NAMES, VERDICTS
from copyloom.services.journal import JournalStats
from copyloom.services.serving import RefreshStats
from copyloom.web.requests import bearer_token

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """One registry per app, so that tests and several apps in one process never share counters."""

    def __init__(
        self,
        weights_age_s: Callable[[], Mapping[str, float]],
        journal_stats: Callable[[], JournalStats | None] = lambda: None,
        refresh_stats: Callable[[], RefreshStats] | None = None,
        *,
        experiment_labels: bool = False,
        health_counts: Callable[[], Mapping[tuple[str, str], int]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "copyloom_http_requests",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "copyloom_http_request_seconds",
            "Time to answer, by route",
            ["route"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "copyloom_group_commit_batch_size",
            "Assignments per group-commit transaction",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "copyloom_content_budget_fallbacks",
            "Content answers that ran out of budget and served the control",
            registry=self.registry,
        )
        self.other_sources = Counter(
            "copyloom_content_other_source_answers",
            "Content calls from a campaign or Canvas step the experiment does not name (control, unassigned)",
            registry=self.registry,
        )
        self.refused_rows = Counter(
            "copyloom_store_refused_rows",
            "Rows the store refused for what they hold (not an outage), answered or skipped on their own",
            ["path"],
            registry=self.registry,
        )
        self.registry.register(_WeightsAge(weights_age_s, experiment_labels))
        if health_counts is not None:
            self.registry.register(_Health(health_counts))
        self.registry.register(_Journal(journal_stats))
        if refresh_stats is not None:
            self.registry.register(_Refresh(refresh_stats))

    async def endpoint(self, _request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE)


def operator_only(
    endpoint: Callable[[Request], Awaitable[Response]], token: str
) -> Callable[[Request], Awaitable[Response]]:
    """`endpoint` behind the operator's metrics token (bearer auth, compared in constant time)."""
    expected = token.encode()

    async def guarded(request: Request) -> Response:
        given = bearer_token(request)
        if not given or not secrets.compare_digest(given.encode(), expected):
            raise Unauthorized("Authorization: missing or wrong metrics token")
        return await endpoint(request)

    return guarded


class _Health(Collector):
    """Live experiments by health check and verdict (labels from closed sets: bounded)."""

    def __init__(self, health_counts: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        self._health_counts = health_counts

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            "copyloom_experiments_health",
            "Live experiments by the verdict of each health check at the learner's latest look",
            labels=["check", "verdict"],
        )
        counts = self._health_counts()
        for check in CHECK_NAMES:
            for verdict in VERDICTS:
                gauge.add_metric([check, verdict], counts.get((check, verdict), 0))
        yield gauge


class _WeightsAge(Collector):
    """The oldest served weights' age; per experiment (an `experiment_id` label) only if opted in, as
    experiment ids are the tenants' business."""

    def __init__(self, weights_age_s: Callable[[], Mapping[str, float]], experiment_labels: bool) -> None:
        self._weights_age_s = weights_age_s
        self._experiment_labels = experiment_labels

    def collect(self) -> Iterable[Metric]:
        ages = self._weights_age_s()
        yield GaugeMetricFamily(
            "copyloom_weights_age_max_seconds",
            "Seconds since the learner computed the oldest weights this worker serves (0: none live)",
            value=max(ages.values(), default=0.0),
        )
        if not self._experiment_labels:
            return
        gauge = GaugeMetricFamily(
            "copyloom_weights_age_seconds",
            "Seconds since the learner computed the weights this worker serves, per live experiment",
            labels=["experiment_id"],
        )
        for experiment_id, age in sorted(ages.items()):
            gauge.add_metric([experiment_id], age)
        yield gauge


class _Journal(Collector):
    def __init__(self, journal_stats: Callable[[], JournalStats | None]) -> None:
        self._journal_stats = journal_stats

    def collect(self) -> Iterable[Metric]:
        stats = self._journal_stats()
        if stats is None:
            return
        yield GaugeMetricFamily(
            "copyloom_store_degraded", "1 while this worker cannot reach the store", value=int(stats.degraded)
        )
        yield GaugeMetricFamily(
            "copyloom_journal_depth",
            "Assignments this worker journalled that are not yet replayed into the store",
            value=stats.depth,
        )
        counters = (
            (
                "copyloom_journal_appended",
                "Assignments journalled while the store was unreachable",
                stats.journalled,
            ),
            ("copyloom_journal_replayed", "Journalled assignments replayed into the store", stats.replayed),
            (
                "copyloom_journal_replay_conflicts",
                "Journalled assignments dropped on replay: the store held another variant for the key",
                stats.conflicts,
            ),
            (
                "copyloom_journal_refused",
                "Journalled assignments the store refused for what they hold, dropped on replay",
                stats.refused,
            ),
            (
                "copyloom_journal_bad_lines",
                "Torn or corrupt journal lines skipped on replay",
                stats.bad_lines,
            ),
        )
        for name, help_text, value in counters:
            yield CounterMetricFamily(name, help_text, value=value)


UNMATCHED_ROUTE = "unmatched"
OTHER_METHOD = "other"


class _Refresh(Collector):
    def __init__(self, refresh_stats: Callable[[], RefreshStats]) -> None:
        self._refresh_stats = refresh_stats

    def collect(self) -> Iterable[Metric]:
        stats = self._refresh_stats()
        yield CounterMetricFamily(
            "copyloom_cache_refresh_failures",
            "Refreshes of this worker's token and experiment caches that failed",
            value=stats.failures,
        )
        yield GaugeMetricFamily(
            "copyloom_cache_refresh_age_seconds",
            "Seconds since this worker's caches were last refreshed from the store (or since start)",
            value=stats.age_s,
        )


class MetricsMiddleware:
    """Counts and times every request by its route template (never by its raw path: no ids in labels).

    Every label comes from a closed set, so that no client can grow `/metrics` or the process's memory:
    the route is a template of the app's or `unmatched`, the method one the app routes or `other`, the
    status an HTTP status code (100-599).
    """

    def __init__(
        self, app: ASGIApp, metrics: Metrics, route_of: Mapping[Any, str], methods: Iterable[str]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.route_of = route_of
        self.methods = frozenset(methods)
        # The labelled children, looked up once per route, method and status rather than per request.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = self.route_of.get(scope.get("endpoint"), UNMATCHED_ROUTE)
            method = scope["method"] if scope["method"] in self.methods else OTHER_METHOD
            key = (route, method, status)
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = (
                    self.metrics.requests.labels(route, method, str(status)),
                    self.metrics.latency.labels(route),
                )
            children[0].inc()
            children[1].observe(time.perf_counter() - started)
