"""Change detection for triggered experiments: the send time after which a variant's rate moved."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from copyloom.engine.posterior import FloatArray

SPLIT_STEP_S = 6 * 3600.0
"""Candidate change points are every six hours back from `now`."""
MAX_SPLITS = 500
MIN_EXPOSURE = 200.0
"""Both sides of a split need this much effective exposure of a variant for it to count."""


def find_change(
    sent_at: FloatArray,
    exposure: FloatArray,
    clicks: FloatArray,
    columns: NDArray[np.intp],
    *,
    now: float,
    min_z: float,
) -> float | None:
    """The most likely single change point of any variant's rate, if it is significant.

    For each candidate split s (every `SPLIT_STEP_S` back from `now`) and each variant, a two-proportion
    z statistic compares the rate of its cohorts sent before s with those sent at or after s; the split
    with the largest |z| over variants is the change point when that |z| reaches `min_z` (a binary
    segmentation step with a CUSUM-like scan). `min_z` is high because the scan looks at many splits,
    variants and days: at 5, equal rates raise a false alarm far less than once in a year of daily looks.

    Args:
        sent_at: each cohort's send time.
        exposure: each cohort's effective exposure (delay-corrected sends).
        clicks: each cohort's successes so far.
        columns: each cohort's variant column.
        now: the current time, epoch seconds.
        min_z: the |z| a change needs.

    Returns:
        The send time from which to keep evidence, or None when no change is significant.
    """
    if sent_at.size == 0:
        return None
    count = min(MAX_SPLITS, int((now - sent_at.min()) // SPLIT_STEP_S))
    if count < 1:
        return None
    splits = now - SPLIT_STEP_S * np.arange(1, count + 1, dtype=np.float64)
    best = np.zeros(count)
    for column in np.unique(columns):
        mine = columns == column
        best = np.maximum(best, np.abs(_z_at_splits(sent_at[mine], exposure[mine], clicks[mine], splits)))
    top = int(np.argmax(best))
    return float(splits[top]) if best[top] >= min_z else None


def _z_at_splits(
    sent_at: FloatArray, exposure: FloatArray, clicks: FloatArray, splits: FloatArray
) -> FloatArray:
    order = np.argsort(sent_at)
    cum_exposure = np.concatenate([[0.0], np.cumsum(exposure[order])])
    cum_clicks = np.concatenate([[0.0], np.cumsum(clicks[order])])
    cut = np.searchsorted(sent_at[order], splits)
    before_n, before_c = cum_exposure[cut], cum_clicks[cut]
    after_n, after_c = cum_exposure[-1] - before_n, cum_clicks[-1] - before_c
    pooled = cum_clicks[-1] / max(cum_exposure[-1], 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / before_n + 1.0 / after_n))
        z = (after_c / after_n - before_c / before_n) / se
    enough = (before_n >= MIN_EXPOSURE) & (after_n >= MIN_EXPOSURE) & (se > 0)
    return np.where(enough, z, 0.0)
