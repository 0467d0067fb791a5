"""Beta-Bernoulli posteriors per variant, sampled by Monte Carlo with a caller-supplied generator."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from copyloom.domain.values import VariantId
from copyloom.engine.values import Cohort

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Totals:
    """Sends and successes per variant, in the order of the variants.

    Floats, not ints: the delay-aware evidence replaces raw sends with effective exposures.
    """

    sends: FloatArray
    clicks: FloatArray


def sum_cohorts(variants: Sequence[VariantId], cohorts: Iterable[Cohort]) -> Totals:
    """Sum sends and successes per variant over all cohorts; a variant without cohorts has zeros.

    Args:
        variants: the variant ids; the result follows their order.
        cohorts: cohorts of those variants only (checked by `allocate`).

    Returns:
        The totals per variant.
    """
    index = {variant: i for i, variant in enumerate(variants)}
    sends = np.zeros(len(variants), dtype=np.float64)
    clicks = np.zeros(len(variants), dtype=np.float64)
    for cohort in cohorts:
        sends[index[cohort.variant]] += cohort.sends
        clicks[index[cohort.variant]] += cohort.clicks
    return Totals(sends, clicks)


def sample_rates(
    totals: Totals, *, prior_alpha: float, prior_beta: float, samples: int, rng: np.random.Generator
) -> FloatArray:
    """Draw each variant's rate from its posterior Beta(prior_alpha + clicks, prior_beta + sends - clicks).

    Args:
        totals: sends and successes per variant.
        prior_alpha: prior successes, > 0.
        prior_beta: prior failures, > 0.
        samples: number of joint draws.
        rng: the only source of randomness.

    Returns:
        An array of shape (samples, variants).
    """
    alpha, beta = _beta_parameters(totals, prior_alpha, prior_beta)
    return rng.beta(alpha, beta, size=(samples, len(alpha)))


def posterior_mean(totals: Totals, *, prior_alpha: float, prior_beta: float) -> FloatArray:
    """E[p] per variant under the posterior that `sample_rates` draws from, exactly.

    Args:
        totals: sends and successes per variant.
        prior_alpha: prior successes, > 0.
        prior_beta: prior failures, > 0.

    Returns:
        The mean rate per variant.
    """
    alpha, beta = _beta_parameters(totals, prior_alpha, prior_beta)
    return np.asarray(alpha / (alpha + beta), dtype=np.float64)


def _beta_parameters(totals: Totals, prior_alpha: float, prior_beta: float) -> tuple[FloatArray, FloatArray]:
    alpha = prior_alpha + totals.clicks
    # Effective exposures are floats: keep rounding from pushing failures below zero.
    beta = prior_beta + np.maximum(totals.sends - totals.clicks, 0.0)
    return alpha, beta


def probability_best(draws: FloatArray) -> FloatArray:
    """Share of draws in which each variant has the highest rate, a tie giving each tied variant its part.

    Args:
        draws: rates of shape (samples, variants).

    Returns:
        P(best) per variant; sums to 1.
    """
    is_best = draws == draws.max(axis=1, keepdims=True)
    return np.asarray((is_best / is_best.sum(axis=1, keepdims=True)).mean(axis=0), dtype=np.float64)


def expected_loss(draws: FloatArray, choice: int) -> float:
    """E[max_j p_j - p_choice]: the rate given up, on average, by choosing variant `choice`.

    Args:
        draws: rates of shape (samples, variants).
        choice: the column of the chosen variant.

    Returns:
        A rate, >= 0.
    """
    return float((draws.max(axis=1) - draws[:, choice]).mean())


def mean_rate(draws: FloatArray, choice: int) -> float:
    """E[p_choice] estimated from the same draws, so that loss and mean share their Monte Carlo error."""
    return float(draws[:, choice].mean())
