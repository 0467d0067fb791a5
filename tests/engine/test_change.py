"""Change detection: a swap of rates is found near where it happened; stationary data raises no alarm."""

from __future__ import annotations

import numpy as np

from copyloom.engine.change import find_change

DAY_S = 86_400.0
NOW = 28 * DAY_S


def daily(
    rates_by_day: list[tuple[float, float]], sends: int = 5000, seed: int = 1
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    days = len(rates_by_day)
    sent_at = np.repeat(NOW - DAY_S * np.arange(days, 0, -1), 2).astype(np.float64)
    rates = np.array(rates_by_day, dtype=np.float64).ravel()
    clicks = rng.binomial(sends, rates).astype(np.float64)
    columns = np.tile(np.arange(2), days).astype(np.intp)
    return sent_at, np.full(2 * days, float(sends)), clicks, columns


def test_a_swap_is_found_near_the_day_it_happened() -> None:
    sent_at, exposure, clicks, columns = daily([(0.03, 0.02)] * 20 + [(0.02, 0.03)] * 8)

    change = find_change(sent_at, exposure, clicks, columns, now=NOW, min_z=5.0)

    assert change is not None
    assert abs(change - (NOW - 8 * DAY_S)) <= DAY_S


def test_stationary_rates_raise_no_alarm() -> None:
    for seed in range(20):
        sent_at, exposure, clicks, columns = daily([(0.03, 0.02)] * 28, seed=seed)

        assert find_change(sent_at, exposure, clicks, columns, now=NOW, min_z=5.0) is None


def test_no_cohorts_or_too_short_a_history_give_no_change() -> None:
    empty = np.empty(0)

    assert find_change(empty, empty, empty, empty.astype(np.intp), now=NOW, min_z=5.0) is None
    one = np.array([NOW - 60.0])
    assert (
        find_change(one, one * 0 + 100, one * 0 + 3, np.zeros(1, dtype=np.intp), now=NOW, min_z=5.0) is None
    )
