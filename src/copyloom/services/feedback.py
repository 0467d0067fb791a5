"""Feedback: Currents events (webhook or S3 files) and pixel opens, attributed to assignments exactly once.

`count_events` is the one code path for every event source: it runs inside the caller's transaction, so
a webhook batch, or a whole Currents file, is counted entirely or not at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from copyloom.domain.events import CountedEvent, EmailEvent
from copyloom.domain.values import PLACEHOLDER_DISPATCH_IDS, Tenant
from copyloom.errors import StoreUnavailable
from copyloom.services.pixel import read_pixel_token
from copyloom.storage import assignments as assignment_repo
from copyloom.storage import events as event_repo
from copyloom.storage.db import Store


@dataclass(frozen=True, slots=True)
class EventTally:
    """What became of a batch of events.

    received: events in the batch. accepted: events attributed to at least one assignment. duplicate:
    event ids already counted (Currents delivers at least once). ignored: event types that are not
    counted (soft bounces, aborts, deferrals, retries, other channels) and events of Braze's test sends and
    previews (`PLACEHOLDER_DISPATCH_IDS`). unattributed: counted types that
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


class EventsRefused(Exception):
    """The store refused some events of a batch for what they hold (not an outage); nothing was stored.

    `positions` are the refused events' places in the batch, found by trying halves of it.
    """

    def __init__(self, positions: Sequence[int]) -> None:
        super().__init__(f"{len(positions)} events refused by the store")
        self.positions = tuple(positions)


def record_events(store: Store, tenant: Tenant, events: Sequence[EmailEvent], now: float) -> EventTally:
    """Count a batch of events in one transaction: all of it or, on failure, none of it.

    Raises:
        StoreUnavailable: the store is unreachable.
        EventsRefused: the store refused events of the batch for what they hold (e.g. text it cannot
            keep that got past validation); the batch is not counted, and the refused ones are named.
    """
    counted = [e.counted() for e in events]
    try:
        with store.write() as conn:
            return count_events(conn, tenant, counted, now)
    except StoreUnavailable:
        raise
    except Exception:  # a data error, not an outage: name the events, so that the caller can answer
        raise EventsRefused(_refused_positions(store, tenant, counted, range(len(counted)), now)) from None


class _TrialOnly(Exception):
    """Raised inside a trial transaction to roll it back."""


def _refused_positions(
    store: Store, tenant: Tenant, events: Sequence[CountedEvent], positions: Sequence[int], now: float
) -> list[int]:
    """The positions among `positions` whose events the store refuses: halves are counted in
    transactions that are always rolled back, down to single events."""
    try:
        with store.write() as conn:
            count_events(conn, tenant, [events[i] for i in positions], now)
            raise _TrialOnly
    except _TrialOnly:
        return []
    except StoreUnavailable:
        raise
    except Exception:
        if len(positions) == 1:
            return list(positions)
    middle = len(positions) // 2
    return [
        *_refused_positions(store, tenant, events, positions[:middle], now),
        *_refused_positions(store, tenant, events, positions[middle:], now),
    ]


def count_events(conn: Connection, tenant: Tenant, events: Sequence[CountedEvent], now: float) -> EventTally:
    """Deduplicate, attribute and count events inside the caller's transaction.

    Set-based: the batch is staged in a temporary table once; marking it seen, recording its engagements
    and tallying it are one statement each, whatever its size, and only the tally (a row per campaign or
    step and event kind) comes back.
    """
    if not events:
        return EventTally()
    staged = _first_copies(events)  # a second copy in the same batch is a duplicate too
    event_repo.stage_events(
        conn, tenant.tenant_id, events if len(staged) == len(events) else [events[i] for i in staged]
    )
    event_repo.settle_staged_kinds(
        conn,
        reason_is_bot=tenant.bot_clicks == "flag_or_reason",
        ignored_dispatch_ids=PLACEHOLDER_DISPATCH_IDS,
    )
    event_repo.mark_staged_fresh(conn, tenant.tenant_id, now)
    assignment_repo.insert_staged_engagements(conn, tenant.tenant_id)
    assignment_repo.count_other_source_events(conn)
    fresh = counted = attributed = 0
    unattributed: Counter[tuple[str, str]] = Counter()
    for tally in assignment_repo.staged_tallies(conn):
        fresh += tally.fresh
        counted += tally.counted
        attributed += tally.attributed
        if tally.counted > tally.attributed:
            unattributed[(tally.source_id, tally.kind)] += tally.counted - tally.attributed
    for (source, event_kind), n in sorted(unattributed.items()):
        event_repo.count_unattributed(conn, tenant.tenant_id, source, event_kind, n)
    return EventTally(
        received=len(events),
        accepted=attributed,
        duplicate=len(events) - fresh,
        ignored=fresh - counted,
        unattributed=counted - attributed,
        newest_event_s=max(e.time_s for e in events),
    )


def _first_copies(events: Sequence[CountedEvent]) -> Sequence[int]:
    """The positions of the first event with each id, in order."""
    ids = [e.event_id for e in events]
    if len(set(ids)) == len(ids):
        return range(len(ids))
    first = {event_id: seq for seq, event_id in reversed(list(enumerate(ids)))}
    return sorted(first.values())


def record_pixel_open(store: Store, secret: bytes, token: str, now: float) -> bool:
    """Record a unique pixel open for the assignment behind a pixel token; False for a bad or repeated
    token. It counts as a real open unless the assignment has (or gets) a Currents machine open."""
    assignment_id = read_pixel_token(secret, token)
    if assignment_id is None:
        return False
    with store.write() as conn:
        if assignment_repo.assignment_by_id(conn, assignment_id) is None:
            return False
        return assignment_repo.insert_engagement(conn, assignment_id, "pixel_open", now)
