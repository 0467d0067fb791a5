"""The decision rule: when the leader is a winner, at one look and under repeated looks."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

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


def beats_every_other(
    sent_at: FloatArray,
    sends: FloatArray,
    clicks: FloatArray,
    columns: NDArray[np.intp],
    leader: int,
    *,
    count: int,
    false_winner_rate: float,
    expected_lift: float,
) -> bool:
    """True when the leader's rate is above every other's by an always-valid test stratified by send time.

    P(best) >= 0.95 at one look is a 5 % test per arm; a learner that looks every minute gets many
    chances to see it by luck. Two remedies, combined here:

    - Stratified by send time: within cohorts sent at the same time the share of clicks that has
      arrived is the same for every variant, so given the clicks n of the leader and another variant in
      one bucket, the leader's are Binomial(n, pi), pi its share of the two's sends, when their rates are
      equal. Summed over buckets, the score U = sum (c_leader - n pi) with variance V = sum n pi (1 - pi)
      (a Mantel-Haenszel / log-rank score) needs no delay model at all, so a wrong one cannot fake a
      winner, however unevenly traffic was split.
    - Always valid: U is a martingale in the looks, so the normal-mixture likelihood ratio
      Lambda = (1 + tau^2 V)^(-1/2) exp(tau^2 U^2 / (2 (1 + tau^2 V))), tau = expected_lift on the log rate
      ratio, exceeds 1 / alpha with probability at most alpha over *all* looks (mixture SPRT; Robbins
      1970, Johari, Pekelis & Walsh 2017). The leader must pass against each of the count - 1 others at
      alpha = false_winner_rate / (count - 1) (Bonferroni over the comparisons a winner needs).

    Args:
        sent_at: each cohort's send time; cohorts with the same value form one bucket.
        sends: sends per cohort.
        clicks: successes so far per cohort.
        columns: each cohort's variant column.
        leader: the column of the candidate winner.
        count: the number of variants; one without cohorts fails the leader.
        false_winner_rate: the chance, at most, that a variant no better than another ever passes.
        expected_lift: the mixture's spread on the log rate ratio (0.1: lifts around 10 %).

    Returns:
        Whether the leader passes against every other variant.
    """
    ratios = sequential_log_ratios(
        sent_at, sends, clicks, columns, leader, count=count, expected_lift=expected_lift
    )
    threshold = sequential_threshold(count, false_winner_rate)
    return all(ratio >= threshold for other, ratio in enumerate(ratios) if other != leader)


def sequential_threshold(count: int, false_winner_rate: float) -> float:
    """The log likelihood ratio the leader needs against each other variant: log((count - 1) / alpha)."""
    return math.log((count - 1) / false_winner_rate)


def sequential_log_ratios(
    sent_at: FloatArray,
    sends: FloatArray,
    clicks: FloatArray,
    columns: NDArray[np.intp],
    leader: int,
    *,
    count: int,
    expected_lift: float,
) -> list[float]:
    """log Lambda of the leader against each variant (see `beats_every_other`), by column.

    The leader's own column, and every variant the leader is not ahead of (score <= 0) or that shares
    no clicks with it (variance 0), get -inf: no evidence at all.
    """
    _, bucket = np.unique(sent_at, return_inverse=True)
    bucket_sends = np.zeros((int(bucket.max(initial=-1)) + 1, count))
    bucket_clicks = np.zeros_like(bucket_sends)
    np.add.at(bucket_sends, (bucket, columns), sends)
    np.add.at(bucket_clicks, (bucket, columns), clicks)
    tau2 = expected_lift**2
    ratios = [-math.inf] * count
    for other in range(count):
        if other == leader:
            continue
        pair_sends = bucket_sends[:, leader] + bucket_sends[:, other]
        share = np.divide(
            bucket_sends[:, leader], pair_sends, out=np.zeros(len(pair_sends)), where=pair_sends > 0
        )
        pair_clicks = bucket_clicks[:, leader] + bucket_clicks[:, other]
        score = float((bucket_clicks[:, leader] - pair_clicks * share).sum())
        variance = float((pair_clicks * share * (1.0 - share)).sum())
        if score > 0 and variance > 0:
            ratios[other] = -0.5 * math.log1p(tau2 * variance) + tau2 * score**2 / (
                2.0 * (1.0 + tau2 * variance)
            )
    return ratios
