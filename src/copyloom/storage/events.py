"""Event bookkeeping: which event ids were already counted, and what matched no assignment."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from copyloom.domain import TenantId
from copyloom.storage.db import add_to_counter, dialect_insert
from copyloom.storage.tables import seen_events, unattributed


def mark_events_seen(conn: Connection, tenant_id: TenantId, event_ids: Sequence[str], now: float) -> set[str]:
    """Remember event ids; returns those not seen before (Currents delivers at least once)."""
    rows = [{"tenant_id": tenant_id, "event_id": e, "seen_at": now} for e in dict.fromkeys(event_ids)]
    if not rows:
        return set()
    # One cached statement, sent as multi-row batches by SQLAlchemy's "insertmanyvalues"; RETURNING
    # names exactly the rows inserted, i.e. the ids not seen before.
    stmt = (
        dialect_insert(conn, seen_events)
        .on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
        .returning(seen_events.c.event_id)
    )
    return set(conn.execute(stmt, rows).scalars())


def count_unattributed(conn: Connection, tenant_id: TenantId, source_id: str, kind: str, amount: int) -> None:
    key = {"tenant_id": tenant_id, "source_id": source_id, "kind": kind}
    add_to_counter(conn, unattributed, key, "count", amount)


def unattributed_counts(conn: Connection, tenant_id: TenantId) -> dict[tuple[str, str], int]:
    """Unattributed events of a tenant by (campaign or Canvas step id, event kind)."""
    query = sa.select(unattributed.c.source_id, unattributed.c.kind, unattributed.c.count).where(
        unattributed.c.tenant_id == tenant_id
    )
    return {(source, kind): int(n) for source, kind, n in conn.execute(query)}
