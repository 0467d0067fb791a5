"""The registry, and the contract every registered policy keeps."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

from copyloom.engine import POLICIES, Cohort, PolicyConfig, policy_names
from copyloom.engine.problem import Problem
from copyloom.engine.values import PolicyName, Reason

REASONS: tuple[Reason, ...] = (
    "warm_up",
    "probability_matching",
    "winner",
    "uniform",
    "ab_test",
    "observed_best",
    "upper_confidence_bound",
    "epsilon_greedy",
)


def problem_for(policy: str, counts: list[tuple[int, int]], mode: str = "broadcast") -> Problem:
    variants = tuple(f"v{i}" for i in range(len(counts)))
    cohorts = tuple(
        Cohort(v, 0.0, sends, clicks) for v, (sends, clicks) in zip(variants, counts, strict=True)
    )
    config = PolicyConfig(policy=policy, mode=mode, samples=2000)  # type: ignore[arg-type]  # mode from the parametrisation
    return Problem(variants, cohorts, 0.0, 0, config)


def test_the_registry_names_the_policies_and_the_baselines() -> None:
    assert policy_names() == ("ab_test", "epsilon_greedy", "thompson", "thompson_naive", "ucb1", "uniform")
    assert set(POLICIES) == set(policy_names())


def test_the_policy_names_are_the_registry_keys_in_order() -> None:
    assert get_args(PolicyName) == tuple(POLICIES)


def test_the_registry_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        POLICIES["greedy"] = POLICIES["thompson"]  # type: ignore[index]  # the point of the test


@pytest.mark.parametrize("policy", policy_names())
@pytest.mark.parametrize("mode", ["broadcast", "triggered"])
@pytest.mark.parametrize(
    "counts",
    [
        [(0, 0), (0, 0)],
        [(50, 1), (500, 30)],
        [(3000, 90), (3000, 95), (3000, 60)],
        [(5000, 100), (5000, 300)],
    ],
)
def test_every_policy_keeps_the_proposal_contract(
    policy: str, mode: str, counts: list[tuple[int, int]]
) -> None:
    problem = problem_for(policy, counts, mode)

    first = POLICIES[policy](problem, np.random.default_rng(5))
    again = POLICIES[policy](problem, np.random.default_rng(5))

    assert first.shares.shape == first.p_best.shape == (len(counts),)
    assert (first.shares >= 0).all()
    assert first.shares.sum() > 0
    assert first.p_best.sum() == pytest.approx(1.0)
    assert first.winner is None or 0 <= first.winner < len(counts)
    assert first.reason in REASONS
    assert np.array_equal(first.shares, again.shares)
    assert (first.winner, first.reason) == (again.winner, again.reason)
