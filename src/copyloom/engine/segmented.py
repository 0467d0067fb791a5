"""The contextual allocation: one proposal per segment, from posteriors pooled across the segments.

The Thompson policies read each segment's posterior from `pooling` (the delay correction, the forgetting
and the change detection applied to the segment's own cohorts, the delay model refined once on all of
them); every other policy runs as it is on each segment's own cohorts. The warm-up is the experiment's:
a segment follows its pooled posterior as soon as the experiment as a whole is past its warm-up, since
with no sends of its own that posterior is the pooled one (docs/engine-tuning.md measures the choice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from copyloom.engine.allocation import even_shares, winner_shares
from copyloom.engine.config import PolicyConfig
from copyloom.engine.delay import refine_delay_model
from copyloom.engine.evidence import decided_winner
from copyloom.engine.exposure import effective_totals
from copyloom.engine.policies import POLICIES
from copyloom.engine.policies.thompson import broadcast_shares, late_warm_up_shares
from copyloom.engine.pooling import KAPPA_GRID, base_ratios, kappa_weights, prior_means, sample_segment_rates
from copyloom.engine.posterior import (
    FloatArray,
    Totals,
    posterior_mean,
    probability_best,
    sample_rates,
    sum_cohorts,
)
from copyloom.engine.problem import Problem, Proposal
from copyloom.engine.values import Cohort, SegmentId

POOLED_POLICIES = frozenset({"thompson", "thompson_naive"})
"""The policies whose segments share a pooled posterior; the others run on each segment alone."""
SEGMENT_DRAW_BUDGET = 1_000_000
"""Beta draws per look over every segment (segments x variants x samples): at the default 10,000 samples,
10 segments of 10 variants keep them all, 50 x 10 get 2,000 and 200 x 10 `MIN_SEGMENT_SAMPLES`."""
MIN_SEGMENT_SAMPLES = 500
"""The fewest samples a segment's P(best) is estimated from, whatever the number of segments."""


@dataclass(frozen=True, slots=True)
class _Cells:
    """Per segment and variant: successes and effective exposures."""

    clicks: FloatArray
    exposure: FloatArray


def segment_ids(segments: Sequence[SegmentId], cohorts: Sequence[Cohort]) -> tuple[SegmentId, ...]:
    """The segments asked for, then those seen on a cohort, each once, in that order."""
    seen = dict.fromkeys(segments)
    seen.update(dict.fromkeys(c.segment for c in cohorts if c.segment is not None))
    return tuple(seen)


def propose_per_segment(
    problem: Problem, segments: tuple[SegmentId, ...], rng: np.random.Generator
) -> dict[SegmentId, Proposal]:
    """Each segment's proposal (shares, P(best), winner, reason) before floor, holdout and caps.

    The cost is bounded: each segment draws `segment_samples` posterior samples (fewer than
    `config.samples` when segments x variants is large), and the segments without a cohort, whose
    pooled posteriors are all the same, share one proposal.

    Args:
        problem: the checked inputs, every cohort (segmented or not).
        segments: the segments to allocate, unique.
        rng: the only source of randomness, drawn from after the overall allocation.

    Returns:
        segment -> proposal, in the order of `segments`.
    """
    by_segment = _cohorts_by_segment(problem.cohorts, segments)
    if problem.config.policy not in POOLED_POLICIES:
        return {
            s: POLICIES[problem.config.policy](replace(problem, cohorts=by_segment[s]), rng) for s in segments
        }
    is_delay_aware = problem.config.policy == "thompson"
    problem = _with_refined_delay(problem) if is_delay_aware else problem
    pooled = _totals(problem, problem.cohorts, is_delay_aware)
    cells = _segment_cells(problem, segments, by_segment, is_delay_aware)
    config = problem.config
    pooled_rates = posterior_mean(pooled, prior_alpha=config.prior_alpha, prior_beta=config.prior_beta)
    ratios = base_ratios(cells.clicks, cells.exposure, pooled_rates)
    weights = kappa_weights(cells.clicks, cells.exposure, prior_means(pooled_rates, ratios))
    samples = segment_samples(config.samples, len(segments), len(problem.variants))
    pooled_draws = sample_rates(
        pooled, prior_alpha=config.prior_alpha, prior_beta=config.prior_beta, samples=samples, rng=rng
    )
    # kappa's own uncertainty is carried too: each sample draws it from its posterior on the grid.
    kappas = rng.choice(KAPPA_GRID, size=samples, p=weights)
    # The sharpening follows the experiment's successes, how far the send has gone, in every segment; a
    # segment's own uncertainty is in its P(best) (docs/engine-tuning.md: own successes explored more and
    # lost in the 12-segment scenario).
    successes = float(pooled.clicks.sum())
    warming = sum_cohorts(problem.variants, problem.cohorts).sends < config.min_sends_per_variant
    proposals: dict[SegmentId, Proposal] = {}
    unseen: Proposal | None = None
    for i, segment in enumerate(segments):
        if not by_segment[segment] and unseen is not None:
            proposals[segment] = unseen
            continue
        draws = sample_segment_rates(
            cells.clicks[i], cells.exposure[i], pooled_draws, ratio=float(ratios[i]), kappa=kappas, rng=rng
        )
        segment_problem = replace(problem, cohorts=by_segment[segment])
        proposals[segment] = _matching(segment_problem, draws, warming, successes)
        if not by_segment[segment]:
            unseen = proposals[segment]
    return proposals


def segment_samples(samples: int, segments: int, variants: int) -> int:
    """Posterior samples per segment: `samples`, cut so that segments x variants x samples stays within
    `SEGMENT_DRAW_BUDGET`, never below `MIN_SEGMENT_SAMPLES` (P(best) to about +-0.02, enough to split a
    segment's traffic; the overall allocation keeps every sample)."""
    return min(samples, max(MIN_SEGMENT_SAMPLES, SEGMENT_DRAW_BUDGET // max(segments * variants, 1)))


def _matching(problem: Problem, draws: FloatArray, warming: NDArray[np.bool_], successes: float) -> Proposal:
    # As the Thompson policy's probability matching, on the segment's pooled draws.
    config, count = problem.config, len(problem.variants)
    p_best = probability_best(draws)
    if warming.all():
        return Proposal(even_shares(count), p_best, None, "warm_up")
    # The sequential test reads only the segment's own cohorts: pooling may guide traffic, but a segment's
    # winner must beat the others on its own recipients.
    winner = None if warming.any() else decided_winner(draws, p_best, problem)
    if winner is not None and config.mode == "broadcast":
        return Proposal(winner_shares(count, winner), p_best, winner, "winner")
    shares = p_best
    if config.mode == "broadcast":
        shares = broadcast_shares(p_best, draws.mean(axis=0), successes, config)
    if warming.any():
        return Proposal(late_warm_up_shares(shares, warming), p_best, None, "warm_up")
    return Proposal(shares, p_best, winner, "probability_matching")


def _cohorts_by_segment(
    cohorts: Sequence[Cohort], segments: tuple[SegmentId, ...]
) -> dict[SegmentId, tuple[Cohort, ...]]:
    grouped: dict[SegmentId, list[Cohort]] = {s: [] for s in segments}
    for cohort in cohorts:
        if cohort.segment in grouped:
            grouped[cohort.segment].append(cohort)
    return {s: tuple(group) for s, group in grouped.items()}


def _segment_cells(
    problem: Problem,
    segments: tuple[SegmentId, ...],
    by_segment: dict[SegmentId, tuple[Cohort, ...]],
    is_delay_aware: bool,
) -> _Cells:
    shape = (len(segments), len(problem.variants))
    clicks, exposure = np.zeros(shape), np.zeros(shape)
    for i, segment in enumerate(segments):
        if by_segment[segment]:
            totals = _totals(problem, by_segment[segment], is_delay_aware)
            clicks[i], exposure[i] = totals.clicks, totals.sends
    return _Cells(clicks, exposure)


def _totals(problem: Problem, cohorts: Sequence[Cohort], is_delay_aware: bool) -> Totals:
    """As `evidence.gather_evidence` counts them, the delay model already refined."""
    if not is_delay_aware:
        return sum_cohorts(problem.variants, cohorts)
    config = problem.config
    is_triggered = config.mode == "triggered"
    return effective_totals(
        problem.variants,
        cohorts,
        now=problem.now,
        delay=config.delay,
        half_life_s=config.half_life_s if is_triggered else None,
        change_z=config.change_z if is_triggered else None,
        min_age_s=0.0 if is_triggered else config.min_cohort_age_s,
    )


def _with_refined_delay(problem: Problem) -> Problem:
    # One fit on every cohort, each segment's variants a column of their own (their rates differ), rather
    # than a noisy fit per small segment.
    config: PolicyConfig = problem.config
    if not config.refine_delay or config.mode == "triggered":
        return problem
    aged = [c for c in problem.cohorts if problem.now - c.sent_at >= config.min_cohort_age_s]
    keys = {key: i for i, key in enumerate(dict.fromkeys((c.segment, c.variant) for c in aged))}
    if not keys:
        return problem
    delay = refine_delay_model(
        config.delay,
        np.array([problem.now - c.sent_at for c in aged]),
        np.array([float(c.sends) for c in aged]),
        np.array([float(c.clicks) for c in aged]),
        np.array([keys[(c.segment, c.variant)] for c in aged], dtype=np.intp),
    )
    return replace(problem, config=replace(config, delay=delay, refine_delay=False))
