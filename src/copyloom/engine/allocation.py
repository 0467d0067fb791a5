"""Allocation rules applied after a policy: a floor per variant, a control holdout, the warm-up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from copyloom.engine.posterior import FloatArray


def is_warming_up(sends: FloatArray, min_sends_per_variant: int) -> bool:
    """True until every variant has at least `min_sends_per_variant` sends."""
    return bool((sends < min_sends_per_variant).any())


def apply_rules(
    variants: Sequence[str], shares: FloatArray, *, floor: float, control: str, control_holdout: float
) -> dict[str, float]:
    """Turn a policy's raw shares into weights that sum to 1, give each variant at least `floor`, and
    reserve `control_holdout` for the control (on top of its own share of the rest).

    The free mass, 1 - holdout - n * floor, is split in proportion to `shares`.
    """
    n = len(variants)
    free = 1.0 - control_holdout - n * floor
    raw = np.clip(np.asarray(shares, dtype=np.float64), 0.0, None)
    total = raw.sum()
    proportions = raw / total if total > 0 else np.full(n, 1.0 / n)
    weights = floor + free * proportions
    weights[list(variants).index(control)] += control_holdout
    weights /= weights.sum()  # removes rounding drift only; the terms above already sum to 1
    return dict(zip(variants, (float(w) for w in weights), strict=True))


def even(variants: Sequence[str]) -> FloatArray:
    return np.full(len(variants), 1.0 / len(variants))


def concentrate(variants: Sequence[str], winner: str) -> FloatArray:
    """All shares on the winner (the floor and holdout are added afterwards by `apply_rules`)."""
    return np.array([1.0 if v == winner else 0.0 for v in variants])


def as_dict(variants: Sequence[str], values: FloatArray) -> Mapping[str, float]:
    return dict(zip(variants, (float(x) for x in values), strict=True))
