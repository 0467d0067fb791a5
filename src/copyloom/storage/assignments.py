"""Assignments (one per experiment, recipient and dispatch), engagements, and the counts built on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from copyloom.domain import EngagementKind, RecipientField, RecipientKey, TenantId, VariantId
from copyloom.storage.db import dialect_insert, insert_ignoring_conflicts, insert_many_ignoring_conflicts
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


_PAIRS_PER_QUERY = 2000

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


@dataclass(frozen=True, slots=True)
class AttributionRow:
    assignment_id: int
    recipient_key: RecipientKey
    dispatch_id: str
    recipient_field: RecipientField


def assignments_for_events(
    conn: Connection, tenant_id: TenantId, pairs: Sequence[tuple[RecipientKey, str]]
) -> list[AttributionRow]:
    """The assignments of a tenant matching any (pseudonymised recipient, dispatch) pair, with the
    recipient field their experiment joins on. An email may carry several experiments (subject and call
    to action), so one pair can match more than one assignment."""
    wanted = set(pairs)
    keys = sorted({key for key, _ in wanted})
    found: list[AttributionRow] = []
    # Look up by recipient alone (indexed, and several times faster than a row-value IN on SQLite), then
    # keep the rows of the wanted dispatches.
    for start in range(0, len(keys), _PAIRS_PER_QUERY):
        query = (
            sa.select(
                assignments.c.assignment_id,
                assignments.c.recipient_key,
                assignments.c.dispatch_id,
                experiments.c.recipient_field,
            )
            .join(experiments, experiments.c.experiment_id == assignments.c.experiment_id)
            .where(
                assignments.c.recipient_key.in_(keys[start : start + _PAIRS_PER_QUERY]),
                assignments.c.tenant_id == tenant_id,
            )
        )
        found.extend(AttributionRow(*row) for row in conn.execute(query).all() if (row[1], row[2]) in wanted)
    return found


def insert_engagements(conn: Connection, rows: Sequence[tuple[int, EngagementKind, float]]) -> None:
    """Record unique engagements (assignment, kind, time); an existing (assignment, kind) is left alone."""
    values = [{"assignment_id": a, "kind": k, "occurred_at": t} for a, k, t in rows]
    for start in range(0, len(values), _PAIRS_PER_QUERY):
        insert_many_ignoring_conflicts(
            conn, engagements, values[start : start + _PAIRS_PER_QUERY], ("assignment_id", "kind")
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
