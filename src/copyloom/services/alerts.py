"""Alerts by signed webhooks: tenants register URLs; events go to an outbox in the store, in the same
transaction as what they report, and a delivery loop POSTs them signed by Standard Webhooks (its
`standardwebhooks` package), retrying with backoff, at least once, under the same `webhook-id`.

A check that wants to alert calls `notify(conn_or_store, tenant_id, event_type, data, now)`; payloads
carry ids, names and counts only: never a recipient, even pseudonymised, nor a wording's text.
"""

from __future__ import annotations

import base64
import logging
import random
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.engine import Connection
from standardwebhooks import Webhook as Signer

from copyloom import __version__
from copyloom.domain.alerts import (
    DEFAULT_SCHEDULE,
    EVENT_ID_PREFIX,
    EVENT_TYPES,
    MAX_WEBHOOKS_PER_TENANT,
    SECRET_PREFIX,
    WEBHOOK_NAME,
    EventType,
    RetrySchedule,
    Webhook,
    check_webhook_url,
    envelope,
    is_loopback_host,
    is_public_address,
)
from copyloom.domain.values import Experiment, Tenant, TenantId, VariantId
from copyloom.engine import Allocation, Cohort
from copyloom.errors import Conflict, InvalidInput, NotFound
from copyloom.services.health import HealthCheck
from copyloom.storage import alerts as repo
from copyloom.storage import tenants as tenant_repo
from copyloom.storage.assignments import CohortCount, cohort_counts
from copyloom.storage.db import Store
from copyloom.storage.guardrails import StoredBreach

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
RESPONSE_TIMEOUT_S = 10.0
LEASE_S = 120.0
"""How long a claimed delivery is hidden from other senders: far past one POST's timeouts."""
DELIVERIES_PER_PASS = 50
MAX_ERROR_CHARS = 300


def add_webhook(
    store: Store, tenant_name: str, name: str, url: str, now: float, *, allow_loopback_http: bool
) -> Webhook:
    """Register a URL to receive the tenant's alerts, with a new signing secret.

    Returns:
        The webhook with its secret (`whsec_…`), which the caller shows this once.

    Raises:
        InvalidInput: a bad name or URL (see `check_webhook_url`), naming the field.
        NotFound: no such tenant.
        Conflict: the name is taken, or the tenant has `MAX_WEBHOOKS_PER_TENANT` already.
    """
    if not WEBHOOK_NAME.match(name):
        raise InvalidInput(
            "webhook: use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    checked = check_webhook_url(url, allow_loopback_http=allow_loopback_http)
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    with store.write() as conn:
        tenant = _tenant(conn, tenant_name)
        existing = repo.active_webhooks(conn, tenant.tenant_id)
        if any(w.name == name for w in existing):
            raise Conflict(f"webhook: {tenant_name} already has a webhook named '{name}'")
        if len(existing) >= MAX_WEBHOOKS_PER_TENANT:
            raise Conflict(f"webhook: a tenant may have at most {MAX_WEBHOOKS_PER_TENANT} webhooks")
        webhook = Webhook("wh_" + secrets.token_hex(8), tenant.tenant_id, name, checked, secret, now)
        repo.insert_webhook(conn, webhook)
    return webhook


def list_webhooks(store: Store, tenant_name: str) -> list[Webhook]:
    """The tenant's webhooks in service, by name."""
    with store.read() as conn:
        return repo.active_webhooks(conn, _tenant(conn, tenant_name).tenant_id)


def remove_webhook(store: Store, tenant_name: str, webhook_name: str, now: float) -> None:
    """Take a webhook out of service; its pending deliveries are given up, the log keeps them."""
    with store.write() as conn:
        webhook = _webhook(conn, _tenant(conn, tenant_name), webhook_name)
        repo.disable_webhook(conn, webhook.webhook_id, now)


def deliveries(store: Store, tenant_name: str, limit: int) -> list[tuple[repo.Delivery, list[repo.Attempt]]]:
    """The tenant's newest deliveries, each with its attempts in order."""
    with store.read() as conn:
        found = repo.recent_deliveries(conn, _tenant(conn, tenant_name).tenant_id, limit)
        attempts = repo.attempts_of(conn, [d.delivery_id for d in found])
    return [(d, attempts[d.delivery_id]) for d in found]


def send_test(store: Store, tenant_name: str, webhook_name: str, now: float) -> str:
    """Put a `webhook.test` event in the outbox of one webhook; returns its event id (`webhook-id`)."""
    with store.write() as conn:
        tenant = _tenant(conn, tenant_name)
        webhook = _webhook(conn, tenant, webhook_name)
        data = {"webhook": webhook.name, "tenant": tenant.name}
        event_id = new_event_id()
        payload = envelope("webhook.test", data, now)
        repo.enqueue(
            conn,
            tenant.tenant_id,
            event_id,
            event_type="webhook.test",
            payload_json=payload,
            webhook_ids=[webhook.webhook_id],
            now=now,
        )
    return event_id


def notify(
    target: Store | Connection, tenant_id: TenantId, event_type: EventType, data: dict[str, Any], now: float
) -> str | None:
    """Alert every webhook of the tenant: one event in the outbox per webhook, delivered by the loop.

    Given a connection, the event is written in its transaction (it is sent only if that commits).

    Args:
        data: the event's `data`: ids, names, numbers; never personal data (it is sent as it is).

    Returns:
        The event id (`webhook-id`), or None when the tenant has no webhook.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    if isinstance(target, Store):
        with target.write() as conn:
            return notify(conn, tenant_id, event_type, data, now)
    webhook_ids = [w.webhook_id for w in repo.active_webhooks(target, tenant_id)]
    if not webhook_ids:
        return None
    event_id = new_event_id()
    payload = envelope(event_type, data, now)
    repo.enqueue(
        target,
        tenant_id,
        event_id,
        event_type=event_type,
        payload_json=payload,
        webhook_ids=webhook_ids,
        now=now,
    )
    return event_id


def new_event_id() -> str:
    return EVENT_ID_PREFIX + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class PassOutcome:
    """What one experiment's learner pass did, as alerts need it (see `learning.LearnOutcome`)."""

    experiment: Experiment
    allocation: Allocation | None
    error: str | None
    retired: VariantId | None
    health: tuple[HealthCheck, ...] = ()
    breaches: tuple[StoredBreach, ...] = ()


def alert_learn_pass(
    store: Store,
    outcomes: Sequence[PassOutcome],
    now: float,
    cohorts_for: Callable[[Experiment, Sequence[CohortCount]], list[Cohort]],
) -> None:
    """Alert what a learner pass found: a winner declared (once per experiment and winner), a variant
    retired by the `auto_retire` rule, a learner failure (once until the experiment learns again).

    Never raises: an alert that cannot be written is logged, and the learner goes on.
    """
    if not outcomes:
        return
    try:
        with store.write() as conn:
            recovered = [o.experiment.experiment_id for o in outcomes if o.error is None]
            repo.forget_alerted(conn, recovered, "experiment.learner_failed")
            for outcome in outcomes:
                _alert_outcome(conn, outcome, now, cohorts_for)
    except Exception:  # isolate: alerts never stop the learner
        log.exception("alerts of the learner pass could not be written")


def _alert_outcome(
    conn: Connection,
    outcome: PassOutcome,
    now: float,
    cohorts_for: Callable[[Experiment, Sequence[CohortCount]], list[Cohort]],
) -> None:
    experiment = outcome.experiment
    about: dict[str, Any] = {
        "experiment_id": experiment.experiment_id,
        "experiment_name": experiment.definition.name,
    }
    if outcome.error is not None:
        error_class, _, message = outcome.error.partition(": ")
        if repo.mark_alerted(
            conn, experiment.experiment_id, "experiment.learner_failed", error_class[:64], now
        ):
            data = {**about, "error_class": error_class, "message": first_line(message)}
            notify(conn, experiment.tenant_id, "experiment.learner_failed", data, now)
        return
    allocation = outcome.allocation
    if allocation is None:
        return
    _alert_health(conn, outcome, about, now)
    for breach in outcome.breaches:  # recorded once each, so alerted once each
        data = {
            **about,
            "variant_id": breach.variant_id,
            "metric": breach.metric,
            "variant_rate": breach.variant_rate,
            "control_rate": breach.control_rate,
            "variant_sends": breach.variant_sends,
            "control_sends": breach.control_sends,
            "probability": breach.probability,
            "margin": breach.margin,
            "action": breach.action,
        }
        notify(conn, experiment.tenant_id, "experiment.guardrail_breached", data, now)
    if outcome.retired is not None and experiment.definition.auto_retire is not None:
        rule = experiment.definition.auto_retire
        if repo.mark_alerted(
            conn, experiment.experiment_id, "experiment.variant_retired", outcome.retired, now
        ):
            data = {
                **about,
                "variant_id": outcome.retired,
                "retired_by": "auto",
                "p_best": allocation.p_best.get(outcome.retired),
                "rule": {
                    "p_best_below": rule.p_best_below,
                    "for_hours": rule.for_hours,
                    "min_sends": rule.min_sends,
                },
            }
            notify(conn, experiment.tenant_id, "experiment.variant_retired", data, now)
    winner = allocation.winner
    if winner is not None and repo.mark_alerted(
        conn, experiment.experiment_id, "experiment.winner_declared", winner, now
    ):
        cohorts = cohorts_for(experiment, cohort_counts(conn, experiment.experiment_id))
        data = {
            **about,
            "winner": winner,
            "p_best": allocation.p_best.get(winner),
            "metric": experiment.definition.metric,
            "variants": _per_variant(allocation, cohorts),
        }
        notify(conn, experiment.tenant_id, "experiment.winner_declared", data, now)


def _alert_health(conn: Connection, outcome: PassOutcome, about: dict[str, Any], now: float) -> None:
    """Alert each health check that turned failing, once until it passes again."""
    experiment_id = outcome.experiment.experiment_id
    passing = [c.name for c in outcome.health if c.verdict != "failing"]
    repo.forget_alerted_subjects(conn, experiment_id, "experiment.health_failing", passing)
    for check in outcome.health:
        if check.verdict == "failing" and repo.mark_alerted(
            conn, experiment_id, "experiment.health_failing", check.name, now
        ):
            data = {**about, "check": check.name, "detail": check.detail, "value": check.value}
            notify(conn, outcome.experiment.tenant_id, "experiment.health_failing", data, now)


def _per_variant(allocation: Allocation, cohorts: Sequence[Cohort]) -> list[dict[str, Any]]:
    totals = {v: [0, 0] for v in allocation.weights}
    for cohort in cohorts:
        total = totals.setdefault(cohort.variant, [0, 0])
        total[0] += cohort.sends
        total[1] += cohort.clicks
    return [
        {"variant_id": v, "sends": s, "events": e, "p_best": allocation.p_best.get(v)}
        for v, (s, e) in totals.items()
    ]


def first_line(message: str) -> str:
    """An error message fit for a payload: its first line (SQLAlchemy appends the statement and its
    parameters on later ones), at most `MAX_ERROR_CHARS`."""
    return message.split("\n", 1)[0][:MAX_ERROR_CHARS]


def delivery_client() -> httpx.Client:
    """The HTTP client deliveries are sent with: short timeouts, redirects never followed."""
    timeout = httpx.Timeout(RESPONSE_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    headers = {"user-agent": f"copyloom/{__version__} (webhooks)"}
    return httpx.Client(timeout=timeout, follow_redirects=False, headers=headers)


@dataclass(frozen=True, slots=True)
class Sent:
    """What one delivery attempt of a pass did."""

    delivery_id: int
    event_id: str
    attempt: repo.Attempt
    delivered: bool
    next_attempt_at: float | None


def deliver_due(
    store: Store,
    now: float,
    *,
    client: httpx.Client,
    allow_loopback_http: bool,
    schedule: RetrySchedule = DEFAULT_SCHEDULE,
    rng: random.Random | None = None,
    limit: int = DELIVERIES_PER_PASS,
) -> list[Sent]:
    """POST every delivery due by `now` (at most `limit`), signed, and record each attempt.

    A 2xx answer delivers it; anything else (another status, a refused connection, a timeout, an address
    that is not public) schedules the next attempt by `schedule`, or gives up after its last.
    """
    rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
    with store.write() as conn:
        due = repo.claim_due(conn, now, LEASE_S, limit)
    sent = []
    for delivery in due:
        attempt = _post(client, delivery, now, allow_loopback_http=allow_loopback_http)
        delivered = attempt.status_code is not None and 200 <= attempt.status_code < 300
        next_at = None if delivered else schedule.next_attempt_at(attempt.attempt, now, rng)
        with store.write() as conn:
            repo.record_attempt(conn, delivery.delivery_id, attempt, next_at, delivered)
        sent.append(Sent(delivery.delivery_id, delivery.event_id, attempt, delivered, next_at))
        if not delivered:
            log.info(
                "webhook delivery %s attempt %d failed: %s", delivery.event_id, attempt.attempt, attempt.error
            )
    return sent


def signed_headers(event_id: str, secret: str, payload: str, now: float) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: its id, its time, and the signature of both with the
    body (`v1,<base64 HMAC-SHA-256>`)."""
    timestamp = datetime.fromtimestamp(int(now), tz=UTC)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": Signer(secret).sign(event_id, timestamp, payload),
        "content-type": "application/json",
    }


def _post(
    client: httpx.Client, delivery: repo.DueDelivery, now: float, *, allow_loopback_http: bool
) -> repo.Attempt:
    number = delivery.attempts + 1
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        _refuse_private_address(delivery.url, allow_loopback_http=allow_loopback_http)
        headers = signed_headers(delivery.event_id, delivery.secret, delivery.payload_json, now)
        # Streamed and never read: a receiver's answer body is none of our business, whatever its size.
        with client.stream(
            "POST", delivery.url, content=delivery.payload_json.encode(), headers=headers
        ) as answer:
            status = answer.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except (httpx.HTTPError, OSError, _NotPublic) as exc:
        error = first_line(f"{type(exc).__name__}: {exc}")
    duration_ms = (time.perf_counter() - started) * 1000
    return repo.Attempt(number, now, duration_ms, status, error)


class _NotPublic(Exception):
    """A webhook's host resolves to an address alerts are not sent to."""


def _refuse_private_address(url: str, *, allow_loopback_http: bool) -> None:
    """Resolve the URL's host and refuse it if any address is not public (loopback passes when allowed).

    Raises:
        _NotPublic: naming the address.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for *_, sockaddr in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP):
        address = str(sockaddr[0])
        if allow_loopback_http and is_loopback_host(address):
            continue
        if not is_public_address(address):
            raise _NotPublic(f"{host} resolves to {address}, not a public address")


def _tenant(conn: Connection, name: str) -> Tenant:
    tenant = tenant_repo.tenant_by_name(conn, name)
    if tenant is None:
        raise NotFound(f"tenant: no tenant named '{name}'")
    return tenant


def _webhook(conn: Connection, tenant: Tenant, name: str) -> Webhook:
    for webhook in repo.active_webhooks(conn, tenant.tenant_id):
        if webhook.name == name:
            return webhook
    raise NotFound(f"webhook: {tenant.name} has no webhook named '{name}'")
