"""Assignments (one per experiment, recipient and dispatch), engagements, and the counts built on them."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from copyloom.domain.events import EngagementKind
from copyloom.domain.values import RecipientField, RecipientKey, SegmentId, TenantId, VariantId
from copyloom.storage.db import add_to_counter, insert_ignoring_conflicts
from copyloom.storage.events import STAGED_EVENTS, placeholders
from copyloom.storage.tables import (
    assignments,
    engagements,
    experiment_cta_links,
    experiment_sources,
    experiments,
    other_source_events,
)


@dataclass(frozen=True, slots=True)
class AssignmentRow:
    assignment_id: int
    experiment_id: str
    recipient_key: RecipientKey
    dispatch_id: str
    variant_id: VariantId
    assigned_at: float
    propensity: float | None = None
    """The probability its variant was chosen with (None for rows made before it was recorded)."""


@dataclass(frozen=True, slots=True)
class NewAssignment:
    tenant_id: TenantId
    experiment_id: str
    recipient_key: RecipientKey
    dispatch_id: str
    variant_id: VariantId
    assigned_at: float
    cohort_s: int
    source_id: str = ""
    """The Braze campaign or Canvas step the content call came from ("" when it named none)."""
    segment: SegmentId = ""
    """The recipient's segment (`domain.context`); "" for an experiment without context."""
    propensity: float | None = None
    """The probability `variant_id` was chosen with: its weight in the segment's weights in force."""


@dataclass(frozen=True, slots=True)
class CohortCount:
    """Sends of one variant in one send-time bucket (and segment, when asked by segment), with their
    unique engagements by kind."""

    variant_id: VariantId
    cohort_s: int
    sends: int
    engagements: dict[EngagementKind, int]
    segment: SegmentId = ""


_ROW_COLUMNS = (
    assignments.c.assignment_id,
    assignments.c.experiment_id,
    assignments.c.recipient_key,
    assignments.c.dispatch_id,
    assignments.c.variant_id,
    assignments.c.assigned_at,
    assignments.c.propensity,
)


_ROW_NAMES = ", ".join(column.name for column in _ROW_COLUMNS)
_NEW_NAMES = tuple(field.name for field in dataclasses.fields(NewAssignment))
_new_values = operator.attrgetter(*_NEW_NAMES)
"""A `NewAssignment`'s values in the order of `_NEW_NAMES`."""
_ROWS_PER_STATEMENT = 500
"""Rows per statement: 500 x 10 parameters stays far below SQLite's and psycopg's parameter limits."""

RECIPIENTS_SQL_PG = (
    f"SELECT {', '.join(f'a.{c.name}' for c in _ROW_COLUMNS)} FROM unnest(%s::text[]) AS k(key) "
    f"CROSS JOIN LATERAL (SELECT * FROM {assignments.name} "
    "WHERE experiment_id = %s AND recipient_key = k.key OFFSET 0) a"
)
"""`assignments_of_recipients` on PostgreSQL: parameters (the recipient keys as a list, the experiment)."""


def assignments_of_recipients(
    conn: Connection, experiment_id: str, recipient_keys: Sequence[str]
) -> list[AssignmentRow]:
    """Every assignment (any dispatch) of these recipients in one experiment.

    On PostgreSQL, one probe of the unique index on (experiment, recipient) per recipient, as a lateral
    join over the keys that the planner may not flatten (`OFFSET 0`), whatever its statistics say.
    Written as `experiment_id = … AND recipient_key IN (…)`, it took a running experiment for a rare one
    when the statistics predated the send (a new id is not among the common values until the next
    ANALYZE, which on a large table waits for 10 % of it to change) and walked every assignment of the
    experiment per batch: a group commit of 26 took 5 ms at the start and 38 ms after 30,000
    assignments; now 3.4–4.0 ms throughout. SQLite's planner probes the unique index for each key.
    """
    if not recipient_keys:
        return []
    keys = sorted(set(recipient_keys))
    if conn.dialect.name == "postgresql":
        return [AssignmentRow(*row) for row in conn.exec_driver_sql(RECIPIENTS_SQL_PG, (keys, experiment_id))]
    rows: list[AssignmentRow] = []
    for start in range(0, len(keys), _ROWS_PER_STATEMENT):
        chunk = keys[start : start + _ROWS_PER_STATEMENT]
        sql = (
            f"SELECT {_ROW_NAMES} FROM {assignments.name} "
            f"WHERE experiment_id = ? AND recipient_key IN ({placeholders(conn, len(chunk))})"
        )
        rows.extend(AssignmentRow(*row) for row in conn.exec_driver_sql(sql, (experiment_id, *chunk)))
    return rows


def insert_assignments(conn: Connection, rows: Sequence[NewAssignment]) -> list[AssignmentRow]:
    """Insert new assignments, a multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING` per 500 rows; a
    row whose (experiment, recipient, dispatch) exists is left as it was. Returns the rows this call
    inserted (in no particular order).

    The driver's own statements (here and in `assignments_of_recipients`), not SQLAlchemy's: this is
    the group commit's hot path, where SQLAlchemy's statement building and per-row parameter processing
    cost more CPU than SQLite's own work (a throwaway script, batches of 32 new rows on SQLite: 3.8 ms of
    user CPU per batch through SQLAlchemy's insert and select, 2.1 to 2.4 ms this way).
    """
    # In the unique key's order: two workers inserting the same recipients (Braze renders an email's HTML,
    # text and AMP at once) then wait for each other in one order, never in a cycle. In arrival order,
    # PostgreSQL saw deadlocks under load (the serve benchmark, two workers, 256 connections).
    ordered = sorted(rows, key=lambda r: (r.experiment_id, r.recipient_key, r.dispatch_id))
    inserted: list[AssignmentRow] = []
    for start in range(0, len(ordered), _ROWS_PER_STATEMENT):
        chunk = ordered[start : start + _ROWS_PER_STATEMENT]
        values = ", ".join([f"({placeholders(conn, len(_NEW_NAMES))})"] * len(chunk))
        sql = (
            f"INSERT INTO {assignments.name} ({', '.join(_NEW_NAMES)}) VALUES {values} "
            f"ON CONFLICT (experiment_id, recipient_key, dispatch_id) DO NOTHING RETURNING {_ROW_NAMES}"
        )
        parameters = tuple(value for r in chunk for value in _new_values(r))
        inserted.extend(AssignmentRow(*row) for row in conn.exec_driver_sql(sql, parameters))
    return inserted


def assignment_by_id(conn: Connection, assignment_id: int) -> AssignmentRow | None:
    row = conn.execute(sa.select(*_ROW_COLUMNS).where(assignments.c.assignment_id == assignment_id)).first()
    return AssignmentRow(*row) if row else None


@dataclass(frozen=True, slots=True)
class StagedTally:
    """The fresh (never seen before) staged events of one campaign or step and event kind."""

    source_id: str
    kind: str
    fresh: int
    counted: int  # fresh events of a kind that counts for its assignment
    attributed: int  # counted events that matched at least one assignment


def _staged_match(conn: Connection, field: RecipientField) -> str:
    """The condition, on a staged event `s` and an assignment `a` of experiment `e`, that the event is the
    assignment's: same dispatch, the recipient key of the field the experiment joins on, same tenant (the
    one parameter)."""
    column = _KEY_COLUMN_OF_FIELD[field]
    return (
        f"a.recipient_key = s.{column} AND a.dispatch_id = s.dispatch_id "
        f"AND a.tenant_id = {placeholders(conn, 1)} "
        f"AND e.experiment_id = a.experiment_id AND e.recipient_field = '{field}'"
    )


_COUNTED = "s.fresh AND s.engagement_kind IS NOT NULL AND s.dispatch_id IS NOT NULL"


_STAGED_MATCHES = "copyloom_staged_matches"
"""A temporary table (per connection): which assignments each staged event matched, and whether the event
came from a campaign or Canvas step the assignment's experiment does not name (`other_source`)."""

_MATCHES_DDL = {
    "sqlite": f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGED_MATCHES} "
    "(seq INTEGER NOT NULL, assignment_id INTEGER NOT NULL, other_source BOOLEAN NOT NULL, "
    "PRIMARY KEY (seq, assignment_id)) WITHOUT ROWID",
    "postgresql": f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGED_MATCHES} "
    "(seq BIGINT NOT NULL, assignment_id BIGINT NOT NULL, other_source BOOLEAN NOT NULL, "
    "PRIMARY KEY (seq, assignment_id))",
}

_OTHER_SOURCE = (
    f"(EXISTS (SELECT 1 FROM {experiment_sources.name} x WHERE x.experiment_id = e.experiment_id) "
    f"AND NOT EXISTS (SELECT 1 FROM {experiment_sources.name} x "
    "WHERE x.experiment_id = e.experiment_id AND x.source_id = s.source_id))"
)
"""Whether staged event `s` comes from outside experiment `e`'s named campaigns and Canvas steps (an
experiment that names none takes events from any)."""


def insert_staged_engagements(conn: Connection, tenant_id: TenantId) -> None:
    """Match the fresh staged events (see `events.stage_events`) to assignments, and record their unique
    engagements.

    An email may carry several experiments (subject and call to action), so one event can match several
    assignments. An existing (assignment, kind) is left alone, and of two staged the earlier wins. An event
    from a campaign or Canvas step the experiment does not name is matched but not recorded: it is counted
    apart (`other_source_events`). The matches are kept for `staged_tallies`, so each event is looked up
    once.
    """
    conn.exec_driver_sql(_MATCHES_DDL[conn.dialect.name])
    conn.exec_driver_sql(f"DELETE FROM {_STAGED_MATCHES}")
    # CROSS JOIN makes SQLite loop over the staged events and look each up by the assignments' covering
    # index (a temporary table has no statistics, and it would scan the assignments instead); PostgreSQL
    # plans it as the inner join it is.
    per_field = [
        f"SELECT s.seq, a.assignment_id, {_OTHER_SOURCE} FROM {STAGED_EVENTS} s "
        f"CROSS JOIN {assignments.name} a CROSS JOIN {experiments.name} e "
        f"WHERE {_COUNTED} AND {_staged_match(conn, field)}"
        for field in _KEY_COLUMN_OF_FIELD
    ]
    conn.exec_driver_sql(
        f"INSERT INTO {_STAGED_MATCHES} (seq, assignment_id, other_source) {' UNION ALL '.join(per_field)}",
        (tenant_id,) * len(per_field),
    )
    conn.exec_driver_sql(
        f"INSERT INTO {engagements.name} (assignment_id, kind, occurred_at) "
        f"SELECT m.assignment_id, s.engagement_kind, s.time_s FROM {_STAGED_MATCHES} m "
        f"CROSS JOIN {STAGED_EVENTS} s WHERE s.seq = m.seq AND NOT m.other_source "
        "ORDER BY m.seq ON CONFLICT (assignment_id, kind) DO NOTHING"
    )
    # A click on one of its experiment's CTA links is a `cta_click` too; the alias is never stored.
    conn.exec_driver_sql(
        f"INSERT INTO {engagements.name} (assignment_id, kind, occurred_at) "
        f"SELECT m.assignment_id, 'cta_click', s.time_s FROM {_STAGED_MATCHES} m "
        f"CROSS JOIN {STAGED_EVENTS} s CROSS JOIN {assignments.name} a "
        f"CROSS JOIN {experiment_cta_links.name} c "
        "WHERE s.seq = m.seq AND NOT m.other_source AND s.engagement_kind = 'click' "
        "AND a.assignment_id = m.assignment_id "
        "AND c.experiment_id = a.experiment_id AND c.link_alias = s.link_alias "
        "ORDER BY m.seq ON CONFLICT (assignment_id, kind) DO NOTHING"
    )


def staged_tallies(conn: Connection) -> list[StagedTally]:
    """The fresh staged events by campaign or step and kind: how many, how many count, how many were
    attributed (after `insert_staged_engagements`)."""
    counted = "s.engagement_kind IS NOT NULL"
    matched = f"EXISTS (SELECT 1 FROM {_STAGED_MATCHES} m WHERE m.seq = s.seq AND NOT m.other_source)"
    rows = conn.exec_driver_sql(
        f"SELECT s.source_id, s.kind, count(*), sum(CASE WHEN {counted} THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN {matched} THEN 1 ELSE 0 END) "
        f"FROM {STAGED_EVENTS} s WHERE s.fresh GROUP BY s.source_id, s.kind"
    )
    return [StagedTally(source, kind, int(n), int(c), int(m)) for source, kind, n, c, m in rows]


def count_other_source_events(conn: Connection) -> None:
    """Add the staged events that matched an assignment but came from a campaign or Canvas step its
    experiment does not name to `other_source_events`, per experiment, source and kind."""
    rows = conn.exec_driver_sql(
        f"SELECT a.experiment_id, s.source_id, s.engagement_kind, count(*) FROM {_STAGED_MATCHES} m "
        f"CROSS JOIN {STAGED_EVENTS} s CROSS JOIN {assignments.name} a "
        "WHERE m.other_source AND s.seq = m.seq AND a.assignment_id = m.assignment_id "
        "GROUP BY a.experiment_id, s.source_id, s.engagement_kind"
    ).all()
    for experiment_id, source_id, kind, n in sorted(rows):
        key = {"experiment_id": experiment_id, "source_id": source_id, "kind": kind}
        add_to_counter(conn, other_source_events, key, "count", int(n))


def experiment_source_ids(conn: Connection, experiment_id: str) -> list[str]:
    """The campaigns and Canvas steps an experiment's content calls came from ("" for calls without one)."""
    query = sa.select(assignments.c.source_id).where(assignments.c.experiment_id == experiment_id).distinct()
    return [str(s) for s in conn.execute(query).scalars()]


def other_source_counts(conn: Connection, experiment_id: str) -> dict[tuple[str, str], int]:
    """An experiment's events counted apart, by (campaign or Canvas step id, engagement kind)."""
    table = other_source_events
    query = sa.select(table.c.source_id, table.c.kind, table.c.count)
    rows = conn.execute(query.where(table.c.experiment_id == experiment_id))
    return {(source, kind): int(n) for source, kind, n in rows}


_KEY_COLUMN_OF_FIELD: dict[RecipientField, str] = {
    "user_id": "user_key",
    "external_user_id": "external_user_key",
}


def insert_engagement(conn: Connection, assignment_id: int, kind: EngagementKind, occurred_at: float) -> bool:
    """Record a unique engagement; False when this assignment already had one of this kind."""
    row = {"assignment_id": assignment_id, "kind": kind, "occurred_at": occurred_at}
    return insert_ignoring_conflicts(conn, engagements, [row], ("assignment_id", "kind")) == 1


def cohort_counts(conn: Connection, experiment_id: str, *, by_segment: bool = False) -> list[CohortCount]:
    """Sends and unique engagements per variant and send-time bucket (and segment, with `by_segment`);
    `open` counts real opens (see `EngagementKind`), and `pixel_open` is not reported on its own."""
    if not by_segment:
        grouped = _grouped_counts(conn, experiment_id, assignments.c.cohort_s)
        counts = [
            CohortCount(variant, int(cohort), sends, engaged)
            for (variant, cohort), (sends, engaged) in grouped
        ]
        return sorted(counts, key=lambda c: (c.cohort_s, c.variant_id))
    # One grouping column: the bucket and the segment joined ("<cohort_s>|<segment>") in the query.
    joined = sa.cast(assignments.c.cohort_s, sa.String) + "|" + assignments.c.segment
    by_both = _grouped_counts(conn, experiment_id, joined)
    counts = []
    for (variant, key), (sends, engaged) in by_both:
        cohort, _, segment = str(key).partition("|")
        counts.append(CohortCount(variant, int(cohort), sends, engaged, segment))
    return sorted(counts, key=lambda c: (c.cohort_s, c.segment, c.variant_id))


@dataclass(frozen=True, slots=True)
class SourceCount:
    """Sends of one variant served to one Braze campaign or Canvas step, with their unique engagements."""

    source_id: str  # "" for content calls that named none
    variant_id: VariantId
    sends: int
    engagements: dict[EngagementKind, int]


def source_counts(conn: Connection, experiment_id: str) -> list[SourceCount]:
    """`cohort_counts`, by the campaign or Canvas step each send was served to instead of its send time."""
    grouped = _grouped_counts(conn, experiment_id, assignments.c.source_id)
    counts = [
        SourceCount(str(source), variant, sends, engaged) for (variant, source), (sends, engaged) in grouped
    ]
    return sorted(counts, key=lambda c: (c.source_id, c.variant_id))


def _grouped_counts(
    conn: Connection, experiment_id: str, group: sa.ColumnElement[Any]
) -> list[tuple[tuple[VariantId, Any], tuple[int, dict[EngagementKind, int]]]]:
    """Sends and unique engagements (real opens as `open`) per variant and value of `group`."""
    sends_query = (
        sa.select(assignments.c.variant_id, group, sa.func.count())
        .where(assignments.c.experiment_id == experiment_id)
        .group_by(assignments.c.variant_id, group)
    )
    engaged_query = (
        sa.select(assignments.c.variant_id, group, engagements.c.kind, sa.func.count())
        .join(engagements, engagements.c.assignment_id == assignments.c.assignment_id)
        .where(assignments.c.experiment_id == experiment_id, engagements.c.kind.not_in(_REAL_OPEN_PARTS))
        .group_by(assignments.c.variant_id, group, engagements.c.kind)
    )
    counts: dict[tuple[VariantId, Any], tuple[int, dict[EngagementKind, int]]] = {
        (variant, value): (sends, {}) for variant, value, sends in conn.execute(sends_query)
    }
    for variant, value, kind, n in conn.execute(engaged_query):
        counts[(variant, value)][1][kind] = n
    for variant, value, n in conn.execute(_real_opens_query(experiment_id, group)):
        counts[(variant, value)][1]["open"] = n
    return list(counts.items())


_REAL_OPEN_PARTS: tuple[EngagementKind, ...] = ("open", "pixel_open")


def _real_opens_query(experiment_id: str, group: sa.ColumnElement[Any]) -> sa.Select[tuple[str, Any, int]]:
    """Real opens per variant and value of `group`: assignments with an `open`, or a `pixel_open` and no
    `machine_open`, whichever order they were recorded in."""

    def has(kind: EngagementKind) -> sa.ColumnElement[bool]:
        return sa.func.max(sa.case((engagements.c.kind == kind, 1), else_=0)) == 1

    opened = (
        sa.select(assignments.c.variant_id, group.label("grouped"))
        .join(engagements, engagements.c.assignment_id == assignments.c.assignment_id)
        .where(
            assignments.c.experiment_id == experiment_id,
            engagements.c.kind.in_((*_REAL_OPEN_PARTS, "machine_open")),
        )
        .group_by(assignments.c.assignment_id, assignments.c.variant_id, group)
        .having(sa.or_(has("open"), sa.and_(has("pixel_open"), sa.not_(has("machine_open")))))
        .subquery()
    )
    return sa.select(opened.c.variant_id, opened.c.grouped, sa.func.count()).group_by(
        opened.c.variant_id, opened.c.grouped
    )


_SAME_TIMING: dict[EngagementKind, tuple[EngagementKind, ...]] = {"open": _REAL_OPEN_PARTS}
"""The kinds whose delays are pooled for a metric's delay model: a pixel open is timed as an open."""


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
            engagements.c.kind.in_(_SAME_TIMING.get(kind, (kind,))),
            assignments.c.assigned_at <= sent_before,
            delay >= 0,
            delay <= max_delay_s,
        )
        .order_by(assignments.c.assigned_at.desc())
        .limit(limit)
    )
    return [float(d) for d in conn.execute(query).scalars()]


# Segments: per-segment counts for the reports (the decisions export reads `storage.decisions`).


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """Sends of one variant in one segment ("" when not segmented), with their unique engagements."""

    segment: str
    variant_id: VariantId
    sends: int
    engagements: dict[EngagementKind, int]


def segment_counts(conn: Connection, experiment_id: str) -> list[SegmentCount]:
    """`cohort_counts`, by the recipients' segment instead of the send time."""
    grouped = _grouped_counts(conn, experiment_id, assignments.c.segment)
    counts = [SegmentCount(str(s), variant, n, engaged) for (variant, s), (n, engaged) in grouped]
    return sorted(counts, key=lambda c: (c.segment, c.variant_id))
