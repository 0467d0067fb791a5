"""A benchmark reference, not a policy: traffic shares for a learner told the truth but for one thing.

The oracle knows the variants' true rates as a set and the true click-delay law, only not which variant
has which rate: what is left to learn from the clicks is that assignment. Its posterior over the
assignments is exact (all of them, weighted by their Poisson likelihood of the clicks so far), so what
it captures is about what any learner could capture from the same clicks with the same delay, and
more than a learner that must also estimate the rates and the delay. `copyloom bench optimize` shows
it next to the policies; no experiment can use it, since no experiment knows its rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
from numpy.typing import NDArray

from copyloom.domain.values import VariantId
from copyloom.engine.delay import DelayModel
from copyloom.engine.exposure import cohort_arrays
from copyloom.engine.posterior import FloatArray
from copyloom.engine.values import Cohort

ORACLE_SHARPENING = 8.0
"""Shares follow P(best) ** 8: the best of greedy and the exponents 1, 2, 3, 5, 8 and 12 for the oracle
on seeds 40-239 of the broadcasts (a throwaway sweep, in docs/engine-tuning.md)."""

MAX_ORACLE_VARIANTS = 12
"""The exact posterior sums over subsets of the variants, 2 ** k of them: 4,096 at 12."""


def oracle_shares(
    rates: Sequence[float],
    delay: DelayModel,
    variants: Sequence[VariantId],
    cohorts: Sequence[Cohort],
    now: float,
) -> tuple[FloatArray, FloatArray]:
    """P(best) per variant under the exact posterior over which variant has which true rate, and shares.

    Each variant's clicks so far are Poisson(rate * exposure), its exposure the sends of each cohort
    times the true delay law's F(now - sent_at); every one-to-one assignment of `rates` to the variants
    is weighted by its likelihood (a uniform prior over assignments).

    Args:
        rates: the true rates, as a set: their order says nothing about the variants'.
        delay: the true click-delay law.
        variants: the variant ids, as many as `rates`.
        cohorts: the cohorts so far.
        now: the current time, epoch seconds.

    Returns:
        (P(best), shares) per variant, each summing to 1; shares are P(best) ** `ORACLE_SHARPENING`,
        normalised. With tied best rates a variant's P(best) is its chance of having one of them, split.

    Raises:
        ValueError: "rates: …" when `rates` and `variants` differ in length, a rate is not in (0, 1), or
            there are more than `MAX_ORACLE_VARIANTS`.
    """
    true = np.asarray(rates, dtype=np.float64)
    if true.size != len(variants):
        raise ValueError(f"rates: expected one per variant ({len(variants)}), got {true.size}")
    if true.size > MAX_ORACLE_VARIANTS:
        raise ValueError(f"rates: at most {MAX_ORACLE_VARIANTS} variants, got {true.size}")
    if not ((true > 0) & (true < 1)).all():
        raise ValueError(f"rates: expected each in (0, 1), got {true.tolist()}")
    # Not `exposure.effective_totals`: its exposure is never below the clicks, a guard against a wrong
    # delay model, which the oracle does not have; here the likelihood is the exact one.
    arrays = cohort_arrays(variants, cohorts)
    count = len(variants)
    exposure = np.bincount(
        arrays.columns, weights=arrays.sends * delay.arrived_share(now - arrays.sent_at), minlength=count
    )
    clicks = np.bincount(arrays.columns, weights=arrays.clicks, minlength=count)
    log_likelihood = clicks[:, None] * np.log(true)[None, :] - exposure[:, None] * true[None, :]
    # Scaling a row scales every assignment's weight alike: the marginals do not change.
    weights = np.exp(log_likelihood - log_likelihood.max(axis=1, keepdims=True))
    marginals = assignment_marginals(weights)
    is_top = true == true.max()
    p_best = marginals[:, is_top].sum(axis=1) / is_top.sum()
    shares = p_best**ORACLE_SHARPENING
    return p_best, np.asarray(shares / shares.sum(), dtype=np.float64)


def assignment_marginals(weights: FloatArray) -> FloatArray:
    """P(row i takes column j) when one-to-one assignments are drawn in proportion to their weight.

    An assignment's weight is the product of its entries. The sum over all n! assignments (the
    permanent) is built by dynamic programming over the subsets of columns already taken, in O(n * 2**n)
    with every term positive, so nothing cancels: forward[S] assigns the first |S| rows to the columns S,
    backward[S] the other rows to the columns outside S.

    Args:
        weights: a square array of non-negative entries, at least one assignment of positive weight.

    Returns:
        An array of the same shape; every row and every column sums to 1.
    """
    n = weights.shape[0]
    layers = _subsets_by_size(n)
    full = (1 << n) - 1
    forward = np.zeros(full + 1)
    forward[0] = 1.0
    for row in range(n):
        for column in range(n):
            has = layers[row + 1][(layers[row + 1] >> column) & 1 == 1]
            forward[has] += forward[has ^ (1 << column)] * weights[row, column]
    backward = np.zeros(full + 1)
    backward[full] = 1.0
    for row in range(n - 1, -1, -1):
        for column in range(n):
            free = layers[row][(layers[row] >> column) & 1 == 0]
            backward[free] += weights[row, column] * backward[free | (1 << column)]
    marginals = np.zeros((n, n))
    for row in range(n):
        for column in range(n):
            free = layers[row][(layers[row] >> column) & 1 == 0]
            marginals[row, column] = weights[row, column] * float(
                (forward[free] * backward[free | (1 << column)]).sum()
            )
    return np.asarray(marginals / forward[full], dtype=np.float64)


@cache
def _subsets_by_size(n: int) -> tuple[NDArray[np.int64], ...]:
    masks = np.arange(1 << n, dtype=np.int64)
    sizes = np.array([int(m).bit_count() for m in masks.tolist()])
    return tuple(masks[sizes == size] for size in range(n + 1))
