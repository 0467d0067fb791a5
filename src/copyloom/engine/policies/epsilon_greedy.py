"""Epsilon-greedy in batches: the observed leader gets 1 - epsilon, and epsilon is spread evenly."""

from __future__ import annotations

import numpy as np

from copyloom.engine.allocation import even_shares, winner_shares
from copyloom.engine.evidence import gather_evidence
from copyloom.engine.problem import Problem, Proposal


def epsilon_greedy(problem: Problem, rng: np.random.Generator) -> Proposal:
    """The highest delay-corrected rate gets 1 - epsilon of the traffic, all variants share epsilon.

    Behaves the same in both modes. A baseline: it never stops exploring and ignores uncertainty.

    Args:
        problem: the checked inputs.
        rng: the only source of randomness (the posterior draws behind P(best)).

    Returns:
        Shares, P(best), the winner and the reason ("warm_up" or "epsilon_greedy").
    """
    evidence = gather_evidence(problem, rng)
    count = len(problem.variants)
    if evidence.is_warming_up:
        return Proposal(even_shares(count), evidence.p_best, None, "warm_up")
    rates = evidence.totals.clicks / np.maximum(evidence.totals.sends, 1.0)
    epsilon = problem.config.epsilon
    shares = (1.0 - epsilon) * winner_shares(count, int(np.argmax(rates))) + epsilon * even_shares(count)
    return Proposal(shares, evidence.p_best, evidence.winner, "epsilon_greedy")
