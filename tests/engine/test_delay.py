"""The click-delay model: its CDF, the pooled estimate with its prior, and the per-experiment refinement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from copyloom.engine import DelayModel, estimate_delay_model
from copyloom.engine.delay import DEFAULT_DELAY, normal_cdf, refine_delay_model


def test_the_arrived_share_is_half_at_the_median_and_grows_with_age() -> None:
    model = DelayModel(median_s=3600.0, sigma=1.0)

    shares = model.arrived_share(np.array([-5.0, 0.0, 60.0, 3600.0, 36_000.0, 1e9]))

    assert shares[:2].tolist() == [0.0, 0.0]
    assert shares[3] == pytest.approx(0.5, abs=1e-6)
    assert (np.diff(shares) >= 0).all()
    assert shares[-1] == pytest.approx(1.0)


def test_the_normal_cdf_matches_erf() -> None:
    z = np.linspace(-5, 5, 101)

    expected = [0.5 * (1 + math.erf(v / math.sqrt(2))) for v in z]

    assert normal_cdf(z).tolist() == pytest.approx(expected, abs=2e-7)


def test_the_estimate_converges_to_the_truth_with_many_delays() -> None:
    delays = np.random.default_rng(4).lognormal(math.log(7200.0), 0.8, size=100_000)

    model = estimate_delay_model(delays.tolist())

    assert model.median_s == pytest.approx(7200.0, rel=0.02)
    assert model.sigma == pytest.approx(0.8, rel=0.02)


def test_the_estimate_stays_near_the_prior_with_few_delays() -> None:
    delays = np.random.default_rng(4).lognormal(math.log(7200.0), 0.8, size=5)

    model = estimate_delay_model(delays.tolist())

    assert model.median_s == pytest.approx(DEFAULT_DELAY.median_s, rel=0.1)
    assert model.sigma == pytest.approx(DEFAULT_DELAY.sigma, rel=0.1)


def test_no_delays_give_the_prior_and_tiny_delays_count_as_one_second() -> None:
    assert estimate_delay_model([]) == DEFAULT_DELAY
    assert estimate_delay_model([0.0, -3.0] * 10_000).median_s == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize(("median_s", "sigma"), [(0.0, 1.0), (math.nan, 1.0), (60.0, 0.0), (60.0, math.inf)])
def test_a_delay_model_rejects_non_positive_or_non_finite_fields(median_s: float, sigma: float) -> None:
    with pytest.raises(ValueError, match=r"^(median_s|sigma): expected a number with"):
        DelayModel(median_s, sigma)


def cohorts_under(truth: DelayModel, seed: int = 2) -> tuple[np.ndarray, ...]:
    """Two variants at 2.5 %, 5,000 sends each every 5 minutes for 6 hours, seen at the end."""
    rng = np.random.default_rng(seed)
    ages = np.repeat(np.arange(72, 0, -1) * 300.0, 2)
    sends = np.full(144, 5000.0)
    clicks = rng.binomial(5000, 0.025 * truth.arrived_share(ages)).astype(np.float64)
    columns = np.tile(np.arange(2), 72).astype(np.intp)
    return ages, sends, clicks, columns


@pytest.mark.parametrize("true_sigma", [0.7, 1.8])
def test_refinement_moves_a_wrong_tail_towards_the_truth(true_sigma: float) -> None:
    truth = DelayModel(3600.0, true_sigma)

    refined = refine_delay_model(DEFAULT_DELAY, *cohorts_under(truth))

    assert abs(math.log(refined.sigma / true_sigma)) < abs(math.log(DEFAULT_DELAY.sigma / true_sigma))


def test_refinement_keeps_the_prior_with_few_clicks() -> None:
    ages, sends, clicks, columns = cohorts_under(DEFAULT_DELAY)

    assert (
        refine_delay_model(DEFAULT_DELAY, ages[:4], sends[:4], clicks[:4] * 0 + 1, columns[:4])
        == DEFAULT_DELAY
    )
