"""Allocation rules around every policy: the warm-up, a floor per variant, the control holdout."""

from __future__ import annotations

import numpy as np

from copyloom.engine.posterior import FloatArray


def is_warming_up(sends: FloatArray, min_sends_per_variant: int) -> bool:
    """True until every variant has at least `min_sends_per_variant` sends."""
    return bool((sends < min_sends_per_variant).any())


def even_shares(count: int) -> FloatArray:
    """The same share for each of `count` variants."""
    return np.full(count, 1.0 / count)


def winner_shares(count: int, winner: int) -> FloatArray:
    """Everything on the winner; `apply_floor_and_holdout` then gives the others their floor back."""
    shares = np.zeros(count)
    shares[winner] = 1.0
    return shares


def apply_floor_and_holdout(shares: FloatArray, *, floor: float, control: int, holdout: float) -> FloatArray:
    """Turn a policy's shares into weights: the holdout to the control, the rest by shares with a floor.

    The holdout is reserved first (the control's own share of the rest comes on top). The remaining
    1 - holdout is split in proportion to `shares`, except that a variant below `floor` is raised to it
    and the others scaled down together, so shares that clear the floor keep their ratios.

    Args:
        shares: non-negative shares per variant with a positive sum.
        floor: minimum weight of every variant; holdout + floor * len(shares) < 1.
        control: the column of the control variant.
        holdout: share reserved for the control, 0 <= holdout < 1.

    Returns:
        Weights per variant that sum to 1, each >= floor, the control's >= holdout + floor.
    """
    weights = _raise_to_floor(shares / shares.sum(), floor=floor, total=1.0 - holdout)
    weights[control] += holdout
    # Float rounding goes to the largest weight, the one furthest from its floor.
    weights[int(np.argmax(weights))] += 1.0 - weights.sum()
    return weights


def _raise_to_floor(proportions: FloatArray, *, floor: float, total: float) -> FloatArray:
    # Water-filling: find the scale s with sum(max(floor, s * p)) == total. Pinning a variant at the floor
    # only lowers s, so at most len(p) rounds; some variant always stays free while floor * n < total.
    pinned = np.zeros(len(proportions), dtype=bool)
    while True:
        scale = (total - floor * pinned.sum()) / proportions[~pinned].sum()
        newly_pinned = ~pinned & (scale * proportions < floor)
        if not newly_pinned.any():
            return np.where(pinned, floor, scale * proportions)
        pinned |= newly_pinned
