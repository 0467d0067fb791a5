"""The learner: from stored counts to new weights for every live experiment, one failure at a time.

The click (or open) delay model is fitted once per pass for each tenant and metric, pooled over the
tenant's experiments, from sends old enough to have had all their engagements; while that data is thin
the engine's prior dominates, and broadcast experiments refine it from their own cohorts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from copyloom.domain.events import METRIC_KIND
from copyloom.domain.values import Experiment, ExperimentId, Metric, SegmentId, TenantId, VariantId
from copyloom.engine import Allocation, Cohort, DelayModel, PolicyConfig, allocate, estimate_delay_model
from copyloom.errors import Conflict
from copyloom.services import alerts, experiment_health, guardrails, health, variants
from copyloom.services.adjusted import mature_window_s
from copyloom.services.health import HealthCheck
from copyloom.storage import experiments as experiment_repo
from copyloom.storage.assignments import CohortCount, cohort_counts, engagement_delays
from copyloom.storage.db import Store
from copyloom.storage.experiments import StoredAllocation, StoredSegment
from copyloom.storage.guardrails import StoredBreach

log = logging.getLogger(__name__)

DELAY_WINDOW_S = 7 * 86_400.0
"""Engagements later than this after their send are not modelled (nor, in practice, expected)."""


@dataclass(frozen=True, slots=True)
class LearnOutcome:
    """One experiment's result of a learner pass: an allocation, or the error that stopped it."""

    experiment_id: ExperimentId
    allocation: Allocation | None
    error: str | None = None
    retired: VariantId | None = None
    """The variant the `auto_retire` rule retired in this pass, if any."""
    health: tuple[HealthCheck, ...] = ()
    """The health checks of this look."""
    breaches: tuple[StoredBreach, ...] = ()
    """Guardrail breaches found at this look (each variant and metric once)."""


def cohorts_for(experiment: Experiment, counts: Sequence[CohortCount]) -> list[Cohort]:
    """Engine cohorts of the live variants from stored counts, counting the experiment's metric (bots and
    machine opens apart); a retired variant's cohorts are left out, as it gets no new traffic."""
    kind = METRIC_KIND[experiment.definition.metric]
    active = set(experiment.active_variant_ids)
    return [
        Cohort(
            variant=c.variant_id,
            sent_at=float(c.cohort_s),
            sends=c.sends,
            clicks=c.engagements.get(kind, 0),
            segment=c.segment or None,
        )
        for c in counts
        if c.variant_id in active
    ]


def overall_counts(counts: Sequence[CohortCount]) -> list[CohortCount]:
    """Counts by segment added up per variant and send-time bucket: the experiment's overall figures."""
    merged: dict[tuple[VariantId, int], CohortCount] = {}
    for c in counts:
        key = (c.variant_id, c.cohort_s)
        found = merged.get(key)
        if found is None:
            merged[key] = CohortCount(c.variant_id, c.cohort_s, c.sends, dict(c.engagements))
            continue
        engaged = dict(found.engagements)
        for kind, n in c.engagements.items():
            engaged[kind] = engaged.get(kind, 0) + n
        merged[key] = CohortCount(c.variant_id, c.cohort_s, found.sends + c.sends, engaged)
    return sorted(merged.values(), key=lambda c: (c.cohort_s, c.variant_id))


def stored_segments(experiment: Experiment, allocation: Allocation) -> dict[SegmentId, StoredSegment] | None:
    """The per-segment weights, P(best) and winners to store (every variant present, those not drawn at
    0); None for an experiment without context."""
    if not experiment.definition.context:
        return None
    not_drawn = dict.fromkeys(experiment.variant_ids, 0.0)
    return {
        segment: StoredSegment({**not_drawn, **s.weights}, {**not_drawn, **s.p_best}, s.winner)
        for segment, s in allocation.segments.items()
    }


def delay_model(store: Store, tenant_id: TenantId, metric: Metric, now: float) -> DelayModel:
    """The tenant's delay model for a metric, from its sends older than the delay window."""
    with store.read() as conn:
        delays = engagement_delays(
            conn,
            tenant_id,
            METRIC_KIND[metric],
            sent_before=now - DELAY_WINDOW_S,
            max_delay_s=DELAY_WINDOW_S,
        )
    return estimate_delay_model(delays)


def policy_config(experiment: Experiment, samples: int, delay: DelayModel) -> PolicyConfig:
    """The engine's settings for an experiment, as the learner runs it."""
    definition = experiment.definition
    return PolicyConfig(
        policy="thompson",
        mode=definition.mode,
        floor=definition.floor,
        control_holdout=definition.control_holdout,
        min_sends_per_variant=definition.min_sends_per_variant,
        samples=samples,
        delay=delay,
    )


def learn_experiment(
    store: Store,
    experiment: Experiment,
    now: float,
    rng: np.random.Generator,
    samples: int,
    *,
    delay: DelayModel | None = None,
) -> LearnOutcome:
    """Recompute and store one experiment's allocation, with the health checks and guardrails of this look,
    then apply its `auto_retire` rule.

    A variant that breaches a guardrail (or did before) is held at the floor; with the rule's action
    `retire`, a new breach also retires it when it may be (not the control, two stay live).
    """
    if delay is None:
        delay = delay_model(store, experiment.tenant_id, experiment.definition.metric, now)
    window = mature_window_s(delay.median_s, delay.sigma)
    definition = experiment.definition
    with store.read() as conn:
        # With context, counts by segment too: the overall figures (health, guardrails, auto-retire, the
        # overall weights and winner) are their sums, each segment's weights its own and the pool's.
        if definition.context:
            by_segment = cohort_counts(conn, experiment.experiment_id, by_segment=True)
            counts = overall_counts(by_segment)
        else:
            by_segment = counts = cohort_counts(conn, experiment.experiment_id)
        checks = experiment_health.assess(conn, experiment, counts, now=now, window_s=window)
        guarded = guardrails.look(conn, experiment, counts, rng)
    config = policy_config(experiment, samples, delay)
    allocation = allocate(
        variants=list(experiment.active_variant_ids),
        cohorts=cohorts_for(experiment, by_segment),
        now=now,
        config=config,
        rng=rng,
        control=definition.control.variant_id,
        capped=guarded.held,
        segments=sorted({c.segment for c in by_segment if c.segment}),
    )
    not_drawn = dict.fromkeys((v for v in experiment.variant_ids if v not in allocation.weights), 0.0)
    stored = StoredAllocation(
        experiment.experiment_id,
        now,
        {**allocation.weights, **not_drawn},
        {**allocation.p_best, **not_drawn},
        allocation.winner,
        allocation.reason,
        health.checks_json(checks),
        stored_segments(experiment, allocation),
    )
    with store.write() as conn:
        experiment_repo.insert_allocation(conn, stored)
        breaches = guardrails.record(conn, experiment, guarded.new, now)
    rule = definition.guardrails
    for breach in breaches if rule is not None and rule.action == "retire" else ():
        try:
            variants.retire_variant(store, experiment.experiment_id, breach.variant_id, now, by="auto")
        except Conflict:  # already retired, or one of the last two: it stays at the floor
            log.info("guardrail breach of %s kept at the floor (cannot retire)", breach.variant_id)
    auto_retired = apply_auto_retire(store, experiment, counts, now)
    return LearnOutcome(
        experiment.experiment_id, allocation, retired=auto_retired, health=checks, breaches=tuple(breaches)
    )


def learn_once(store: Store, now: float, rng: np.random.Generator, samples: int) -> list[LearnOutcome]:
    """One pass over every live experiment; a failing experiment is logged and the others go on.

    What the pass found that a tenant should hear of (a winner, an automatic retirement, a failure) goes
    to the tenant's webhooks (`alerts.alert_learn_pass`).
    """
    with store.read() as conn:
        live = experiment_repo.experiments_with_status(conn, ["live"])
    delays: dict[tuple[TenantId, Metric], DelayModel] = {}
    outcomes: list[LearnOutcome] = []
    for experiment in live:
        try:
            key = (experiment.tenant_id, experiment.definition.metric)
            if key not in delays:
                delays[key] = delay_model(store, *key, now)
            outcomes.append(learn_experiment(store, experiment, now, rng, samples, delay=delays[key]))
        except Exception as exc:  # isolate: one experiment's failure never stops the pass
            log.exception("learner failed on experiment %s", experiment.experiment_id)
            outcomes.append(LearnOutcome(experiment.experiment_id, None, f"{type(exc).__name__}: {exc}"))
    passed = [
        alerts.PassOutcome(e, o.allocation, o.error, o.retired, o.health, o.breaches)
        for e, o in zip(live, outcomes, strict=True)
    ]
    alerts.alert_learn_pass(store, passed, now, cohorts_for)
    return outcomes


def apply_auto_retire(
    store: Store, experiment: Experiment, counts: Sequence[CohortCount], now: float
) -> VariantId | None:
    """Retire the variant a triggered experiment's `auto_retire` rule says is due (see
    `variants.due_for_retirement`), after this pass's allocation, from the counts it was made on; None
    when the rule is off or none is."""
    rule = experiment.definition.auto_retire
    if rule is None or experiment.definition.mode != "triggered":
        return None
    with store.read() as conn:
        history = experiment_repo.allocations_since(
            conn, experiment.experiment_id, now - rule.for_hours * 3600
        )
    sends: dict[VariantId, int] = {}
    for c in counts:
        sends[c.variant_id] = sends.get(c.variant_id, 0) + c.sends
    due = variants.due_for_retirement(experiment, rule, history, sends, now)
    if due is None:
        return None
    try:
        variants.retire_variant(store, experiment.experiment_id, due, now, by="auto")
    except Conflict:  # a guardrail retired it at this look already
        return None
    log.info("auto-retired variant %s of experiment %s", due, experiment.experiment_id)
    return due
