"""Event bookkeeping: which event ids were already counted, and what matched no assignment."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from copyloom.domain import TenantId
from copyloom.storage.db import add_to_counter, insert_ignoring_conflicts
from copyloom.storage.tables import seen_events, unattributed


def mark_event_seen(conn: Connection, tenant_id: TenantId, event_id: str, now: float) -> bool:
    """Remember an event id; False when it was seen before (Currents delivers at least once)."""
    row = {"tenant_id": tenant_id, "event_id": event_id, "seen_at": now}
    return insert_ignoring_conflicts(conn, seen_events, [row], ("tenant_id", "event_id")) == 1


def count_unattributed(conn: Connection, tenant_id: TenantId, source_id: str, kind: str, amount: int) -> None:
    key = {"tenant_id": tenant_id, "source_id": source_id, "kind": kind}
    add_to_counter(conn, unattributed, key, "count", amount)


def unattributed_counts(conn: Connection, tenant_id: TenantId) -> dict[tuple[str, str], int]:
    """Unattributed events of a tenant by (campaign or Canvas step id, event kind)."""
    query = sa.select(unattributed.c.source_id, unattributed.c.kind, unattributed.c.count).where(
        unattributed.c.tenant_id == tenant_id
    )
    return {(source, kind): int(n) for source, kind, n in conn.execute(query)}
