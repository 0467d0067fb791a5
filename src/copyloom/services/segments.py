"""Figures per segment of an experiment with context: per variant the sends, metric events, rate with its
interval, P(best) and weight; each segment's leader and winner, where it disagrees with the overall
leader, and the incremental events of choosing per segment. See docs/reports.md, "By segment".

The figures are pure (`segment_breakdown`); `experiment_segments` reads what they need from the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from copyloom.domain.events import METRIC_KIND
from copyloom.domain.values import Experiment, Metric, SegmentId, TenantId, VariantId
from copyloom.errors import NotFound
from copyloom.services import report_stats as stats
from copyloom.services.experiments import metric_events
from copyloom.services.report_stats import Counts, Interval
from copyloom.storage import experiments as repo
from copyloom.storage.assignments import SegmentCount, segment_counts
from copyloom.storage.db import Store
from copyloom.storage.experiments import StoredAllocation, StoredSegment

PRIOR = 0.5
"""The incremental interval draws each rate from Beta(PRIOR + events, PRIOR + sends - events) (Jeffreys)."""
_SEED = 0  # a fixed seed: the same data always gives the same interval


@dataclass(frozen=True, slots=True)
class SegmentVariant:
    """One variant's figures in one segment; `p_best` and `weight` are None before the learner has
    allocated the segment."""

    variant_id: VariantId
    sends: int
    clicks: int
    opens: int
    cta_clicks: int
    bot_clicks: int
    machine_opens: int
    rate: float
    """The experiment metric's rate: its unique events / sends."""
    rate_ci: Interval
    p_best: float | None
    weight: float | None


@dataclass(frozen=True, slots=True)
class SegmentFigures:
    """One segment's figures.

    Attributes:
        leader: the variant with the highest P(best) in the segment's latest allocation; before there is
            one, the variant with the highest rate in the segment. None without sends.
        winner: the learner's winner for the segment (None: not declared).
        disagrees: the leader is not the overall leader.
        gain_rate: the leader's rate in the segment minus the overall leader's rate in the segment; None
            when the overall leader has no sends there (nothing to compare).
        incremental: sends x gain_rate: the events choosing the segment's leader earned over the overall
            leader on this segment's sends (0 when they agree or cannot be compared).
    """

    segment: SegmentId
    sends: int
    variants: tuple[SegmentVariant, ...]
    leader: VariantId | None
    winner: VariantId | None
    disagrees: bool
    gain_rate: float | None
    incremental: float


@dataclass(frozen=True, slots=True)
class SegmentBreakdown:
    """Every segment, most sends first, and the incremental events of choosing per segment over the best
    single wording (`overall_leader`) with its 95 % interval."""

    overall_leader: VariantId | None
    segments: tuple[SegmentFigures, ...]
    incremental: float
    incremental_ci: Interval

    @property
    def disagreeing(self) -> tuple[SegmentFigures, ...]:
        return tuple(s for s in self.segments if s.disagrees)


def experiment_segments(
    store: Store, experiment_id: str, leader: VariantId | None, *, tenant_id: TenantId | None = None
) -> SegmentBreakdown | None:
    """The segment figures of a stored experiment (None when it declares no context), against `leader`
    (the overall leader; None: the highest pooled rate).

    Raises:
        NotFound: no such experiment, or it belongs to another tenant.
    """
    with store.read() as conn:
        experiment = repo.load_experiment(conn, experiment_id)
        if experiment is None or (tenant_id is not None and experiment.tenant_id != tenant_id):
            raise NotFound(f"experiment: no experiment '{experiment_id}'")
        if not experiment.definition.context:
            return None
        counts = segment_counts(conn, experiment.experiment_id)
        latest = repo.latest_allocations(conn, [experiment.experiment_id]).get(experiment.experiment_id)
    return segment_breakdown(experiment, counts, latest, leader, np.random.default_rng(_SEED))


def segment_breakdown(
    experiment: Experiment,
    counts: Sequence[SegmentCount],
    latest: StoredAllocation | None,
    overall_leader: VariantId | None,
    rng: np.random.Generator,
) -> SegmentBreakdown | None:
    """Per-segment figures from the segment counts and the latest allocation (pure); None for an
    experiment without context.

    The incremental events are sum over segments s of sends_s x (rate_s(leader_s) - rate_s(overall
    leader)), with the choices fixed at the point estimates; the interval takes the 2.5 and 97.5
    percentiles of the same sum over posterior draws of the rates, so it can include 0 when per-segment
    choice earns nothing.
    """
    if not experiment.definition.context:
        return None
    metric = experiment.definition.metric
    by_segment: dict[SegmentId, list[SegmentCount]] = {}
    for count in counts:
        by_segment.setdefault(count.segment, []).append(count)
    overall = overall_leader or _highest_pooled_rate(counts, metric)
    allocated = (latest.segments or {}) if latest else {}
    segments = [
        _segment(experiment, segment, rows, allocated.get(segment), overall)
        for segment, rows in by_segment.items()
    ]
    segments.sort(key=lambda s: (-s.sends, s.segment))
    low, high = _incremental_interval(segments, overall, metric, rng)
    return SegmentBreakdown(
        overall_leader=overall,
        segments=tuple(segments),
        incremental=sum(s.incremental for s in segments),
        incremental_ci=Interval(low, high),
    )


def _segment(
    experiment: Experiment,
    segment: SegmentId,
    rows: Sequence[SegmentCount],
    allocated: StoredSegment | None,
    overall: VariantId | None,
) -> SegmentFigures:
    metric = experiment.definition.metric
    found = {r.variant_id: r for r in rows}
    variants = tuple(
        _variant(found[v], metric, allocated) for v in experiment.variant_ids if v in found and found[v].sends
    )
    leader = _leader(variants, allocated)
    rates = {v.variant_id: v.rate for v in variants}
    sends = sum(v.sends for v in variants)
    gain_rate = None
    if leader is not None and overall in rates:
        gain_rate = rates[leader] - rates[overall]
    return SegmentFigures(
        segment=segment,
        sends=sends,
        variants=variants,
        leader=leader,
        winner=allocated.winner if allocated else None,
        disagrees=leader is not None and overall is not None and leader != overall,
        gain_rate=gain_rate,
        incremental=sends * gain_rate if gain_rate else 0.0,
    )


def _variant(row: SegmentCount, metric: Metric, allocated: StoredSegment | None) -> SegmentVariant:
    engaged = row.engagements
    counts = Counts(row.sends, engaged.get(METRIC_KIND[metric], 0))
    return SegmentVariant(
        variant_id=row.variant_id,
        sends=row.sends,
        clicks=engaged.get("click", 0),
        opens=engaged.get("open", 0),
        cta_clicks=engaged.get("cta_click", 0),
        bot_clicks=engaged.get("bot_click", 0),
        machine_opens=engaged.get("machine_open", 0),
        rate=counts.rate,
        rate_ci=Interval(*stats.rate_interval(counts)),
        p_best=_get(allocated.p_best, row.variant_id) if allocated else None,
        weight=_get(allocated.weights, row.variant_id) if allocated else None,
    )


def _get(values: Mapping[VariantId, float], variant_id: VariantId) -> float:
    return float(values.get(variant_id, 0.0))


def _leader(variants: Sequence[SegmentVariant], allocated: StoredSegment | None) -> VariantId | None:
    """The highest P(best) of the segment's allocation, else the highest rate; the first variant of the
    definition on a tie."""
    if not variants:
        return None
    if allocated is not None and allocated.p_best:
        return max(variants, key=lambda v: v.p_best or 0.0).variant_id
    return max(variants, key=lambda v: v.rate).variant_id


def _highest_pooled_rate(counts: Sequence[SegmentCount], metric: Metric) -> VariantId | None:
    pooled: dict[VariantId, list[int]] = {}
    for c in counts:
        sends_events = pooled.setdefault(c.variant_id, [0, 0])
        sends_events[0] += c.sends
        sends_events[1] += c.engagements.get(METRIC_KIND[metric], 0)
    sent = {v: e / n for v, (n, e) in pooled.items() if n}
    return max(sent, key=lambda v: sent[v]) if sent else None


def _incremental_interval(
    segments: Sequence[SegmentFigures], overall: VariantId | None, metric: Metric, rng: np.random.Generator
) -> tuple[float, float]:
    """95 % interval of the incremental events, by Monte Carlo over the Beta posteriors of the rates of
    each disagreeing segment's leader and overall leader (agreeing segments add exactly 0)."""
    total = np.zeros(stats.DRAWS)
    for s in segments:
        if not s.disagrees or s.gain_rate is None:
            continue
        by_id = {v.variant_id: v for v in s.variants}
        chosen, single = by_id[s.leader or ""], by_id[overall or ""]
        total += s.sends * (_rate_draws(chosen, metric, rng) - _rate_draws(single, metric, rng))
    low, high = np.quantile(total, [(1 - stats.LEVEL) / 2, (1 + stats.LEVEL) / 2])
    return float(low), float(high)


def _rate_draws(variant: SegmentVariant, metric: Metric, rng: np.random.Generator) -> NDArray[np.float64]:
    events = metric_events(variant, metric)
    return rng.beta(PRIOR + events, PRIOR + variant.sends - events, stats.DRAWS)
