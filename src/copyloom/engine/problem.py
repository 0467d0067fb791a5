"""What a policy receives and returns, shared by `allocate`, the evidence and every registered policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from copyloom.domain.values import VariantId
from copyloom.engine.config import PolicyConfig
from copyloom.engine.posterior import FloatArray
from copyloom.engine.values import Cohort, Reason


@dataclass(frozen=True, slots=True)
class Problem:
    """One experiment's inputs after `allocate` has checked them.

    Attributes:
        variants: unique variant ids, at least two.
        cohorts: cohorts of those variants only.
        now: the current time, epoch seconds.
        control: the column of the control variant in `variants`.
        config: the policy settings.
    """

    variants: tuple[VariantId, ...]
    cohorts: tuple[Cohort, ...]
    now: float
    control: int
    config: PolicyConfig


@dataclass(frozen=True, slots=True)
class Proposal:
    """A policy's answer, in columns of `Problem.variants`; `allocate` then applies floor and holdout.

    Attributes:
        shares: non-negative target shares with a positive sum (normalised by `allocate`).
        p_best: posterior probability of being best per variant; sums to 1.
        winner: the column of the winner under the decision rule, or None.
        reason: why the shares are what they are.
    """

    shares: FloatArray
    p_best: FloatArray
    winner: int | None
    reason: Reason


Policy = Callable[[Problem, np.random.Generator], Proposal]
"""A policy: pure, deterministic for a given generator state, drawing randomness only from it."""
