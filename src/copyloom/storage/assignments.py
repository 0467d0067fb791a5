"""Assignments (one per experiment, recipient and dispatch), engagements, and the counts built on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from copyloom.domain import EngagementKind, RecipientField, RecipientKey, TenantId, VariantId
from copyloom.storage.db import dialect_insert, insert_ignoring_conflicts
from copyloom.storage.events import STAGED_EVENTS, placeholders
from copyloom.storage.tables import assignments, engagements, experiments


@dataclass(frozen=True, slots=True)
class AssignmentRow:
    assignment_id: int
    experiment_id: str
    recipient_key: RecipientKey
    dispatch_id: str
    variant_id: VariantId
    assigned_at: float


@dataclass(frozen=True, slots=True)
class NewAssignment:
    tenant_id: TenantId
    experiment_id: str
    recipient_key: RecipientKey
    dispatch_id: str
    variant_id: VariantId
    assigned_at: float
    cohort_s: int


@dataclass(frozen=True, slots=True)
class CohortCount:
    """Sends of one variant in one send-time bucket, with their unique engagements by kind."""

    variant_id: VariantId
    cohort_s: int
    sends: int
    engagements: dict[EngagementKind, int]


_ROW_COLUMNS = (
    assignments.c.assignment_id,
    assignments.c.experiment_id,
    assignments.c.recipient_key,
    assignments.c.dispatch_id,
    assignments.c.variant_id,
    assignments.c.assigned_at,
)


def assignments_of_recipients(
    conn: Connection, experiment_id: str, recipient_keys: Sequence[str]
) -> list[AssignmentRow]:
    """Every assignment (any dispatch) of these recipients in one experiment."""
    if not recipient_keys:
        return []
    query = sa.select(*_ROW_COLUMNS).where(
        assignments.c.experiment_id == experiment_id,
        assignments.c.recipient_key.in_(sorted(set(recipient_keys))),
    )
    return [AssignmentRow(*row) for row in conn.execute(query)]


def insert_assignments(conn: Connection, rows: Sequence[NewAssignment]) -> list[AssignmentRow]:
    """Insert new assignments in one batched statement; a row whose (experiment, recipient, dispatch)
    exists is left as it was. Returns the rows this call inserted (in no particular order)."""
    if not rows:
        return []
    values = [
        {
            "tenant_id": r.tenant_id,
            "experiment_id": r.experiment_id,
            "recipient_key": r.recipient_key,
            "dispatch_id": r.dispatch_id,
            "variant_id": r.variant_id,
            "assigned_at": r.assigned_at,
            "cohort_s": r.cohort_s,
        }
        for r in rows
    ]
    stmt = (
        dialect_insert(conn, assignments)
        .on_conflict_do_nothing(index_elements=["experiment_id", "recipient_key", "dispatch_id"])
        .returning(*_ROW_COLUMNS)
    )
    return [AssignmentRow(*row) for row in conn.execute(stmt, values)]


def assignment_by_id(conn: Connection, assignment_id: int) -> AssignmentRow | None:
    row = conn.execute(sa.select(*_ROW_COLUMNS).where(assignments.c.assignment_id == assignment_id)).first()
    return AssignmentRow(*row) if row else None


def staged_matches(conn: Connection, tenant_id: TenantId) -> list[tuple[int, int]]:
    """(seq, assignment id) for every staged event (see `events.stage_events`) matching an assignment of
    the tenant: same dispatch, and the recipient key of the field its experiment joins on. An email may
    carry several experiments (subject and call to action), so one event can match several assignments.
    """
    # CROSS JOIN makes SQLite loop over the staged events and look each up by the assignments' index
    # (a temporary table has no statistics, and it would scan the assignments instead); PostgreSQL
    # plans it as the inner join it is.
    per_field = [
        f"SELECT s.seq, a.assignment_id FROM {STAGED_EVENTS} s "
        f"CROSS JOIN {assignments.name} a CROSS JOIN {experiments.name} e "
        f"WHERE s.{column} IS NOT NULL AND s.dispatch_id IS NOT NULL "
        f"AND a.recipient_key = s.{column} AND a.dispatch_id = s.dispatch_id "
        f"AND e.experiment_id = a.experiment_id AND a.tenant_id = {marker} AND e.recipient_field = '{field}'"
        for field, column in _KEY_COLUMN_OF_FIELD.items()
        for marker in [placeholders(conn, 1)]
    ]
    rows = conn.exec_driver_sql(" UNION ALL ".join(per_field), (tenant_id,) * len(per_field))
    return [(seq, assignment_id) for seq, assignment_id in rows.all()]


_KEY_COLUMN_OF_FIELD: dict[RecipientField, str] = {
    "user_id": "user_key",
    "external_user_id": "external_user_key",
}


def insert_engagements(conn: Connection, rows: Sequence[tuple[int, EngagementKind, float]]) -> None:
    """Record unique engagements (assignment, kind, time); an existing (assignment, kind) is left alone,
    and of two in `rows` the first wins."""
    if rows:
        conn.exec_driver_sql(
            f"INSERT INTO {engagements.name} (assignment_id, kind, occurred_at) "
            f"VALUES ({placeholders(conn, 3)}) ON CONFLICT (assignment_id, kind) DO NOTHING",
            list(rows),  # a list of tuples: executemany
        )


def insert_engagement(conn: Connection, assignment_id: int, kind: EngagementKind, occurred_at: float) -> bool:
    """Record a unique engagement; False when this assignment already had one of this kind."""
    row = {"assignment_id": assignment_id, "kind": kind, "occurred_at": occurred_at}
    return insert_ignoring_conflicts(conn, engagements, [row], ("assignment_id", "kind")) == 1


def cohort_counts(conn: Connection, experiment_id: str) -> list[CohortCount]:
    """Sends and unique engagements per variant and send-time bucket."""
    sends_query = (
        sa.select(assignments.c.variant_id, assignments.c.cohort_s, sa.func.count())
        .where(assignments.c.experiment_id == experiment_id)
        .group_by(assignments.c.variant_id, assignments.c.cohort_s)
    )
    engaged_query = (
        sa.select(assignments.c.variant_id, assignments.c.cohort_s, engagements.c.kind, sa.func.count())
        .join(engagements, engagements.c.assignment_id == assignments.c.assignment_id)
        .where(assignments.c.experiment_id == experiment_id)
        .group_by(assignments.c.variant_id, assignments.c.cohort_s, engagements.c.kind)
    )
    counts = {
        (variant, cohort): CohortCount(variant, cohort, sends, {})
        for variant, cohort, sends in conn.execute(sends_query)
    }
    for variant, cohort, kind, n in conn.execute(engaged_query):
        counts[(variant, cohort)].engagements[kind] = n
    return sorted(counts.values(), key=lambda c: (c.cohort_s, c.variant_id))


def engagement_delays(
    conn: Connection,
    tenant_id: TenantId,
    kind: EngagementKind,
    *,
    sent_before: float,
    max_delay_s: float,
    limit: int = 50_000,
) -> list[float]:
    """Seconds from send to engagement for the tenant's sends made before `sent_before`, pooled over its
    experiments: what the delay model is fitted to. Only sends old enough to have had all their
    engagements (up to `max_delay_s`) are used, or the fit would lean towards the quick ones."""
    delay = engagements.c.occurred_at - assignments.c.assigned_at
    query = (
        sa.select(delay)
        .join(assignments, assignments.c.assignment_id == engagements.c.assignment_id)
        .where(
            assignments.c.tenant_id == tenant_id,
            engagements.c.kind == kind,
            assignments.c.assigned_at <= sent_before,
            delay >= 0,
            delay <= max_delay_s,
        )
        .order_by(assignments.c.assigned_at.desc())
        .limit(limit)
    )
    return [float(d) for d in conn.execute(query).scalars()]
