"""Thompson sampling: even during warm-up, P(best) after, everything on a broadcast winner."""

from __future__ import annotations

import numpy as np
import pytest

from copyloom.engine import Cohort, PolicyConfig
from copyloom.engine.policies.thompson import broadcast_shares, sharpening_exponent, thompson, thompson_naive
from copyloom.engine.problem import Problem

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


def test_after_warm_up_broadcast_shares_are_p_best_tempered_by_the_evidence() -> None:
    proposal = thompson(problem([(1000, 30), (1000, 36)]), np.random.default_rng(1))

    assert proposal.reason == "probability_matching"
    means = np.array([31 / 1002, 37 / 1002])  # Beta(1 + clicks, 1 + sends - clicks)
    expected = broadcast_shares(proposal.p_best, means, 66, PolicyConfig())
    assert proposal.shares.tolist() == pytest.approx(expected.tolist())
    assert proposal.shares[1] / proposal.shares.sum() > proposal.p_best[1]


def test_broadcast_shares_lean_to_the_highest_posterior_mean_as_successes_accumulate() -> None:
    p_best = np.array([0.5, 0.3, 0.2])
    means = np.array([0.020, 0.030, 0.010])  # the leader by mean need not lead P(best)
    config = PolicyConfig()

    none = broadcast_shares(p_best, means, 0, config)
    half = broadcast_shares(p_best, means, 1000, config)
    many = broadcast_shares(p_best, means, 1e9, config)

    assert none.tolist() == pytest.approx(p_best.tolist()), "no successes: plain Thompson sampling"
    squared = p_best**2 / (p_best**2).sum()
    assert half.tolist() == pytest.approx((0.6 * squared + [0.0, 0.4, 0.0]).tolist())
    assert many[1] == pytest.approx(0.8 + 0.2 * 0.3**3 / (p_best**3).sum())
    for shares in (none, half, many):
        assert shares.sum() == pytest.approx(1.0)
    unled = broadcast_shares(p_best, means, 1000, PolicyConfig(leader_share=0.0))
    assert unled.tolist() == pytest.approx(squared.tolist())


def test_the_exponent_is_one_without_evidence_half_way_at_sharpen_successes_and_tends_to_the_limit() -> None:
    assert sharpening_exponent(0, exploitation=3.0, sharpen_successes=1000.0) == 1.0
    assert sharpening_exponent(1000, exploitation=3.0, sharpen_successes=1000.0) == pytest.approx(2.0)
    assert sharpening_exponent(1e9, exploitation=3.0, sharpen_successes=1000.0) == pytest.approx(3.0)
    assert sharpening_exponent(1e9, exploitation=1.0, sharpen_successes=1000.0) == 1.0


def test_the_same_p_best_on_little_evidence_moves_less_traffic_than_on_much() -> None:
    # A small send and one a hundred times larger, the gaps chosen so that both leaders stand about
    # 1.1 standard errors ahead, so P(best) is near 0.86 in both.
    small = thompson(problem([(3000, 90), (3000, 105)]), np.random.default_rng(1))
    large = thompson(problem([(300_000, 9000), (300_000, 9150)]), np.random.default_rng(1))

    assert small.p_best[1] == pytest.approx(large.p_best[1], abs=0.05)
    assert small.shares[1] / small.shares.sum() < large.shares[1] / large.shares.sum() - 0.05


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
