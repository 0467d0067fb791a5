"""Thompson sampling in batches: each variant's share of traffic is its probability of being best."""

from __future__ import annotations

import numpy as np

from copyloom.engine.allocation import even_shares, winner_shares
from copyloom.engine.evidence import gather_evidence
from copyloom.engine.policies.base import Problem, Proposal


def thompson(problem: Problem, rng: np.random.Generator) -> Proposal:
    """Probability matching on Beta-Bernoulli posteriors (batch Thompson sampling).

    An even split during the warm-up. In broadcast mode a declared winner takes all the traffic that
    floor and holdout leave; in triggered mode traffic keeps following P(best), because an experiment
    that runs for weeks can see its winner change.

    Args:
        problem: the checked inputs.
        rng: the only source of randomness.

    Returns:
        Shares, P(best), the winner and the reason ("warm_up", "winner" or "probability_matching").
    """
    evidence = gather_evidence(problem, rng)
    count = len(problem.variants)
    if evidence.is_warming_up:
        return Proposal(even_shares(count), evidence.p_best, None, "warm_up")
    if evidence.winner is not None and problem.config.mode == "broadcast":
        return Proposal(winner_shares(count, evidence.winner), evidence.p_best, evidence.winner, "winner")
    return Proposal(evidence.p_best, evidence.p_best, evidence.winner, "probability_matching")
