"""Alerts in the store: tenants' webhooks, the outbox of deliveries (one row per event and webhook) with
each attempt, and what was alerted per experiment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from copyloom.domain.alerts import DeliveryStatus, EventType, Webhook
from copyloom.domain.values import ExperimentId, TenantId
from copyloom.storage.db import id_chunks, insert_ignoring_conflicts
from copyloom.storage.tables import experiment_alerts, webhook_attempts, webhook_deliveries, webhooks


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST of a delivery: when, how long, and the answer's status (None: no answer) or error."""

    attempt: int
    attempted_at: float
    duration_ms: float
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event on its way to one webhook."""

    delivery_id: int
    event_id: str
    webhook_id: str
    webhook_name: str
    event_type: EventType
    payload_json: str
    created_at: float
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: float | None


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A claimed delivery with what sending it needs."""

    delivery_id: int
    event_id: str
    payload_json: str
    attempts: int
    url: str
    secret: str


def insert_webhook(conn: Connection, webhook: Webhook) -> None:
    conn.execute(
        webhooks.insert().values(
            webhook_id=webhook.webhook_id,
            tenant_id=webhook.tenant_id,
            name=webhook.name,
            url=webhook.url,
            secret=webhook.secret,
            created_at=webhook.created_at,
        )
    )


def active_webhooks(conn: Connection, tenant_id: TenantId) -> list[Webhook]:
    query = (
        sa.select(webhooks)
        .where(webhooks.c.tenant_id == tenant_id, webhooks.c.disabled_at.is_(None))
        .order_by(webhooks.c.name)
    )
    return [_webhook(row) for row in conn.execute(query).mappings()]


def disable_webhook(conn: Connection, webhook_id: str, now: float) -> None:
    """Remove a webhook from service; its pending deliveries are given up (the log keeps them)."""
    conn.execute(webhooks.update().where(webhooks.c.webhook_id == webhook_id).values(disabled_at=now))
    conn.execute(
        webhook_deliveries.update()
        .where(webhook_deliveries.c.webhook_id == webhook_id, webhook_deliveries.c.status == "pending")
        .values(status="failed", next_attempt_at=None, last_error="webhook removed")
    )


def enqueue(
    conn: Connection,
    tenant_id: TenantId,
    event_id: str,
    *,
    event_type: EventType,
    payload_json: str,
    webhook_ids: Sequence[str],
    now: float,
) -> int:
    """Put one event in the outbox for each webhook, due at once; returns how many rows were added."""
    rows = [
        {
            "event_id": event_id,
            "webhook_id": webhook_id,
            "tenant_id": tenant_id,
            "event_type": event_type,
            "payload_json": payload_json,
            "created_at": now,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
        }
        for webhook_id in webhook_ids
    ]
    if rows:
        conn.execute(webhook_deliveries.insert(), rows)
    return len(rows)


def claim_due(conn: Connection, now: float, lease_s: float, limit: int) -> list[DueDelivery]:
    """The pending deliveries due by `now` (oldest first), each pushed `lease_s` into the future so that
    no other process sends it meanwhile; if this one dies mid-send, the lease runs out and it is resent.

    On PostgreSQL rows another transaction is claiming are skipped (`FOR UPDATE SKIP LOCKED`); SQLite
    has one writer at a time.
    """
    query = (
        sa.select(
            webhook_deliveries.c.delivery_id,
            webhook_deliveries.c.event_id,
            webhook_deliveries.c.payload_json,
            webhook_deliveries.c.attempts,
            webhooks.c.url,
            webhooks.c.secret,
        )
        .join(webhooks, webhooks.c.webhook_id == webhook_deliveries.c.webhook_id)
        .where(
            webhook_deliveries.c.next_attempt_at <= now,
            webhook_deliveries.c.status == "pending",
            webhooks.c.disabled_at.is_(None),
        )
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(of=webhook_deliveries, skip_locked=True)
    )
    due = [DueDelivery(**row) for row in conn.execute(query).mappings()]
    if due:
        conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.delivery_id.in_([d.delivery_id for d in due]))
            .values(next_attempt_at=now + lease_s)
        )
    return due


def record_attempt(
    conn: Connection, delivery_id: int, attempt: Attempt, next_attempt_at: float | None, delivered: bool
) -> None:
    """Log an attempt and move the delivery on: delivered, due again at `next_attempt_at`, or (None)
    given up."""
    conn.execute(webhook_attempts.insert().values(delivery_id=delivery_id, **_attempt_row(attempt)))
    status: DeliveryStatus = (
        "delivered" if delivered else "pending" if next_attempt_at is not None else "failed"
    )
    conn.execute(
        webhook_deliveries.update()
        .where(webhook_deliveries.c.delivery_id == delivery_id)
        .values(
            status=status,
            attempts=attempt.attempt,
            next_attempt_at=None if delivered else next_attempt_at,
            last_status_code=attempt.status_code,
            last_error=attempt.error,
            delivered_at=attempt.attempted_at if delivered else None,
        )
    )


def recent_deliveries(conn: Connection, tenant_id: TenantId, limit: int) -> list[Delivery]:
    """The tenant's newest deliveries first."""
    query = (
        sa.select(webhook_deliveries, webhooks.c.name.label("webhook_name"))
        .join(webhooks, webhooks.c.webhook_id == webhook_deliveries.c.webhook_id)
        .where(webhook_deliveries.c.tenant_id == tenant_id)
        .order_by(webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.delivery_id.desc())
        .limit(limit)
    )
    return [_delivery(row) for row in conn.execute(query).mappings()]


def attempts_of(conn: Connection, delivery_ids: Sequence[int]) -> dict[int, list[Attempt]]:
    """Each delivery's attempts, in order."""
    found: dict[int, list[Attempt]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return found
    query = (
        sa.select(webhook_attempts)
        .where(webhook_attempts.c.delivery_id.in_(list(delivery_ids)))
        .order_by(webhook_attempts.c.delivery_id, webhook_attempts.c.attempt)
    )
    for row in conn.execute(query).mappings():
        found[row["delivery_id"]].append(
            Attempt(row["attempt"], row["attempted_at"], row["duration_ms"], row["status_code"], row["error"])
        )
    return found


def mark_alerted(
    conn: Connection, experiment_id: ExperimentId, event_type: EventType, subject: str, now: float
) -> bool:
    """Remember that this (experiment, event, subject) was alerted; False when it already was."""
    row = {"experiment_id": experiment_id, "event_type": event_type, "subject": subject, "alerted_at": now}
    keys = ["experiment_id", "event_type", "subject"]
    return insert_ignoring_conflicts(conn, experiment_alerts, [row], keys) == 1


def forget_alerted(conn: Connection, experiment_ids: Sequence[ExperimentId], event_type: EventType) -> None:
    """Forget what was alerted of this kind for these experiments (they recovered), so that they can
    alert again."""
    for chunk in id_chunks(experiment_ids):
        conn.execute(
            experiment_alerts.delete().where(
                experiment_alerts.c.experiment_id.in_(chunk), experiment_alerts.c.event_type == event_type
            )
        )


def forget_alerted_subjects(
    conn: Connection, experiment_id: ExperimentId, event_type: EventType, subjects: Sequence[str]
) -> None:
    """Forget what was alerted of this kind for these subjects of one experiment (they recovered)."""
    if subjects:
        conn.execute(
            experiment_alerts.delete().where(
                experiment_alerts.c.experiment_id == experiment_id,
                experiment_alerts.c.event_type == event_type,
                experiment_alerts.c.subject.in_(list(subjects)),
            )
        )


def _attempt_row(attempt: Attempt) -> dict[str, object]:
    return {
        "attempt": attempt.attempt,
        "attempted_at": attempt.attempted_at,
        "duration_ms": attempt.duration_ms,
        "status_code": attempt.status_code,
        "error": attempt.error,
    }


def _webhook(row: RowMapping) -> Webhook:
    return Webhook(
        webhook_id=row["webhook_id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        url=row["url"],
        secret=row["secret"],
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
    )


def _delivery(row: RowMapping) -> Delivery:
    return Delivery(
        delivery_id=row["delivery_id"],
        event_id=row["event_id"],
        webhook_id=row["webhook_id"],
        webhook_name=row["webhook_name"],
        event_type=row["event_type"],
        payload_json=row["payload_json"],
        created_at=row["created_at"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
    )
