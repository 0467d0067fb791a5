"""Engagement feedback: Currents events and pixel opens, attributed to assignments exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from copyloom.domain import RECIPIENT_FIELDS, EmailEvent, RecipientField, RecipientKey, Tenant
from copyloom.services.pixel import read_pixel_token
from copyloom.storage import assignments as assignment_repo
from copyloom.storage import events as event_repo
from copyloom.storage.db import Store


@dataclass(frozen=True, slots=True)
class EventTally:
    """What became of a batch of events.

    received: events in the batch. accepted: clicks and opens attributed to at least one assignment.
    duplicate: event ids already counted before (Currents delivers at least once). ignored: other
    event types. unattributed: clicks and opens that matched no assignment (counted per campaign or
    Canvas step, not stored).
    """

    received: int = 0
    accepted: int = 0
    duplicate: int = 0
    ignored: int = 0
    unattributed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "ignored": self.ignored,
            "unattributed": self.unattributed,
        }


def record_events(store: Store, tenant: Tenant, events: Sequence[EmailEvent], now: float) -> EventTally:
    """Count a batch of events in one transaction: all of it or, on failure, none of it."""
    outcome = {"accepted": 0, "duplicate": 0, "ignored": 0, "unattributed": 0}
    with store.write() as conn:
        for event in events:
            if not event_repo.mark_event_seen(conn, tenant.tenant_id, event.event_id, now):
                outcome["duplicate"] += 1
                continue
            kind = event.engagement_kind
            if kind is None:
                outcome["ignored"] += 1
                continue
            keys = _recipient_keys(event)
            rows = (
                assignment_repo.assignments_for_event(conn, tenant.tenant_id, keys, event.dispatch_id)
                if keys and event.dispatch_id
                else []
            )
            if not rows:
                outcome["unattributed"] += 1
                source = event.canvas_step_id or event.campaign_id or ""
                event_repo.count_unattributed(conn, tenant.tenant_id, source, event.kind, 1)
                continue
            outcome["accepted"] += 1
            for row in rows:
                assignment_repo.insert_engagement(conn, row.assignment_id, kind, float(event.time_s))
    return EventTally(received=len(events), **outcome)


def record_pixel_open(store: Store, secret: bytes, token: str, now: float) -> bool:
    """Record a unique open for the assignment behind a pixel token; False for a bad or repeated token."""
    assignment_id = read_pixel_token(secret, token)
    if assignment_id is None:
        return False
    with store.write() as conn:
        if assignment_repo.assignment_by_id(conn, assignment_id) is None:
            return False
        return assignment_repo.insert_engagement(conn, assignment_id, "open", now)


def _recipient_keys(event: EmailEvent) -> dict[RecipientField, RecipientKey]:
    keys: dict[RecipientField, RecipientKey] = {}
    for field in RECIPIENT_FIELDS:
        key = event.recipient_key(field)
        if key is not None:
            keys[field] = key
    return keys
