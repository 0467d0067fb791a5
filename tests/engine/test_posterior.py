"""Posterior maths: totals per variant, Beta draws, P(best) against closed forms, expected loss."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from copyloom.engine import Cohort
from copyloom.engine.posterior import (
    FloatArray,
    Totals,
    expected_loss,
    mean_rate,
    probability_best,
    sample_rates,
    sum_cohorts,
)


def totals_of(sends: Sequence[float], clicks: Sequence[float]) -> Totals:
    return Totals(np.array(sends, dtype=np.float64), np.array(clicks, dtype=np.float64))


def draws_for(
    sends: Sequence[float], clicks: Sequence[float], samples: int = 200_000, seed: int = 1
) -> FloatArray:
    totals = totals_of(sends, clicks)
    return sample_rates(
        totals, prior_alpha=1.0, prior_beta=1.0, samples=samples, rng=np.random.default_rng(seed)
    )


def closed_form_p_b_beats_a(alpha_a: int, beta_a: int, alpha_b: int, beta_b: int) -> float:
    """P(p_B > p_A) for Beta posteriors with integer alpha_b.

    Evan Miller, "Formulas for Bayesian A/B testing" (2015), the sum for P(p_B > p_A).
    """

    def log_beta(a: float, b: float) -> float:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    return sum(
        math.exp(
            log_beta(alpha_a + i, beta_a + beta_b)
            - math.log(beta_b + i)
            - log_beta(1 + i, beta_b)
            - log_beta(alpha_a, beta_a)
        )
        for i in range(alpha_b)
    )


def test_cohorts_are_summed_per_variant_in_variant_order() -> None:
    cohorts = [Cohort("v1", 0.0, 100, 3), Cohort("control", 60.0, 50, 1), Cohort("v1", 60.0, 20, 2)]

    totals = sum_cohorts(["control", "v1", "v2"], cohorts)

    assert totals.sends.tolist() == [50.0, 120.0, 0.0]
    assert totals.clicks.tolist() == [1.0, 5.0, 0.0]


def test_draws_have_one_column_per_variant_and_the_posterior_mean() -> None:
    draws = draws_for([1000, 1000], [30, 100], samples=50_000)

    assert draws.shape == (50_000, 2)
    assert draws.mean(axis=0) == pytest.approx([31 / 1002, 101 / 1002], rel=0.01)


def test_draws_are_the_same_for_the_same_seed() -> None:
    assert np.array_equal(draws_for([10, 20], [1, 2], samples=100), draws_for([10, 20], [1, 2], samples=100))


def test_identical_counts_are_equally_likely_to_be_best() -> None:
    p_best = probability_best(draws_for([5000, 5000], [150, 150]))

    assert p_best == pytest.approx([0.5, 0.5], abs=0.01)


def test_three_identical_variants_each_have_a_third() -> None:
    p_best = probability_best(draws_for([800, 800, 800], [20, 20, 20]))

    assert p_best == pytest.approx([1 / 3, 1 / 3, 1 / 3], abs=0.01)


def test_a_huge_gap_makes_the_better_variant_certainly_best() -> None:
    p_best = probability_best(draws_for([10_000, 10_000], [100, 500]))

    assert p_best[1] > 0.9999


@pytest.mark.parametrize(
    ("sends", "clicks"),
    [([400, 420], [9, 14]), ([1000, 1000], [30, 38]), ([50, 60], [2, 1]), ([0, 10], [0, 1])],
)
def test_p_best_of_two_variants_matches_the_closed_form(sends: list[int], clicks: list[int]) -> None:
    expected = closed_form_p_b_beats_a(
        1 + clicks[0], 1 + sends[0] - clicks[0], 1 + clicks[1], 1 + sends[1] - clicks[1]
    )

    p_best = probability_best(draws_for(sends, clicks))

    # 200,000 draws: the Monte Carlo standard error is at most 0.0012.
    assert p_best[1] == pytest.approx(expected, abs=0.005)
    assert p_best.sum() == pytest.approx(1.0)


def test_ties_are_split_between_the_tied_variants() -> None:
    draws = np.array([[0.2, 0.2, 0.1], [0.1, 0.3, 0.3], [0.5, 0.1, 0.1], [0.4, 0.4, 0.4]])

    p_best = probability_best(draws)

    assert p_best.tolist() == pytest.approx(
        [(0.5 + 0 + 1 + 1 / 3) / 4, (0.5 + 0.5 + 0 + 1 / 3) / 4, (0.5 + 1 / 3) / 4]
    )


def test_expected_loss_averages_what_the_choice_gives_up() -> None:
    draws = np.array([[0.10, 0.20], [0.30, 0.10], [0.20, 0.20], [0.05, 0.25]])

    assert expected_loss(draws, 0) == pytest.approx((0.10 + 0 + 0 + 0.20) / 4)
    assert expected_loss(draws, 1) == pytest.approx((0 + 0.20 + 0 + 0) / 4)
    assert mean_rate(draws, 0) == pytest.approx(0.1625)


def test_expected_loss_of_a_clear_leader_is_almost_nothing() -> None:
    draws = draws_for([10_000, 10_000], [100, 500])

    assert expected_loss(draws, 1) < 1e-9
    assert expected_loss(draws, 0) == pytest.approx(400 / 10_002, rel=0.01)
