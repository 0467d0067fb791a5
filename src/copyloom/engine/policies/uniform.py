"""A fixed even split: the classic A/B test, and the baseline the other policies are measured against."""

from __future__ import annotations

import numpy as np

from copyloom.engine.allocation import even_shares
from copyloom.engine.evidence import gather_evidence
from copyloom.engine.problem import Problem, Proposal
from copyloom.engine.values import Reason


def uniform(problem: Problem, rng: np.random.Generator) -> Proposal:
    """An even split whatever the evidence; P(best) and the winner are still reported.

    The winner follows the same decision rule as every policy, so a fixed-split test can be stopped
    when it is decided; traffic never moves towards it, in either mode.

    Args:
        problem: the checked inputs.
        rng: the only source of randomness (the posterior draws behind P(best)).

    Returns:
        Even shares, P(best), the winner and the reason ("warm_up" or "uniform").
    """
    evidence = gather_evidence(problem, rng)
    reason: Reason = "warm_up" if evidence.is_warming_up else "uniform"
    return Proposal(even_shares(len(problem.variants)), evidence.p_best, evidence.winner, reason)
