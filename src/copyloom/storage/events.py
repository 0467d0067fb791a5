"""Event bookkeeping: which event ids were already counted, and what matched no assignment."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from copyloom.domain import TenantId
from copyloom.storage.db import add_to_counter
from copyloom.storage.tables import unattributed

STAGED_EVENTS = "copyloom_staged_events"
"""A temporary table (per connection) holding one batch's events, for set-based counting."""

_STAGED_DDL = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGED_EVENTS} ("
    "seq INTEGER PRIMARY KEY, event_id VARCHAR(128) NOT NULL, user_key VARCHAR(64), "
    "external_user_key VARCHAR(64), dispatch_id VARCHAR(128))"
)


def placeholders(conn: Connection, count: int) -> str:
    """`count` positional parameter markers in the driver's own style, for `exec_driver_sql`."""
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([marker] * count)


def stage_events(
    conn: Connection, rows: Iterable[tuple[int, str, str | None, str | None, str | None]]
) -> None:
    """Replace the staged batch with `rows` of (seq, event id, user key, external user key, dispatch).

    The driver's own `executemany`, without SQLAlchemy's per-row parameter processing: one batch is
    thousands of rows.
    """
    conn.exec_driver_sql(_STAGED_DDL)
    conn.exec_driver_sql(f"DELETE FROM {STAGED_EVENTS}")
    conn.exec_driver_sql(
        f"INSERT INTO {STAGED_EVENTS} (seq, event_id, user_key, external_user_key, dispatch_id) "
        f"VALUES ({placeholders(conn, 5)})",
        list(rows),  # a list of tuples: executemany
    )
    if conn.dialect.name == "postgresql":
        # A temporary table has no statistics until analysed; without them PostgreSQL may plan the
        # attribution join as a scan of every assignment instead of an index look-up per event.
        conn.exec_driver_sql(f"ANALYZE {STAGED_EVENTS}")


def mark_staged_seen(conn: Connection, tenant_id: TenantId, now: float) -> set[str]:
    """Remember the staged event ids; returns those not seen before (Currents delivers at least once).

    ON CONFLICT DO NOTHING with RETURNING names exactly the rows inserted, so two PostgreSQL workers
    inserting the same id at once count it once: the second waits for the first and then skips it.
    """
    marker = placeholders(conn, 1)
    result = conn.exec_driver_sql(
        "INSERT INTO seen_events (tenant_id, event_id, seen_at) "
        f"SELECT {marker}, event_id, {marker} FROM {STAGED_EVENTS} WHERE true "
        "ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING event_id",
        (tenant_id, now),
    )
    return set(result.scalars().all())


def count_unattributed(conn: Connection, tenant_id: TenantId, source_id: str, kind: str, amount: int) -> None:
    key = {"tenant_id": tenant_id, "source_id": source_id, "kind": kind}
    add_to_counter(conn, unattributed, key, "count", amount)


def unattributed_counts(conn: Connection, tenant_id: TenantId) -> dict[tuple[str, str], int]:
    """Unattributed events of a tenant by (campaign or Canvas step id, event kind)."""
    query = sa.select(unattributed.c.source_id, unattributed.c.kind, unattributed.c.count).where(
        unattributed.c.tenant_id == tenant_id
    )
    return {(source, kind): int(n) for source, kind, n in conn.execute(query)}
