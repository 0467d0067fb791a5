"""Reading what the health checks need for one experiment (`services.health` judges it)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from sqlalchemy.engine import Connection

from copyloom.domain.values import Experiment
from copyloom.services import health
from copyloom.services.adjusted import WeightsInForce
from copyloom.services.health import HealthCheck, SentSlice
from copyloom.storage import events as event_repo
from copyloom.storage import experiments as experiment_repo
from copyloom.storage.assignments import CohortCount, experiment_source_ids

SRM_LOOKBACK_S = 7 * 86_400.0
"""The sample-ratio check looks at the last week of sends (and the allocations in force then)."""
DEFAULT_COHORT_WIDTH_S = 60.0


def assess(
    conn: Connection, experiment: Experiment, counts: Sequence[CohortCount], *, now: float, window_s: float
) -> tuple[HealthCheck, ...]:
    """Every health check of a live experiment, from its cohort counts and what the store adds."""
    width = _cohort_width(counts)
    since = now - SRM_LOOKBACK_S
    slices = [
        SentSlice(
            float(c.cohort_s),
            width,
            c.variant_id,
            c.sends,
            sum(c.engagements.get(kind, 0) for kind in health.CURRENTS_KINDS),
        )
        for c in counts
    ]
    history = [
        WeightsInForce(a.computed_at, a.weights)
        for a in experiment_repo.allocations_since(conn, experiment.experiment_id, since - 3600.0)
    ]
    clicks = sum(c.engagements.get("click", 0) + c.engagements.get("bot_click", 0) for c in counts)
    sources = set(experiment.definition.sources) | (
        set(experiment_source_ids(conn, experiment.experiment_id)) - {""}
    )
    unattributed = event_repo.unattributed_counts(conn, experiment.tenant_id)
    if sources:
        stray = sum(n for (source, kind), n in unattributed.items() if kind == "Click" and source in sources)
        scope = "from its campaigns and Canvas steps"
    else:
        stray = sum(n for (_source, kind), n in unattributed.items() if kind == "Click")
        scope = "of the tenant (the snippet sends no campaign id)"
    opens = sum(c.engagements.get("open", 0) for c in counts)
    machine = sum(c.engagements.get("machine_open", 0) for c in counts)
    return (
        health.sample_ratio([s for s in slices if s.start >= since], history, experiment.active_variant_ids),
        health.unattributed_clicks(clicks, stray, scope),
        health.current_silent(slices, now=now, window_s=window_s),
        health.machine_opens(opens, machine),
    )


def _cohort_width(counts: Sequence[CohortCount]) -> float:
    """The send-time bucket width: the smallest gap between bucket starts (the setting's default before
    there are two)."""
    starts = sorted({c.cohort_s for c in counts})
    gaps = [b - a for a, b in itertools.pairwise(starts) if b > a]
    return float(min(gaps)) if gaps else DEFAULT_COHORT_WIDTH_S
