"""The classic A/B test, then the winner: an even split for a fixed number of sends, then the best."""

from __future__ import annotations

import numpy as np

from copyloom.engine.allocation import even_shares, winner_shares
from copyloom.engine.evidence import gather_evidence
from copyloom.engine.problem import Problem, Proposal


def ab_test(problem: Problem, rng: np.random.Generator) -> Proposal:
    """An even split until `config.ab_test_sends` sends in all, then everything to the observed best.

    The observed best has the highest success rate on the delay-corrected exposure. The test is run
    once: in either mode traffic stays on the observed best afterwards, which may change as late clicks
    arrive. P(best) and the decision-rule winner are reported as for every policy.

    Args:
        problem: the checked inputs.
        rng: the only source of randomness (the posterior draws behind P(best)).

    Returns:
        Shares, P(best), the winner and the reason ("warm_up", "ab_test" or "observed_best").
    """
    evidence = gather_evidence(problem, rng)
    count = len(problem.variants)
    if evidence.is_warming_up:
        return Proposal(even_shares(count), evidence.p_best, None, "warm_up")
    if evidence.sends.sum() < problem.config.ab_test_sends:
        return Proposal(even_shares(count), evidence.p_best, evidence.winner, "ab_test")
    totals = evidence.totals
    rates = totals.clicks / np.maximum(totals.sends, 1.0)
    best = int(np.argmax(rates))
    return Proposal(winner_shares(count, best), evidence.p_best, evidence.winner, "observed_best")
