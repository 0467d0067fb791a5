"""The policy registry: a policy turns the posterior evidence into raw traffic shares.

A policy is a function of a `PolicyInput` returning one non-negative share per variant; `allocate`
then applies the floor, the holdout and the decision rule. See docs/adding-a-policy.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from copyloom.engine.posterior import FloatArray
from copyloom.engine.types import Cohort, PolicyConfig


@dataclass(frozen=True, slots=True)
class PolicyInput:
    variants: tuple[str, ...]
    cohorts: tuple[Cohort, ...]
    sends: FloatArray
    clicks: FloatArray
    draws: FloatArray
    p_best: FloatArray
    now: float
    config: PolicyConfig
    rng: np.random.Generator


Policy = Callable[[PolicyInput], FloatArray]


def _thompson(evidence: PolicyInput) -> FloatArray:
    """Batch Thompson sampling: each variant's share is its posterior probability of being best.

    This foundation version counts clicks so far over sends so far; it does not yet correct the exposure
    of recent cohorts for clicks that cannot have arrived (the delay-aware version uses `now` for that).
    """
    return evidence.p_best


def _uniform(evidence: PolicyInput) -> FloatArray:
    """An even split, whatever the evidence: the baseline every other policy is measured against."""
    return np.full(len(evidence.variants), 1.0 / len(evidence.variants))


POLICIES: dict[str, Policy] = {"thompson": _thompson, "uniform": _uniform}
CONCENTRATES_ON_WINNER = frozenset({"thompson"})


def policy_names() -> list[str]:
    return sorted(POLICIES)
