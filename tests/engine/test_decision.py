"""The decision rule: a winner needs a high P(best) and a small expected loss relative to its rate."""

from __future__ import annotations

import numpy as np

from copyloom.engine.decision import beats_every_other, find_winner
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


def strata(rows: list[tuple[float, int, float, float]]) -> tuple[np.ndarray, ...]:
    """(sent_at, variant column, sends, clicks) per cohort, as the arrays `beats_every_other` reads."""
    sent_at, columns, sends, clicks = zip(*rows, strict=True)
    return (
        np.array(sent_at, dtype=np.float64),
        np.array(sends, dtype=np.float64),
        np.array(clicks, dtype=np.float64),
        np.array(columns, dtype=np.intp),
    )


def passes(rows: list[tuple[float, int, float, float]], leader: int) -> bool:
    count = 1 + max(column for _, column, _, _ in rows)
    return beats_every_other(
        *strata(rows), leader, count=max(count, 2), false_winner_rate=0.05, expected_lift=0.1
    )


def test_the_sequential_test_passes_a_clear_leader_against_every_other() -> None:
    clear = [(0.0, 0, 50_000, 1000), (0.0, 1, 50_000, 1050), (0.0, 2, 50_000, 1500)]

    assert passes(clear, 2)
    assert not passes(clear, 1)


def test_the_sequential_test_asks_more_than_one_look_at_p_best_095() -> None:
    # z = 2.2: P(best) is about 0.986 at one look, but an always-valid test needs more evidence.
    clicks = 600 + 2.2 * (2 * 600 * 0.97) ** 0.5

    assert winner_of([20_000, 20_000], [600, clicks]) == 1
    assert not passes([(0.0, 0, 20_000, 600), (0.0, 1, 20_000, clicks)], 1)


def test_the_sequential_test_compares_within_send_times_so_fresh_sends_cannot_fake_a_winner() -> None:
    # Equal rates; the leader's sends are mostly old (their clicks are in), the other's mostly fresh.
    rows = [(0.0, 0, 90_000, 2700), (0.0, 1, 10_000, 300), (9.0, 0, 10_000, 10), (9.0, 1, 90_000, 90)]

    assert not passes(rows, 0)
    assert passes(
        [
            *rows[:2],
            (9.0, 0, 10_000, 10),
            (9.0, 1, 90_000, 90),
            (5.0, 0, 50_000, 1800),
            (5.0, 1, 50_000, 1200),
        ],
        0,
    )


def test_the_sequential_test_needs_clicks_on_both_sides() -> None:
    assert not passes([(0.0, 0, 100, 50)], 0)
    assert not passes([(0.0, 0, 100, 0), (0.0, 1, 100, 0)], 0)
