"""The uniform policy: an even split always, with P(best) and the winner rule still reported."""

from __future__ import annotations

import numpy as np

from copyloom.engine import Cohort, PolicyConfig
from copyloom.engine.policies.uniform import uniform
from copyloom.engine.problem import Problem

DAY_S = 86_400.0  # every cohort sent a day ago: its clicks are all in


def problem(counts: list[tuple[int, int]]) -> Problem:
    variants = tuple(f"v{i}" for i in range(len(counts)))
    cohorts = tuple(Cohort(v, 0.0, s, c) for v, (s, c) in zip(variants, counts, strict=True))
    return Problem(variants, cohorts, DAY_S, 0, PolicyConfig(policy="uniform", samples=4000))


def test_warm_up_is_reported_as_such() -> None:
    proposal = uniform(problem([(10, 1), (10, 2), (10, 3)]), np.random.default_rng(1))

    assert proposal.reason == "warm_up"
    assert proposal.shares.tolist() == [1 / 3] * 3


def test_a_clear_winner_is_reported_but_never_given_more_traffic() -> None:
    proposal = uniform(problem([(5000, 100), (5000, 300)]), np.random.default_rng(1))

    assert (proposal.winner, proposal.reason) == (1, "uniform")
    assert proposal.shares.tolist() == [0.5, 0.5]
    assert proposal.p_best[1] > 0.99
