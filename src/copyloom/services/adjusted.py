"""Rates and uplift that survive adaptive allocation: inverse-propensity weighting with the weights in force.

A bandit moves traffic on what it has seen, so pooled counts are biased: a variant that had a lucky
early hour gets more traffic while its rate regresses, and the control, starved, rests on a few sends.
Each send was assigned its variant with a known probability, the weight in force when it was sent (the
learner's allocation then, floors and holdout included). Weighting each send by one over that probability
(the Hajek, or self-normalised inverse-propensity, estimator) gives each variant's rate as if every send
had gone to it, unbiased however the weights moved (the weights are chosen before the sends they apply
to, and never reach zero while the floor holds). Its variance, by linearisation, widens where the
variant was rarely sent: the interval says how much the adaptive split cost in precision.

Clicks take hours to arrive, so recent sends look worse than they will: "mature" figures count only
cohorts older than an attribution window (by default the time by which 95 % of a send's clicks have
arrived, from the tenant's fitted delay model); "to date" counts every cohort.

Pure: values in, values out.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from copyloom.domain.values import VariantId

Z95 = 1.959963984540054
MATURE_SHARE = 0.95
"""A cohort is mature once this share of its clicks is expected to have arrived."""
METHOD = (
    "inverse-propensity weighted (Hajek): each send weighted by 1 / the weight its variant had when it "
    "was sent; 95 % intervals by linearisation"
)


@dataclass(frozen=True, slots=True)
class SentCohort:
    """Sends of one variant in one send-time bucket and the unique metric events on them."""

    sent_at: float
    variant_id: VariantId
    sends: int
    events: int


@dataclass(frozen=True, slots=True)
class WeightsInForce:
    """An allocation's weights and when they took effect."""

    since: float
    weights: Mapping[VariantId, float]


@dataclass(frozen=True, slots=True)
class AdjustedRate:
    variant_id: VariantId
    rate: float | None
    """None when the variant has no randomised sends in the period."""
    low: float
    high: float
    sends: int
    """Sends counted: those assigned by a draw on the weights (a sticky recipient's later sends of a
    variant that had stopped being drawn are not)."""


@dataclass(frozen=True, slots=True)
class AdjustedUplift:
    variant_id: VariantId
    relative: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class AdjustedSet:
    """Adjusted rates per variant, and uplift over the control, over one set of cohorts."""

    sent_before: float | None
    """Cohorts sent before this time (the mature ones); None: every cohort to date."""
    rates: tuple[AdjustedRate, ...]
    uplifts: tuple[AdjustedUplift, ...]


def weights_at(history: Sequence[WeightsInForce], when: float) -> Mapping[VariantId, float]:
    """The weights in force at `when`: the latest that took effect at or before it (the first before any)."""
    times = [h.since for h in history]
    index = bisect.bisect_right(times, when) - 1
    return history[max(index, 0)].weights


def adjusted_set(
    cohorts: Sequence[SentCohort],
    history: Sequence[WeightsInForce],
    variant_ids: Sequence[VariantId],
    control: VariantId,
    *,
    sent_before: float | None = None,
) -> AdjustedSet:
    """Hajek estimates of each variant's rate and of each variant's uplift over the control.

    Args:
        cohorts: the experiment's cohorts (any order).
        history: the allocations in time order; must not be empty when there are cohorts.
        variant_ids: the variants to report, in order.
        control: the control's id.
        sent_before: only cohorts sent before this time (None: all).
    """
    used = [c for c in cohorts if sent_before is None or c.sent_at < sent_before]
    sums: dict[VariantId, list[float]] = {v: [0.0, 0.0, 0.0, 0.0, 0.0] for v in variant_ids}
    # Per variant: sum of sends / p, of events / p, of sends / p**2, of events / p**2, and raw sends.
    for c in used:
        if c.variant_id not in sums or not history:
            continue
        p = float(weights_at(history, c.sent_at).get(c.variant_id, 0.0))
        if p <= 0.0:
            continue
        s = sums[c.variant_id]
        s[0] += c.sends / p
        s[1] += c.events / p
        s[2] += c.sends / p**2
        s[3] += c.events / p**2
        s[4] += c.sends
    rates = tuple(_rate(v, sums[v]) for v in variant_ids)
    by_id = {r.variant_id: r for r in rates}
    variances = {v: _variance(sums[v]) for v in variant_ids}
    uplifts = tuple(
        u
        for v in variant_ids
        if v != control
        for u in [_uplift(by_id[v], by_id[control], variances[v], variances[control])]
        if u is not None
    )
    return AdjustedSet(sent_before, rates, uplifts)


def mature_window_s(median_s: float, sigma: float, share: float = MATURE_SHARE) -> float:
    """Seconds after which `share` of a log-normal delay's successes have arrived."""
    from statistics import NormalDist  # noqa: PLC0415 - stdlib, small

    return median_s * math.exp(sigma * NormalDist().inv_cdf(share))


def _rate(variant_id: VariantId, s: list[float]) -> AdjustedRate:
    weighted_sends, weighted_events = s[0], s[1]
    if weighted_sends <= 0:
        return AdjustedRate(variant_id, None, 0.0, 0.0, 0)
    rate = weighted_events / weighted_sends
    half = Z95 * math.sqrt(_variance(s))
    return AdjustedRate(variant_id, rate, max(0.0, rate - half), min(1.0, rate + half), int(s[4]))


def _variance(s: list[float]) -> float:
    """Var of the Hajek rate by linearisation: sum over sends of ((y - rate) / p)**2 / (sum of 1 / p)**2,
    with y 1 for a send with an event and 0 for one without."""
    weighted_sends, weighted_events, sends_sq, events_sq = s[0], s[1], s[2], s[3]
    if weighted_sends <= 0:
        return 0.0
    rate = weighted_events / weighted_sends
    residual = events_sq * (1 - rate) ** 2 + (sends_sq - events_sq) * rate**2
    return residual / weighted_sends**2


def _uplift(
    variant: AdjustedRate, control: AdjustedRate, variant_var: float, control_var: float
) -> AdjustedUplift | None:
    """rate / control rate - 1, its interval from the log ratio (the two estimates use disjoint sends)."""
    if not variant.rate or not control.rate:
        return None
    log_ratio = math.log(variant.rate / control.rate)
    half = Z95 * math.sqrt(variant_var / variant.rate**2 + control_var / control.rate**2)
    return AdjustedUplift(
        variant.variant_id,
        variant.rate / control.rate - 1,
        math.exp(log_ratio - half) - 1,
        math.exp(log_ratio + half) - 1,
    )
