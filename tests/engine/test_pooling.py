"""Partial pooling (`engine.pooling`): base-rate ratios, the prior weight's posterior, the segment draws."""

from __future__ import annotations

import numpy as np
import pytest

from copyloom.engine.pooling import (
    BASE_PSEUDO_SUCCESSES,
    INTERACTION_SCALE,
    KAPPA_GRID,
    base_ratios,
    kappa_log_prior,
    kappa_weights,
    prior_means,
    sample_segment_rates,
)

POOLED = np.array([0.02, 0.03])


def cells(table: list[tuple[float, float]], sends: float) -> tuple[np.ndarray, np.ndarray]:
    exposure = np.full((len(table), 2), sends)
    return np.round(np.array(table) * exposure), exposure


def test_a_segment_with_many_successes_keeps_its_base_rate_and_one_with_none_the_pool() -> None:
    clicks, exposure = cells([(0.04, 0.06), (0.0, 0.0)], 100_000)
    clicks[1] = 0.0
    exposure[1] = 0.0

    ratios = base_ratios(clicks, exposure, POOLED)

    assert ratios[0] == pytest.approx(2.0, rel=0.01)
    assert ratios[1] == 1.0
    small = base_ratios(np.array([[2.0, 3.0]]), np.array([[50.0, 50.0]]), POOLED)
    assert small[0] == pytest.approx((5 + BASE_PSEUDO_SUCCESSES) / (2.5 + BASE_PSEUDO_SUCCESSES))


def test_prior_means_scale_every_variant_of_a_segment_alike() -> None:
    means = prior_means(POOLED, np.array([1.0, 0.5]))

    assert means == pytest.approx(np.array([[0.02, 0.03], [0.01, 0.015]]))


def mean_log_kappa(table: list[tuple[float, float]]) -> float:
    clicks, exposure = cells(table, 50_000)
    pooled = clicks.sum(axis=0) / exposure.sum(axis=0)
    weights = kappa_weights(clicks, exposure, prior_means(pooled, base_ratios(clicks, exposure, pooled)))
    assert weights.sum() == pytest.approx(1.0)
    return float(weights @ np.log10(KAPPA_GRID))


def test_segments_that_agree_pool_and_segments_that_disagree_do_not() -> None:
    agree = mean_log_kappa([(0.02, 0.03), (0.01, 0.015), (0.04, 0.06)])
    disagree = mean_log_kappa([(0.02, 0.03), (0.03, 0.02), (0.02, 0.03)])

    assert agree > 5.0
    assert disagree < 3.5


def test_no_evidence_leaves_the_prior_on_the_grid() -> None:
    weights = kappa_weights(np.zeros((2, 2)), np.zeros((2, 2)), np.full((2, 2), 0.02))

    prior = np.exp(kappa_log_prior(0.02))
    assert weights == pytest.approx(prior / prior.sum())


def test_the_prior_is_flat_where_interactions_are_small_and_falls_where_they_are_large() -> None:
    log_prior = kappa_log_prior(0.02)
    tau = np.sqrt(0.98 / (0.02 * (KAPPA_GRID + 1)))

    # Interactions of a tenth of the scale or less: within 0.005 of flat in log kappa.
    small = tau < INTERACTION_SCALE / 10
    assert np.ptp(log_prior[small]) < 0.005
    # An interaction twice the scale is e^-2 down; kappa = 10 (a segment's rate anywhere from 0 to 3x the
    # pool's) is out of the question before the cells say otherwise.
    assert kappa_log_prior(0.02)[0] - log_prior[-1] < -50
    assert np.all(np.diff(log_prior) > 0)


def test_a_large_prior_weight_draws_the_pooled_rates_and_a_small_one_the_segment_data() -> None:
    pooled_draws = np.tile(POOLED, (2000, 1))
    clicks, exposure = np.array([300.0, 100.0]), np.array([10_000.0, 10_000.0])

    def mean_draw(kappa: float) -> np.ndarray:
        kappas = np.full(2000, kappa)
        draws = sample_segment_rates(
            clicks, exposure, pooled_draws, ratio=1.0, kappa=kappas, rng=np.random.default_rng(1)
        )
        assert draws.shape == (2000, 2)
        return draws.mean(axis=0)

    assert mean_draw(1e7) == pytest.approx(POOLED, rel=0.02)
    assert mean_draw(10.0) == pytest.approx([0.03, 0.01], rel=0.05)
