"""UCB1 (Auer, Cesa-Bianchi & Fischer 2002) in batches: all new traffic to the highest upper bound."""

from __future__ import annotations

import numpy as np

from copyloom.engine.allocation import even_shares, winner_shares
from copyloom.engine.evidence import gather_evidence
from copyloom.engine.problem import Problem, Proposal


def ucb1(problem: Problem, rng: np.random.Generator) -> Proposal:
    """Everything to the variant with the highest rate + sqrt(2 ln n / n_i), on delay-corrected counts.

    A baseline: UCB1's bonus is sized for rewards spread over [0, 1], so at click rates of a few percent
    it explores for a long time. Behaves the same in both modes; ties share the traffic.

    Args:
        problem: the checked inputs.
        rng: the only source of randomness (the posterior draws behind P(best)).

    Returns:
        Shares, P(best), the winner and the reason ("warm_up" or "upper_confidence_bound").
    """
    evidence = gather_evidence(problem, rng)
    count = len(problem.variants)
    if evidence.is_warming_up:
        return Proposal(even_shares(count), evidence.p_best, None, "warm_up")
    exposure = np.maximum(evidence.totals.sends, 1.0)
    bounds = evidence.totals.clicks / exposure + np.sqrt(2.0 * np.log(exposure.sum()) / exposure)
    best = int(np.argmax(bounds))
    return Proposal(winner_shares(count, best), evidence.p_best, evidence.winner, "upper_confidence_bound")
