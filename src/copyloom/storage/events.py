"""Event bookkeeping: which event ids were already counted, and what matched no assignment."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from copyloom.domain import TenantId
from copyloom.storage.db import add_to_counter, dialect_insert
from copyloom.storage.tables import seen_events, unattributed

# Rows per multi-row statement: SQLite allows 32,766 bound parameters, these rows have 3.
_ROWS_PER_STATEMENT = 5000


def mark_events_seen(conn: Connection, tenant_id: TenantId, event_ids: Sequence[str], now: float) -> set[str]:
    """Remember event ids; returns those not seen before (Currents delivers at least once)."""
    new: set[str] = set()
    unique = list(dict.fromkeys(event_ids))
    for start in range(0, len(unique), _ROWS_PER_STATEMENT):
        rows = [
            {"tenant_id": tenant_id, "event_id": e, "seen_at": now}
            for e in unique[start : start + _ROWS_PER_STATEMENT]
        ]
        stmt = (
            dialect_insert(conn, seen_events)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
            .returning(seen_events.c.event_id)
        )
        new.update(conn.execute(stmt).scalars())
    return new


def count_unattributed(conn: Connection, tenant_id: TenantId, source_id: str, kind: str, amount: int) -> None:
    key = {"tenant_id": tenant_id, "source_id": source_id, "kind": kind}
    add_to_counter(conn, unattributed, key, "count", amount)


def unattributed_counts(conn: Connection, tenant_id: TenantId) -> dict[tuple[str, str], int]:
    """Unattributed events of a tenant by (campaign or Canvas step id, event kind)."""
    query = sa.select(unattributed.c.source_id, unattributed.c.kind, unattributed.c.count).where(
        unattributed.c.tenant_id == tenant_id
    )
    return {(source, kind): int(n) for source, kind, n in conn.execute(query)}
