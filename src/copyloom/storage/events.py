"""Event bookkeeping: which event ids were already counted, and what matched no assignment."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from copyloom.domain.events import CountedEvent
from copyloom.domain.values import TenantId
from copyloom.storage.db import add_to_counter
from copyloom.storage.tables import unattributed

STAGED_EVENTS = "copyloom_staged_events"
"""A temporary table (per connection) holding one batch's events, for set-based counting."""

STAGED_COLUMNS = (
    "event_id VARCHAR(128) NOT NULL, kind VARCHAR(32) NOT NULL, time_s BIGINT NOT NULL, "
    "user_key VARCHAR(64), external_user_key VARCHAR(64), dispatch_id VARCHAR(128), "
    "source_id VARCHAR(128) NOT NULL, engagement_kind VARCHAR(16), has_bot_click_reason BOOLEAN NOT NULL, "
    "link_alias VARCHAR(256), fresh BOOLEAN NOT NULL DEFAULT FALSE"
)
_STAGED_DDL = {
    # The sequence number keeps the batch's order: of two engagements of one kind, the first counts.
    "sqlite": f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGED_EVENTS} "
    f"(seq INTEGER PRIMARY KEY, {STAGED_COLUMNS})",
    "postgresql": f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGED_EVENTS} "
    f"(seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, {STAGED_COLUMNS})",
}
_STAGED_FIELDS = ", ".join(CountedEvent._fields)  # event_id, kind, time_s, … in the event's own order


def placeholders(conn: Connection, count: int) -> str:
    """`count` positional parameter markers in the driver's own style, for `exec_driver_sql`."""
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([marker] * count)


def stage_events(conn: Connection, tenant_id: TenantId, events: Sequence[CountedEvent]) -> None:
    """Replace the staged batch with `events`, in order, each flagged fresh when its id was never seen.

    The driver's own `executemany`, without SQLAlchemy's per-row parameter processing: one batch is
    thousands of rows, and a `CountedEvent` is already the row (its fields are the staged columns).
    """
    conn.exec_driver_sql(_STAGED_DDL[conn.dialect.name])
    conn.exec_driver_sql(f"DELETE FROM {STAGED_EVENTS}")
    if conn.dialect.name == "sqlite":
        # Freshness is looked up as each row is staged (?1 is its event id, the last parameter the
        # tenant), rather than by a second pass that rewrites every staged row.
        values = ", ".join(f"?{n}" for n in range(1, len(CountedEvent._fields) + 1))
        tenant_marker = f"?{len(CountedEvent._fields) + 1}"
        conn.exec_driver_sql(
            f"INSERT INTO {STAGED_EVENTS} ({_STAGED_FIELDS}, fresh) VALUES ({values}, NOT EXISTS ("
            f"SELECT 1 FROM seen_events WHERE seen_events.tenant_id = {tenant_marker} "
            "AND seen_events.event_id = ?1))",
            [(*e, tenant_id) for e in events],  # a list of tuples: executemany
        )
        return
    conn.exec_driver_sql(
        f"INSERT INTO {STAGED_EVENTS} ({_STAGED_FIELDS}) "
        f"VALUES ({placeholders(conn, len(CountedEvent._fields))})",
        list(events),  # a list of tuples: executemany
    )
    # A temporary table has no statistics until analysed; without them PostgreSQL may plan the
    # attribution join as a scan of every assignment instead of an index look-up per event.
    conn.exec_driver_sql(f"ANALYZE {STAGED_EVENTS}")


def settle_staged_kinds(
    conn: Connection, *, reason_is_bot: bool, ignored_dispatch_ids: Sequence[str]
) -> None:
    """Apply the tenant's rules to the staged batch: a click with a bot-click reason becomes a bot click
    when `reason_is_bot`, and events of the ignored dispatches (Braze's test-send placeholders) count as
    nothing."""
    ignored = f"dispatch_id IN ({placeholders(conn, len(ignored_dispatch_ids))})"
    reason = "engagement_kind = 'click' AND has_bot_click_reason" if reason_is_bot else "FALSE"
    conn.exec_driver_sql(
        f"UPDATE {STAGED_EVENTS} SET engagement_kind = CASE WHEN {ignored} THEN NULL ELSE 'bot_click' END "
        f"WHERE engagement_kind IS NOT NULL AND ({ignored} OR ({reason}))",
        (*ignored_dispatch_ids, *ignored_dispatch_ids),
    )


def mark_staged_fresh(conn: Connection, tenant_id: TenantId, now: float) -> None:
    """Remember the staged event ids; the ones not seen before (Currents delivers at least once) are
    flagged fresh, without a row coming back to Python.

    PostgreSQL: ON CONFLICT DO NOTHING with RETURNING names exactly the rows inserted, and those are
    flagged, so two workers inserting the same id at once count it once: the second waits for the first
    and then skips it. SQLite flagged them as they were staged (`stage_events`): it runs one write
    transaction at a time (`BEGIN IMMEDIATE`), so an id absent then is still absent now.
    """
    marker = placeholders(conn, 1)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "WITH inserted AS ("
            "INSERT INTO seen_events (tenant_id, event_id, seen_at) "
            f"SELECT {marker}, event_id, {marker} FROM {STAGED_EVENTS} "
            "ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING event_id) "
            f"UPDATE {STAGED_EVENTS} s SET fresh = TRUE FROM inserted WHERE s.event_id = inserted.event_id",
            (tenant_id, now),
        )
        return
    conn.exec_driver_sql(
        "INSERT INTO seen_events (tenant_id, event_id, seen_at) "
        f"SELECT {marker}, event_id, {marker} FROM {STAGED_EVENTS} WHERE fresh "
        "ON CONFLICT (tenant_id, event_id) DO NOTHING",
        (tenant_id, now),
    )


def count_unattributed(conn: Connection, tenant_id: TenantId, source_id: str, kind: str, amount: int) -> None:
    key = {"tenant_id": tenant_id, "source_id": source_id, "kind": kind}
    add_to_counter(conn, unattributed, key, "count", amount)


def unattributed_counts(conn: Connection, tenant_id: TenantId) -> dict[tuple[str, str], int]:
    """Unattributed events of a tenant by (campaign or Canvas step id, event kind)."""
    query = sa.select(unattributed.c.source_id, unattributed.c.kind, unattributed.c.count).where(
        unattributed.c.tenant_id == tenant_id
    )
    return {(source, kind): int(n) for source, kind, n in conn.execute(query)}
