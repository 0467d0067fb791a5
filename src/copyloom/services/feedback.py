"""Feedback: Currents events (webhook or S3 files) and pixel opens, attributed to assignments exactly once.

`count_events` is the one code path for every event source: it runs inside the caller's transaction, so
a webhook batch, or a whole Currents file, is counted entirely or not at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from copyloom.domain import RECIPIENT_FIELDS, EmailEvent, EngagementKind, RecipientKey, Tenant
from copyloom.services.pixel import read_pixel_token
from copyloom.storage import assignments as assignment_repo
from copyloom.storage import events as event_repo
from copyloom.storage.db import Store


@dataclass(frozen=True, slots=True)
class EventTally:
    """What became of a batch of events.

    received: events in the batch. accepted: events attributed to at least one assignment. duplicate:
    event ids already counted (Currents delivers at least once). ignored: event types that are not
    counted (soft bounces, aborts, deferrals, retries, other channels). unattributed: counted types that
    matched no assignment (counted per campaign or Canvas step, not stored). newest_event_s: the latest
    event time in the batch.
    """

    received: int = 0
    accepted: int = 0
    duplicate: int = 0
    ignored: int = 0
    unattributed: int = 0
    newest_event_s: int | None = None

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "ignored": self.ignored,
            "unattributed": self.unattributed,
        }

    def __add__(self, other: EventTally) -> EventTally:
        newest = [t for t in (self.newest_event_s, other.newest_event_s) if t is not None]
        return EventTally(
            self.received + other.received,
            self.accepted + other.accepted,
            self.duplicate + other.duplicate,
            self.ignored + other.ignored,
            self.unattributed + other.unattributed,
            max(newest) if newest else None,
        )


def record_events(store: Store, tenant: Tenant, events: Sequence[EmailEvent], now: float) -> EventTally:
    """Count a batch of events in one transaction: all of it or, on failure, none of it."""
    with store.write() as conn:
        return count_events(conn, tenant, events, now)


def count_events(conn: Connection, tenant: Tenant, events: Sequence[EmailEvent], now: float) -> EventTally:
    """Deduplicate, attribute and count events inside the caller's transaction."""
    new_ids = event_repo.mark_events_seen(conn, tenant.tenant_id, [e.event_id for e in events], now)
    fresh: list[EmailEvent] = []
    for event in events:
        if event.event_id in new_ids:
            new_ids.discard(event.event_id)  # a second copy in the same batch is a duplicate too
            fresh.append(event)
    counted = [e for e in fresh if e.engagement_kind is not None]
    matches = _assignments_by_pair(conn, tenant, counted)
    engagements: list[tuple[int, EngagementKind, float]] = []
    unattributed: Counter[tuple[str, str]] = Counter()
    accepted = 0
    for event in counted:
        kind = event.engagement_kind
        assert kind is not None
        ids = _matching_assignments(event, matches)
        if not ids:
            unattributed[(event.canvas_step_id or event.campaign_id or "", event.kind)] += 1
            continue
        accepted += 1
        engagements.extend((assignment_id, kind, float(event.time_s)) for assignment_id in ids)
    assignment_repo.insert_engagements(conn, engagements)
    for (source, event_kind), n in sorted(unattributed.items()):
        event_repo.count_unattributed(conn, tenant.tenant_id, source, event_kind, n)
    return EventTally(
        received=len(events),
        accepted=accepted,
        duplicate=len(events) - len(fresh),
        ignored=len(fresh) - len(counted),
        unattributed=sum(unattributed.values()),
        newest_event_s=max((e.time_s for e in events), default=None),
    )


_Matches = dict[tuple[str, str, str], list[int]]  # (recipient field, key, dispatch) -> assignment ids


def _assignments_by_pair(conn: Connection, tenant: Tenant, events: Sequence[EmailEvent]) -> _Matches:
    pairs: list[tuple[RecipientKey, str]] = []
    for event in events:
        for field in RECIPIENT_FIELDS:
            key = event.recipient_key(field)
            if key is not None and event.dispatch_id:
                pairs.append((key, event.dispatch_id))
    matches: _Matches = {}
    for row in assignment_repo.assignments_for_events(conn, tenant.tenant_id, pairs):
        matches.setdefault((row.recipient_field, row.recipient_key, row.dispatch_id), []).append(
            row.assignment_id
        )
    return matches


def _matching_assignments(event: EmailEvent, matches: _Matches) -> list[int]:
    """Each experiment joins on its own recipient field (the Braze id or the external id)."""
    ids: list[int] = []
    for field in RECIPIENT_FIELDS:
        key = event.recipient_key(field)
        if key is not None and event.dispatch_id:
            ids.extend(matches.get((field, key, event.dispatch_id), []))
    return ids


def record_pixel_open(store: Store, secret: bytes, token: str, now: float) -> bool:
    """Record a unique open for the assignment behind a pixel token; False for a bad or repeated token."""
    assignment_id = read_pixel_token(secret, token)
    if assignment_id is None:
        return False
    with store.write() as conn:
        if assignment_repo.assignment_by_id(conn, assignment_id) is None:
            return False
        return assignment_repo.insert_engagement(conn, assignment_id, "open", now)
