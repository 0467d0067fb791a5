"""The UCB1 baseline: all new traffic to the highest upper confidence bound."""

from __future__ import annotations

import numpy as np

from copyloom.engine import Cohort, PolicyConfig
from copyloom.engine.policies.ucb1 import ucb1
from copyloom.engine.problem import Problem

DAY_S = 86_400.0


def problem(counts: list[tuple[int, int]]) -> Problem:
    variants = tuple(f"v{i}" for i in range(len(counts)))
    cohorts = tuple(Cohort(v, 0.0, s, c) for v, (s, c) in zip(variants, counts, strict=True))
    return Problem(variants, cohorts, DAY_S, 0, PolicyConfig(policy="ucb1", samples=2000))


def test_equal_rates_send_everything_to_the_least_tried_variant() -> None:
    proposal = ucb1(problem([(10_000, 300), (2_000, 60)]), np.random.default_rng(1))

    assert proposal.reason == "upper_confidence_bound"
    assert proposal.shares.tolist() == [0.0, 1.0]


def test_with_equal_sends_the_higher_rate_gets_everything() -> None:
    proposal = ucb1(problem([(10_000, 300), (10_000, 200)]), np.random.default_rng(1))

    assert proposal.shares.tolist() == [1.0, 0.0]
