"""The decision rule: a winner needs a high P(best) and a small expected loss relative to its rate."""

from __future__ import annotations

import numpy as np

from copyloom.engine.decision import find_winner
from copyloom.engine.posterior import Totals, probability_best, sample_rates


def winner_of(sends: list[float], clicks: list[float], seed: int = 3) -> int | None:
    totals = Totals(np.array(sends, dtype=np.float64), np.array(clicks, dtype=np.float64))
    draws = sample_rates(
        totals, prior_alpha=1.0, prior_beta=1.0, samples=20_000, rng=np.random.default_rng(seed)
    )
    return find_winner(draws, probability_best(draws), win_probability=0.95, max_expected_loss=0.01)


def test_a_clear_leader_is_declared_the_winner() -> None:
    assert winner_of([20_000, 20_000, 20_000], [600, 610, 800]) == 2


def test_a_close_race_has_no_winner() -> None:
    assert winner_of([20_000, 20_000], [600, 615]) is None


def test_no_data_has_no_winner() -> None:
    assert winner_of([0, 0, 0], [0, 0, 0]) is None


def test_a_probable_leader_with_a_large_expected_loss_is_not_a_winner() -> None:
    # The leader is best in 96 % of draws, but when it loses it loses by far more than 1 % of its rate.
    draws = np.tile([[0.101, 0.100]], (100, 1))
    draws[:4] = [0.01, 0.50]
    p_best = probability_best(draws)

    assert p_best[0] == 0.96
    assert find_winner(draws, p_best, win_probability=0.95, max_expected_loss=0.01) is None
    assert find_winner(draws, p_best, win_probability=0.95, max_expected_loss=0.30) == 0


def test_the_expected_loss_rule_is_relative_to_the_leaders_rate() -> None:
    # The same absolute loss is small for a 40 % open rate and large for a 1 % click rate.
    low = np.tile([[0.0100, 0.0090]], (100, 1))
    low[:2] = [0.0090, 0.0110]
    high = low + 0.39

    assert find_winner(low, probability_best(low), win_probability=0.95, max_expected_loss=0.001) is None
    assert find_winner(high, probability_best(high), win_probability=0.95, max_expected_loss=0.001) == 0
