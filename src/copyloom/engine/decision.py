"""The decision rule: when is the leader a winner?"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from copyloom.engine.posterior import FloatArray, expected_loss


def decide_winner(
    variants: Sequence[str],
    draws: FloatArray,
    p_best: FloatArray,
    *,
    win_probability: float,
    max_expected_loss: float,
) -> str | None:
    """The leader, once P(best) >= `win_probability` and choosing it gives up, in expectation, less than
    `max_expected_loss` of its own posterior mean rate (the regret rule Braze's Intelligent Selection uses).
    """
    leader = int(np.argmax(p_best))
    if p_best[leader] < win_probability:
        return None
    leader_rate = float(draws[:, leader].mean())
    if expected_loss(draws, leader) >= max_expected_loss * leader_rate:
        return None
    return variants[leader]
