"""Guardrail breaches: recorded once per experiment, variant and metric, with the figures found."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from copyloom.domain.values import GuardrailAction, GuardrailMetric, VariantId
from copyloom.storage.db import insert_ignoring_conflicts
from copyloom.storage.tables import guardrail_breaches


@dataclass(frozen=True, slots=True)
class StoredBreach:
    experiment_id: str
    variant_id: VariantId
    metric: GuardrailMetric
    detected_at: float
    variant_sends: int
    variant_events: int
    control_sends: int
    control_events: int
    probability: float
    margin: float
    action: GuardrailAction

    @property
    def variant_rate(self) -> float:
        return self.variant_events / self.variant_sends if self.variant_sends else 0.0

    @property
    def control_rate(self) -> float:
        return self.control_events / self.control_sends if self.control_sends else 0.0


def record_breach(conn: Connection, breach: StoredBreach) -> bool:
    """Record a breach; False when this (experiment, variant, metric) had one already."""
    row = {name: getattr(breach, name) for name in StoredBreach.__dataclass_fields__}
    return (
        insert_ignoring_conflicts(conn, guardrail_breaches, [row], ("experiment_id", "variant_id", "metric"))
        == 1
    )


def breaches_of(conn: Connection, experiment_id: str) -> list[StoredBreach]:
    """An experiment's breaches, oldest first."""
    query = (
        sa.select(guardrail_breaches)
        .where(guardrail_breaches.c.experiment_id == experiment_id)
        .order_by(
            guardrail_breaches.c.detected_at, guardrail_breaches.c.variant_id, guardrail_breaches.c.metric
        )
    )
    return [StoredBreach(**row) for row in conn.execute(query).mappings()]
