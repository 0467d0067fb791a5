"""The decision rule: when the leader is a winner."""

from __future__ import annotations

import numpy as np

from copyloom.engine.posterior import FloatArray, expected_loss, mean_rate


def find_winner(
    draws: FloatArray, p_best: FloatArray, *, win_probability: float, max_expected_loss: float
) -> int | None:
    """The leader, when it is probably best and choosing it now costs little in expectation.

    The leader wins when P(best) >= `win_probability` and E[max_j p_j - p_leader] is below
    `max_expected_loss` times E[p_leader]; the second condition is relative so that one setting suits
    a 1 % click rate and a 40 % open rate alike.

    Args:
        draws: posterior rates of shape (samples, variants).
        p_best: P(best) per variant, from the same draws.
        win_probability: the P(best) the leader needs.
        max_expected_loss: the largest expected loss, as a fraction of the leader's mean rate.

    Returns:
        The column of the winner, or None.
    """
    leader = int(np.argmax(p_best))
    if p_best[leader] < win_probability:
        return None
    if expected_loss(draws, leader) >= max_expected_loss * mean_rate(draws, leader):
        return None
    return leader
