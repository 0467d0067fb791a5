"""Thompson sampling in batches: each variant's share of traffic is its probability of being best."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from copyloom.engine.allocation import even_shares, winner_shares
from copyloom.engine.config import PolicyConfig
from copyloom.engine.evidence import Evidence, gather_evidence
from copyloom.engine.posterior import FloatArray, posterior_mean
from copyloom.engine.problem import Problem, Proposal


def thompson(problem: Problem, rng: np.random.Generator) -> Proposal:
    """Delay-aware probability matching on Beta-Bernoulli posteriors (batch Thompson sampling).

    Each cohort's exposure is corrected for the clicks that cannot have arrived yet (`config.delay`),
    and in triggered mode old cohorts are discounted (`config.half_life_s`). An even split during the
    warm-up. In broadcast mode shares follow P(best) ** k, the exponent k rising with the evidence
    (`sharpening_exponent`: 1 on no successes, towards `config.exploitation` on many), with a part of the
    traffic, rising alike, on the variant of the highest posterior mean (`broadcast_shares`), and a
    declared winner takes all the traffic that floor and holdout leave; in triggered mode traffic keeps
    following P(best), because an experiment that runs for weeks can see its winner change.

    A variant that joined late warms up on its own: while it has fewer sends than the warm-up needs it
    gets an even share (1 / variants), and the variants past their warm-up share the rest as they would
    among themselves (`late_warm_up_shares`).

    Args:
        problem: the checked inputs.
        rng: the only source of randomness.

    Returns:
        Shares, P(best), the winner and the reason ("warm_up", "winner" or "probability_matching").
    """
    return _matching(problem, gather_evidence(problem, rng))


def thompson_naive(problem: Problem, rng: np.random.Generator) -> Proposal:
    """Thompson sampling that counts every click against every send so far, however recent: a baseline.

    Fresh sends have had no time to be clicked, so a variant that just gained traffic looks worse and
    the split drifts back towards even. Otherwise as `thompson`, without forgetting in triggered mode.

    Args:
        problem: the checked inputs.
        rng: the only source of randomness.

    Returns:
        Shares, P(best), the winner and the reason ("warm_up", "winner" or "probability_matching").
    """
    return _matching(problem, gather_evidence(problem, rng, is_delay_aware=False))


def _matching(problem: Problem, evidence: Evidence) -> Proposal:
    count = len(problem.variants)
    config = problem.config
    warming = evidence.sends < config.min_sends_per_variant
    if warming.all():
        return Proposal(even_shares(count), evidence.p_best, None, "warm_up")
    if evidence.winner is not None and config.mode == "broadcast":
        return Proposal(winner_shares(count, evidence.winner), evidence.p_best, evidence.winner, "winner")
    shares = evidence.p_best
    if config.mode == "broadcast":
        means = posterior_mean(evidence.totals, prior_alpha=config.prior_alpha, prior_beta=config.prior_beta)
        shares = broadcast_shares(evidence.p_best, means, float(evidence.totals.clicks.sum()), config)
    if warming.any():
        return Proposal(late_warm_up_shares(shares, warming), evidence.p_best, None, "warm_up")
    return Proposal(shares, evidence.p_best, evidence.winner, "probability_matching")


def late_warm_up_shares(shares: FloatArray, warming: NDArray[np.bool_]) -> FloatArray:
    """An even share (1 / variants) for each variant still warming up; the others split the rest in
    proportion to their `shares` (evenly when those are all zero)."""
    count = len(shares)
    warmed = np.where(warming, 0.0, shares)
    total = warmed.sum()
    if total <= 0:
        warmed = np.where(warming, 0.0, 1.0)
        total = warmed.sum()
    rest = 1.0 - warming.sum() / count
    return np.where(warming, 1.0 / count, warmed / total * rest)


def broadcast_shares(
    p_best: FloatArray, means: FloatArray, successes: float, config: PolicyConfig
) -> FloatArray:
    """(1 - g) * P(best) ** k / sum(P(best) ** k), plus g on the variant of the highest posterior mean.

    Probability matching explores as if the experiment had no end; a broadcast is over in hours, and
    each send's click is worth most on the variant expected to do best now, the one of the highest
    posterior mean (P(best) favours it too, but among near-equal leaders spreads the traffic over them
    all). So, as evidence accumulates, a growing part g of the traffic goes to that variant:
    g = `config.leader_share` * n / (n + `config.sharpen_successes`), n the successes so far, and the
    rest follows P(best) sharpened by `sharpening_exponent`. On little evidence g is small, so one
    lucky early variant does not take the send; the floor keeps every other variant learning.

    Args:
        p_best: P(best) per variant, summing to 1.
        means: the posterior mean rate per variant.
        successes: the experiment's successes so far, n >= 0.
        config: `exploitation`, `sharpen_successes` and `leader_share`.

    Returns:
        Shares summing to 1.
    """
    weight = evidence_weight(successes, config.sharpen_successes)
    sharpened = p_best ** sharpening_exponent(successes, config.exploitation, config.sharpen_successes)
    lead = config.leader_share * weight
    shares = np.asarray((1.0 - lead) * sharpened / sharpened.sum(), dtype=np.float64)
    shares[int(np.argmax(means))] += lead
    return shares


def evidence_weight(successes: float, sharpen_successes: float) -> float:
    """n / (n + sharpen_successes): 0 on no successes, half at `sharpen_successes`, tending to 1."""
    return successes / (successes + sharpen_successes)


def sharpening_exponent(successes: float, exploitation: float, sharpen_successes: float) -> float:
    """The exponent on P(best) in broadcast mode: 1 + (exploitation - 1) * n / (n + sharpen_successes).

    Squaring P(best) pays on a large send, where a few hundred successes arrive within the first hour
    and most of the send is still to come; on a small one the same P(best) rests on a few dozen
    successes per variant, and sharpening it turns noise into hard swings. So the exponent follows the
    evidence: 1 (plain Thompson sampling) with no successes, half-way at `sharpen_successes`, tending
    to `exploitation`.

    Args:
        successes: the experiment's successes so far, n >= 0.
        exploitation: the limit of the exponent, >= 1.
        sharpen_successes: the successes at which the exponent is half-way, > 0.

    Returns:
        The exponent, from 1 up to (not reaching) `exploitation`.
    """
    return 1.0 + (exploitation - 1.0) * evidence_weight(successes, sharpen_successes)
