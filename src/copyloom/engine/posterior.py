"""Beta-Bernoulli posteriors per variant, sampled by Monte Carlo with a caller-supplied generator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from copyloom.engine.types import Cohort

FloatArray = NDArray[np.float64]


def totals(variants: Sequence[str], cohorts: Sequence[Cohort]) -> tuple[FloatArray, FloatArray]:
    """Sends and successes per variant (in `variants` order), summed over cohorts."""
    index = {v: i for i, v in enumerate(variants)}
    sends = np.zeros(len(variants))
    clicks = np.zeros(len(variants))
    for cohort in cohorts:
        i = index[cohort.variant]
        sends[i] += cohort.sends
        clicks[i] += cohort.clicks
    return sends, clicks


def sample_rates(
    sends: FloatArray,
    clicks: FloatArray,
    *,
    alpha: float,
    beta: float,
    samples: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Draws of each variant's rate from Beta(alpha + clicks, beta + sends - clicks).

    Returns:
        An array of shape (samples, variants).
    """
    return rng.beta(alpha + clicks, beta + sends - clicks, size=(samples, len(sends)))


def probability_best(draws: FloatArray) -> FloatArray:
    """Share of draws in which each variant has the highest rate (ties split evenly)."""
    best = draws.max(axis=1, keepdims=True)
    is_best = draws == best
    return np.asarray((is_best / is_best.sum(axis=1, keepdims=True)).mean(axis=0), dtype=np.float64)


def expected_loss(draws: FloatArray, choice: int) -> float:
    """E[max_j p_j - p_choice]: the rate given up, on average, by choosing `choice`."""
    return float((draws.max(axis=1) - draws[:, choice]).mean())
