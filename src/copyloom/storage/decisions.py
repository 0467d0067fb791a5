"""The decisions export's reader: an experiment's assignments one chunk at a time, with the engagement
flags an offline policy evaluation needs (`services.decisions`)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from copyloom.domain.events import EngagementKind
from copyloom.domain.values import RecipientKey, VariantId
from copyloom.storage.tables import assignments, engagements


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One assignment as the decisions export writes it."""

    assignment_id: int
    recipient_key: RecipientKey
    dispatch_id: str
    segment: str
    variant_id: VariantId
    propensity: float | None
    """The weight the variant had in the segment's allocation when chosen; None for older assignments."""
    assigned_at: float
    source_id: str
    clicked: bool
    opened: bool
    """A real open: an `open`, or a `pixel_open` without a `machine_open` (see `EngagementKind`)."""
    bot_click: bool
    machine_open: bool


def _has_engagement(*kinds: EngagementKind) -> sa.Exists:
    return sa.exists().where(
        engagements.c.assignment_id == assignments.c.assignment_id, engagements.c.kind.in_(kinds)
    )


def decision_rows(conn: Connection, experiment_id: str, *, after_id: int, limit: int) -> list[DecisionRow]:
    """Up to `limit` of an experiment's assignments whose id is above `after_id`, in assignment order,
    with their engagement flags: page through with the last row's `assignment_id`."""
    machine = _has_engagement("machine_open")
    opened = sa.or_(_has_engagement("open"), sa.and_(_has_engagement("pixel_open"), sa.not_(machine)))
    query = (
        sa.select(
            assignments.c.assignment_id,
            assignments.c.recipient_key,
            assignments.c.dispatch_id,
            assignments.c.segment,
            assignments.c.variant_id,
            assignments.c.propensity,
            assignments.c.assigned_at,
            assignments.c.source_id,
            _has_engagement("click"),
            opened,
            _has_engagement("bot_click"),
            machine,
        )
        .where(assignments.c.experiment_id == experiment_id, assignments.c.assignment_id > after_id)
        .order_by(assignments.c.assignment_id)
        .limit(limit)
    )
    # SQLite answers EXISTS with 0 or 1, PostgreSQL with a boolean.
    return [DecisionRow(*row[:8], *(bool(flag) for flag in row[8:])) for row in conn.execute(query)]
