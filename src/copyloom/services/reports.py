"""The figures marketers judge an experiment by: per-variant rates with intervals, the leader and its
P(best), series for charts, uplift over the control and incremental events. See docs/reports.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np

from copyloom.domain.values import (
    Experiment,
    ExperimentId,
    Metric,
    Mode,
    Status,
    TenantId,
    VariantId,
    VariantStatus,
    variant_status,
)
from copyloom.engine.explain import DecisionExplanation
from copyloom.errors import NotFound
from copyloom.services import decision_status
from copyloom.services import report_stats as stats
from copyloom.services.experiments import ExperimentReport, VariantReport, build_report, metric_events
from copyloom.services.health import HealthCheck
from copyloom.services.learning import delay_model
from copyloom.services.report_adjusted import AdjustedFigures, adjusted_figures
from copyloom.services.report_stats import Counts, Interval
from copyloom.services.segments import SegmentBreakdown, segment_breakdown
from copyloom.services.sources import SourceBreakdown, load_source_breakdown
from copyloom.storage import experiments as repo
from copyloom.storage.assignments import CohortCount, cohort_counts, segment_counts
from copyloom.storage.db import Store
from copyloom.storage.experiments import StoredAllocation
from copyloom.storage.guardrails import StoredBreach, breaches_of

MAX_HISTORY_ROWS = 20_000
"""Learner runs read for the charts: two weeks at one run a minute."""
MAX_SERIES_POINTS = 500
"""Time points kept per chart series; longer series keep evenly spaced points and the newest."""
MIN_LEADER_P_BEST = 0.6
"""The dashboard marks a variant as the leader only from this P(best) on (two variants start at 50 %)."""
MIN_LEADER_EVENTS = 10
"""... and only once it has this many metric events (clicks or opens): P(best) on two clicks is noise."""
_T = TypeVar("_T")
_SEED = 0  # a fixed seed: the same data always gives the same intervals
_NO_INTERVAL = Interval(0.0, 0.0)


@dataclass(frozen=True, slots=True)
class VariantFigures:
    variant_id: VariantId
    is_control: bool
    texts: Mapping[str, str]
    sends: int
    delivered: int
    clicks: int
    opens: int
    bot_clicks: int
    machine_opens: int
    bounced: int
    unsubscribed: int
    spam: int
    click_rate: float
    click_rate_ci: Interval
    open_rate: float
    open_rate_ci: Interval
    p_best: float
    weight: float
    cta_clicks: int = 0
    cta_click_rate: float = 0.0
    cta_click_rate_ci: Interval = _NO_INTERVAL
    added_at: float | None = None
    """When it joined the running experiment (its sends are all since then); None: from the start."""
    retired_at: float | None = None
    retired_by: str | None = None

    @property
    def status(self) -> VariantStatus:
        return variant_status(self.retired_at)


@dataclass(frozen=True, slots=True)
class AllocationPoint:
    at: float
    weights: Mapping[VariantId, float]
    p_best: Mapping[VariantId, float]
    winner: VariantId | None


@dataclass(frozen=True, slots=True)
class RatePoint:
    """Sends made up to the send-time cohort starting at `at`, and their metric events so far."""

    at: float
    variant_id: VariantId
    sends: int
    events: int
    rate: float
    ci: Interval


@dataclass(frozen=True, slots=True)
class GainPoint:
    """Incremental metric events of the sends made up to the cohort starting at `at`."""

    at: float
    vs_even: float
    vs_control: float


@dataclass(frozen=True, slots=True)
class Uplift:
    """The variant's metric rate over the control's, minus 1, and the events it earned over the control's
    rate on its own sends (events - sends x control rate)."""

    variant_id: VariantId
    relative: float
    ci: Interval
    incremental_events: float
    incremental_ci: Interval | None = None
    control_sends: int = 0
    is_uncertain: bool = False
    """The control had too few sends, or the interval is too wide, for the figure to mean much
    (`report_stats.is_uplift_uncertain`)."""


@dataclass(frozen=True, slots=True)
class ExperimentFigures:
    experiment: Experiment
    variants: tuple[VariantFigures, ...]
    leader: VariantId | None
    leader_p_best: float | None
    winner: VariantId | None
    last_learned_at: float | None
    history: tuple[AllocationPoint, ...]
    cumulative: tuple[RatePoint, ...]
    gains: tuple[GainPoint, ...]
    incremental_vs_even: float
    incremental_vs_control: float
    uplift: Uplift | None
    incremental_vs_even_ci: Interval | None = None
    incremental_vs_control_ci: Interval | None = None
    is_leader_clear: bool = False
    """The leader has the evidence to be shown as one (`is_clear_leader`)."""
    decision: DecisionExplanation | None = None
    """What the decision rule still lacks, for a leader that is not (yet) the winner."""
    sources: SourceBreakdown | None = None
    """Sends and engagements per Braze campaign or Canvas step."""
    health: tuple[HealthCheck, ...] = ()
    """The health checks of the learner's latest look."""
    breaches: tuple[StoredBreach, ...] = ()
    """Guardrail breaches, oldest first."""
    adjusted: AdjustedFigures | None = None
    """Rates and uplift weighted for the changing split, mature and to date (computed when `now` is
    given and the experiment has an allocation)."""
    segments: SegmentBreakdown | None = None
    """Per segment, for an experiment with context (`services.segments`); None without."""

    @property
    def metric(self) -> Metric:
        return self.experiment.definition.metric

    @property
    def sends(self) -> int:
        return sum(v.sends for v in self.variants)

    @property
    def control(self) -> VariantFigures:
        return next(v for v in self.variants if v.is_control)


@dataclass(frozen=True, slots=True)
class ExperimentSummary:
    experiment_id: ExperimentId
    name: str
    status: Status
    mode: Mode
    metric: Metric
    sends: int
    click_rate: float
    leader: VariantId | None
    leader_p_best: float | None
    winner: VariantId | None
    last_learned_at: float | None
    is_leader_clear: bool = False


def is_clear_leader(p_best: float | None, events: int) -> bool:
    """Whether a leader has the evidence to be shown as one: P(best) >= MIN_LEADER_P_BEST and at least
    MIN_LEADER_EVENTS metric events of its own."""
    return p_best is not None and p_best >= MIN_LEADER_P_BEST and events >= MIN_LEADER_EVENTS


def experiment_figures(
    store: Store,
    experiment_id: str,
    *,
    tenant_id: TenantId | None = None,
    now: float | None = None,
    window_s: float | None = None,
) -> ExperimentFigures:
    """Every figure of one experiment, for its dashboard page and its report.

    Args:
        tenant_id: when given, only an experiment of this tenant is found.
        now: when given, and the experiment is not finished and has no winner, the figures also say
            what the decision rule still lacks (`decision`), as the learner would see it at `now`; and
            the adjusted figures (`adjusted`) count as mature the cohorts sent an attribution window
            before `now`.
        window_s: the attribution window (`COPYLOOM_ATTRIBUTION_WINDOW_H`); None or 0: the time by which
            95 % of clicks arrive under the tenant's fitted delay model.

    Raises:
        NotFound: no such experiment, or it belongs to another tenant (the message does not say which).
    """
    with store.read() as conn:
        experiment = repo.load_experiment(conn, experiment_id)
        if experiment is None or (tenant_id is not None and experiment.tenant_id != tenant_id):
            raise NotFound(f"experiment: no experiment '{experiment_id}'")
        counts = cohort_counts(conn, experiment.experiment_id)
        history = repo.allocation_history(conn, experiment.experiment_id, limit=MAX_HISTORY_ROWS)
        latest = repo.latest_allocations(conn, [experiment.experiment_id]).get(experiment.experiment_id)
        sources = load_source_breakdown(conn, experiment)
        breaches = tuple(breaches_of(conn, experiment.experiment_id))
        by_segment = segment_counts(conn, experiment.experiment_id) if experiment.definition.context else []
    adjusted = None
    if now is not None:
        delay = delay_model(store, experiment.tenant_id, experiment.definition.metric, now)
        with store.read() as conn:
            adjusted = adjusted_figures(
                conn, experiment, counts, now=now, delay_median_s=delay.median_s, delay_sigma=delay.sigma,
                window_s=window_s or None,
            )  # fmt: skip
    figures = figures_from(experiment, counts, history, latest)
    segments = segment_breakdown(experiment, by_segment, latest, figures.leader, np.random.default_rng(_SEED))
    figures = replace(figures, sources=sources, adjusted=adjusted, breaches=breaches, segments=segments)
    if now is None or figures.winner is not None:
        return figures
    decision = decision_status.explain_status(store, experiment, counts, figures.leader, now)
    return replace(figures, decision=decision)


def experiment_summaries(store: Store, tenant_id: TenantId) -> list[ExperimentSummary]:
    """The headline figures of each of a tenant's experiments, oldest first."""
    with store.read() as conn:
        experiments = repo.experiments_of_tenant(conn, tenant_id)
        latest = repo.latest_allocations(conn, [e.experiment_id for e in experiments])
        counts = {e.experiment_id: cohort_counts(conn, e.experiment_id) for e in experiments}
    return [_summary(e, counts[e.experiment_id], latest.get(e.experiment_id)) for e in experiments]


def figures_from(
    experiment: Experiment,
    counts: Sequence[CohortCount],
    history: Sequence[StoredAllocation],
    latest: StoredAllocation | None,
) -> ExperimentFigures:
    """The figures of an experiment from its cohort counts and its allocations (pure)."""
    report = build_report(experiment, counts, latest)
    variants = tuple(_variant_figures(experiment, r) for r in report.variants)
    metric = experiment.definition.metric
    by_variant = {v.variant_id: Counts(v.sends, metric_events(v, metric)) for v in variants}
    control = by_variant[experiment.definition.control.variant_id]
    total = Counts(sum(c.sends for c in by_variant.values()), sum(c.events for c in by_variant.values()))
    rng = np.random.default_rng(_SEED)
    winner = _winner(experiment, latest)
    cumulative, gains = _series(experiment, counts)
    leader_p_best = next((v.p_best for v in variants if v.variant_id == report.leader), None)
    leader_events = by_variant[report.leader].events if report.leader else 0
    return ExperimentFigures(
        experiment=experiment,
        variants=variants,
        leader=report.leader,
        leader_p_best=leader_p_best,
        winner=winner,
        last_learned_at=_last_learned_at(report),
        history=tuple(_thin([_point(a) for a in history])),
        cumulative=cumulative,
        gains=gains,
        incremental_vs_even=stats.incremental_vs_even(list(by_variant.values())),
        incremental_vs_control=stats.incremental_vs_control(total, control),
        uplift=_uplift(winner or report.leader, by_variant, experiment.definition.control.variant_id, rng),
        incremental_vs_even_ci=Interval(*stats.incremental_vs_even_interval(list(by_variant.values()), rng)),
        incremental_vs_control_ci=Interval(*stats.incremental_vs_control_interval(total, control)),
        is_leader_clear=is_clear_leader(leader_p_best, leader_events),
        health=report.health,
    )


def _variant_figures(experiment: Experiment, report: VariantReport) -> VariantFigures:
    clicks, opens = Counts(report.sends, report.clicks), Counts(report.sends, report.opens)
    cta_clicks = Counts(report.sends, report.cta_clicks)
    return VariantFigures(
        variant_id=report.variant_id,
        is_control=report.is_control,
        texts=dict(experiment.variant(report.variant_id).texts),
        sends=report.sends,
        delivered=report.delivered,
        clicks=report.clicks,
        opens=report.opens,
        bot_clicks=report.bot_clicks,
        machine_opens=report.machine_opens,
        bounced=report.bounced,
        unsubscribed=report.unsubscribed,
        spam=report.spam,
        click_rate=clicks.rate,
        click_rate_ci=Interval(*stats.rate_interval(clicks)),
        open_rate=opens.rate,
        open_rate_ci=Interval(*stats.rate_interval(opens)),
        p_best=report.p_best,
        weight=report.weight,
        cta_clicks=report.cta_clicks,
        cta_click_rate=cta_clicks.rate,
        cta_click_rate_ci=Interval(*stats.rate_interval(cta_clicks)),
        added_at=report.added_at,
        retired_at=report.retired_at,
        retired_by=report.retired_by,
    )


def _summary(
    e: Experiment, counts: Sequence[CohortCount], latest: StoredAllocation | None
) -> ExperimentSummary:
    report = build_report(e, counts, latest)
    sends = sum(v.sends for v in report.variants)
    p_best = {v.variant_id: v.p_best for v in report.variants}
    metric = e.definition.metric
    events = {v.variant_id: metric_events(v, metric) for v in report.variants}
    return ExperimentSummary(
        experiment_id=e.experiment_id,
        name=e.definition.name,
        status=e.status,
        mode=e.definition.mode,
        metric=e.definition.metric,
        sends=sends,
        click_rate=sum(v.clicks for v in report.variants) / sends if sends else 0.0,
        leader=report.leader,
        leader_p_best=p_best[report.leader] if report.leader else None,
        winner=_winner(e, latest),
        last_learned_at=_last_learned_at(report),
        is_leader_clear=report.leader is not None
        and is_clear_leader(p_best[report.leader], events[report.leader]),
    )


def _last_learned_at(report: ExperimentReport) -> float | None:
    # The leader is only set once the learner has stored an allocation of its own.
    return report.allocated_at if report.leader is not None else None


def _winner(experiment: Experiment, latest: StoredAllocation | None) -> VariantId | None:
    """A finished experiment's winner (none if it was finished without one), else the learner's."""
    if experiment.status == "finished":
        return experiment.winner
    return latest.winner if latest else None


def _uplift(
    variant_id: VariantId | None,
    by_variant: Mapping[VariantId, Counts],
    control_id: VariantId,
    rng: np.random.Generator,
) -> Uplift | None:
    if variant_id is None or variant_id == control_id:
        return None
    control = by_variant[control_id]
    variant = by_variant[variant_id]
    low, high = stats.relative_uplift_interval(variant, control, rng)
    return Uplift(
        variant_id=variant_id,
        relative=stats.relative_uplift(variant, control),
        ci=Interval(low, high),
        incremental_events=stats.incremental_vs_control(variant, control),
        incremental_ci=Interval(*stats.incremental_vs_control_interval(variant, control)),
        control_sends=control.sends,
        is_uncertain=stats.is_uplift_uncertain(control.sends, low, high),
    )


def _point(allocation: StoredAllocation) -> AllocationPoint:
    return AllocationPoint(allocation.computed_at, allocation.weights, allocation.p_best, allocation.winner)


def _series(
    experiment: Experiment, counts: Sequence[CohortCount]
) -> tuple[tuple[RatePoint, ...], tuple[GainPoint, ...]]:
    """Cumulative rates per variant and incremental events, at each send-time cohort."""
    metric = experiment.definition.metric
    ids = list(experiment.variant_ids)
    times = sorted({c.cohort_s for c in counts})
    sends = np.zeros((len(times), len(ids)), dtype=np.int64)
    events = np.zeros((len(times), len(ids)), dtype=np.int64)
    row, column = {t: i for i, t in enumerate(times)}, {v: j for j, v in enumerate(ids)}
    for c in counts:
        sends[row[c.cohort_s], column[c.variant_id]] += c.sends
        events[row[c.cohort_s], column[c.variant_id]] += c.engagements.get(metric, 0)
    kept = _thin(list(range(len(times))))
    sends, events = np.cumsum(sends, axis=0)[kept], np.cumsum(events, axis=0)[kept]
    low, high = stats.rate_intervals(events, sends)
    control = ids.index(experiment.definition.control.variant_id)
    rates: list[RatePoint] = []
    gains: list[GainPoint] = []
    for i, t in enumerate(times[k] for k in kept):
        per_variant = [Counts(int(n), int(e)) for n, e in zip(sends[i], events[i], strict=True)]
        total = Counts(int(sends[i].sum()), int(events[i].sum()))
        gains.append(
            GainPoint(
                float(t),
                stats.incremental_vs_even(per_variant),
                stats.incremental_vs_control(total, per_variant[control]),
            )
        )
        rates.extend(
            RatePoint(
                float(t), ids[j], c.sends, c.events, c.rate, Interval(float(low[i, j]), float(high[i, j]))
            )
            for j, c in enumerate(per_variant)
            if c.sends
        )
    return tuple(rates), tuple(gains)


def _thin(items: list[_T]) -> list[_T]:
    """At most MAX_SERIES_POINTS items, evenly spaced, always with the first and the last."""
    if len(items) <= MAX_SERIES_POINTS:
        return items
    step = (len(items) - 1) / (MAX_SERIES_POINTS - 1)
    return [items[round(i * step)] for i in range(MAX_SERIES_POINTS)]
