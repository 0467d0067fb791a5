"""The epsilon-greedy baseline: the leader gets 1 - epsilon, every variant a share of epsilon."""

from __future__ import annotations

import numpy as np
import pytest

from copyloom.engine import Cohort, PolicyConfig
from copyloom.engine.policies.epsilon_greedy import epsilon_greedy
from copyloom.engine.problem import Problem

DAY_S = 86_400.0


def problem(counts: list[tuple[int, int]], epsilon: float) -> Problem:
    variants = tuple(f"v{i}" for i in range(len(counts)))
    cohorts = tuple(Cohort(v, 0.0, s, c) for v, (s, c) in zip(variants, counts, strict=True))
    config = PolicyConfig(policy="epsilon_greedy", samples=2000, epsilon=epsilon)
    return Problem(variants, cohorts, DAY_S, 0, config)


def test_the_leader_gets_one_minus_epsilon_and_all_share_epsilon() -> None:
    proposal = epsilon_greedy(
        problem([(1000, 20), (1000, 30), (1000, 25), (1000, 10)], 0.2), np.random.default_rng(1)
    )

    assert proposal.reason == "epsilon_greedy"
    assert proposal.shares.tolist() == pytest.approx([0.05, 0.85, 0.05, 0.05])


def test_warm_up_splits_evenly() -> None:
    proposal = epsilon_greedy(problem([(10, 2), (10, 0)], 0.1), np.random.default_rng(1))

    assert (proposal.reason, proposal.shares.tolist()) == ("warm_up", [0.5, 0.5])
