"""Thompson sampling: even during warm-up, P(best) after, everything on a broadcast winner."""

from __future__ import annotations

import numpy as np
import pytest

from copyloom.engine import Cohort, PolicyConfig
from copyloom.engine.policies.base import Problem
from copyloom.engine.policies.thompson import thompson


def problem(counts: list[tuple[int, int]], mode: str = "broadcast") -> Problem:
    variants = tuple(f"v{i}" for i in range(len(counts)))
    cohorts = tuple(Cohort(v, 0.0, s, c) for v, (s, c) in zip(variants, counts, strict=True))
    config = PolicyConfig(mode=mode, samples=4000)  # type: ignore[arg-type]  # a literal either way
    return Problem(variants, cohorts, 0.0, 0, config)


def test_warm_up_proposes_an_even_split() -> None:
    proposal = thompson(problem([(10, 5), (10, 0)]), np.random.default_rng(1))

    assert proposal.shares.tolist() == [0.5, 0.5]
    assert proposal.reason == "warm_up"
    assert proposal.winner is None


def test_after_warm_up_shares_are_p_best() -> None:
    proposal = thompson(problem([(1000, 30), (1000, 36)]), np.random.default_rng(1))

    assert proposal.reason == "probability_matching"
    assert proposal.shares.tolist() == proposal.p_best.tolist()


def test_a_broadcast_winner_takes_all_shares() -> None:
    proposal = thompson(problem([(5000, 100), (5000, 300)]), np.random.default_rng(1))

    assert (proposal.winner, proposal.reason) == (1, "winner")
    assert proposal.shares.tolist() == [0.0, 1.0]


def test_a_triggered_winner_keeps_probability_matching() -> None:
    proposal = thompson(problem([(5000, 100), (5000, 300)], mode="triggered"), np.random.default_rng(1))

    assert (proposal.winner, proposal.reason) == (1, "probability_matching")
    assert proposal.shares.tolist() == pytest.approx(proposal.p_best.tolist())
