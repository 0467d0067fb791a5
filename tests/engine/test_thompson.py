"""Thompson sampling: even during warm-up, P(best) after, everything on a broadcast winner."""

from __future__ import annotations

import numpy as np
import pytest

from copyloom.engine import Cohort, PolicyConfig
from copyloom.engine.policies.base import Problem
from copyloom.engine.policies.thompson import thompson, thompson_naive

DAY_S = 86_400.0  # every cohort sent a day ago: its clicks are all in


def problem(counts: list[tuple[int, int]], mode: str = "broadcast") -> Problem:
    variants = tuple(f"v{i}" for i in range(len(counts)))
    cohorts = tuple(Cohort(v, 0.0, s, c) for v, (s, c) in zip(variants, counts, strict=True))
    config = PolicyConfig(mode=mode, samples=4000)  # type: ignore[arg-type]  # a literal either way
    return Problem(variants, cohorts, DAY_S, 0, config)


def test_warm_up_proposes_an_even_split() -> None:
    proposal = thompson(problem([(10, 5), (10, 0)]), np.random.default_rng(1))

    assert proposal.shares.tolist() == [0.5, 0.5]
    assert proposal.reason == "warm_up"
    assert proposal.winner is None


def test_after_warm_up_broadcast_shares_are_p_best_tempered_by_the_exploitation() -> None:
    proposal = thompson(problem([(1000, 30), (1000, 36)]), np.random.default_rng(1))

    assert proposal.reason == "probability_matching"
    assert proposal.shares.tolist() == pytest.approx((proposal.p_best**2).tolist())
    assert proposal.shares[1] / proposal.shares.sum() > proposal.p_best[1]


def test_after_warm_up_triggered_shares_are_p_best() -> None:
    proposal = thompson(problem([(1000, 30), (1000, 36)], mode="triggered"), np.random.default_rng(1))

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


def test_the_naive_policy_penalises_fresh_sends_and_the_delay_aware_one_does_not() -> None:
    # Both at 3 %; v1's sends are a day old, v0's were sent a minute ago and have their early clicks.
    config = PolicyConfig(samples=4000, mode="triggered")
    fresh_clicks = round(20_000 * 0.03 * config.delay.arrived_share(np.array([60.0]))[0])
    cohorts = (Cohort("v0", DAY_S - 60, 20_000, max(fresh_clicks, 1)), Cohort("v1", 0.0, 20_000, 600))
    fresh = Problem(("v0", "v1"), cohorts, DAY_S, 0, config)

    naive = thompson_naive(fresh, np.random.default_rng(1))
    aware = thompson(fresh, np.random.default_rng(1))

    assert naive.p_best[0] < 0.01
    assert aware.p_best[0] > 0.05
