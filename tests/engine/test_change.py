"""Change detection: a swap of rates is found near where it happened; stationary data raises no alarm, and
neither do rhythms shared by every variant, nor a wrong delay model."""

from __future__ import annotations

import numpy as np

from copyloom.engine.change import find_change, week_slots
from copyloom.engine.config import PolicyConfig
from copyloom.engine.delay import DelayModel

DAY_S = 86_400.0
HOUR_S = 3_600.0
NOW = 28 * DAY_S
MODEL = DelayModel(median_s=HOUR_S, sigma=1.2)
"""The delay model the engine is given; the simulated clicks follow a heavier tail (sigma 1.5)."""
TRUE_DELAY = DelayModel(median_s=HOUR_S, sigma=1.5)
CHANGE_Z = PolicyConfig().change_z


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


def rhythmic(
    rng: np.random.Generator,
    rates: np.ndarray,
    *,
    days: int = 21,
    per_hour: int = 3000,
    swap_at_day: float | None = None,
    common_step_at_day: float | None = None,
    best_share: float | None = None,
) -> tuple[np.ndarray, ...]:
    """Hourly cohorts under random rhythms by hour of day and day of week, shared by every variant.

    Volume swings up to +-60 % and rates up to +-30 % by hour and +-15 % by weekday, with random shapes;
    the traffic split moves every few hours (random, or `best_share` on the best variant and the rest
    even); clicks arrive by `TRUE_DELAY` while the exposures are corrected with `MODEL`, as the engine
    would. Returns the columns `find_change` takes, and now.
    """
    hours = days * 24
    now = hours * HOUR_S
    t = np.arange(hours) * HOUR_S
    hour, weekday = np.arange(hours) % 24, (np.arange(hours) // 24) % 7
    volume = rng.uniform(0.4, 1.6, 24)[hour] * rng.uniform(0.7, 1.3, 7)[weekday]
    common = rng.uniform(0.7, 1.3, 24)[hour] * rng.uniform(0.85, 1.15, 7)[weekday]
    if common_step_at_day is not None:
        common = common * np.where(t >= common_step_at_day * DAY_S, 1.5, 1.0)
    count = rates.size
    shares = np.empty((hours, count))
    for start in range(0, hours, int(rng.integers(2, 7))):
        if best_share is None:
            shares[start:] = rng.dirichlet(np.ones(count))
        else:
            shares[start:] = (1 - best_share) / (count - 1)
            shares[start:, int(np.argmax(rates))] = best_share
    sends = np.array([rng.multinomial(int(per_hour * v), s) for v, s in zip(volume, shares, strict=True)])
    true_rates = np.tile(rates, (hours, 1))
    if swap_at_day is not None:
        after = t >= swap_at_day * DAY_S
        best, worst = int(np.argmax(rates)), int(np.argmin(rates))
        true_rates[np.ix_(after, [best, worst])] = rates[[worst, best]]
    sent_at = np.repeat(t + HOUR_S / 2, count)
    age = now - sent_at
    eventual = rng.binomial(sends.ravel(), (true_rates * common[:, None]).ravel())
    clicks = rng.binomial(eventual, TRUE_DELAY.arrived_share(age)).astype(np.float64)
    exposure = np.maximum(sends.ravel() * MODEL.arrived_share(age), clicks)
    columns = np.tile(np.arange(count), hours).astype(np.intp)
    return sent_at, exposure, clicks, columns, now


def test_a_swap_is_found_near_the_day_it_happened() -> None:
    sent_at, exposure, clicks, columns = daily([(0.03, 0.02)] * 20 + [(0.02, 0.03)] * 8)

    change = find_change(sent_at, exposure, clicks, columns, now=NOW, min_z=5.0)

    assert change is not None
    assert abs(change - (NOW - 8 * DAY_S)) <= DAY_S


def test_stationary_rates_raise_no_alarm() -> None:
    for seed in range(20):
        sent_at, exposure, clicks, columns = daily([(0.03, 0.02)] * 28, seed=seed)

        assert (
            find_change(sent_at, exposure, clicks, columns, now=NOW, min_z=5.0, compare_weeks=False) is None
        )
        assert find_change(sent_at, exposure, clicks, columns, now=NOW, min_z=5.0) is None


def test_no_cohorts_or_too_short_a_history_give_no_change() -> None:
    empty = np.empty(0)

    assert find_change(empty, empty, empty, empty.astype(np.intp), now=NOW, min_z=5.0) is None
    one = np.array([NOW - 60.0])
    assert (
        find_change(one, one * 0 + 100, one * 0 + 3, np.zeros(1, dtype=np.intp), now=NOW, min_z=5.0) is None
    )


def test_rhythms_shared_by_every_variant_never_raise_an_alarm() -> None:
    # A property over random rhythms, splits, variant counts and seeds (a seeded loop rather than
    # hypothesis: the engine's tests run with numpy alone).
    for seed in range(60):
        rng = np.random.default_rng(seed)
        rates = rng.uniform(0.015, 0.035, int(rng.integers(2, 6)))
        best_share = None if seed % 2 else 0.97
        sent_at, exposure, clicks, columns, now = rhythmic(rng, rates, best_share=best_share)

        change = find_change(sent_at, exposure, clicks, columns, now=now, min_z=CHANGE_Z)

        assert change is None, f"seed {seed}: an alarm at day {change / DAY_S:.2f}"


def test_a_common_change_that_is_no_rhythm_never_moves_the_contrasts() -> None:
    # Every variant's rate up by half from day 12 on: the contrasts between variants stay.
    for seed in range(30):
        rng = np.random.default_rng(seed)
        rates = rng.uniform(0.015, 0.035, int(rng.integers(2, 6)))
        sent_at, exposure, clicks, columns, now = rhythmic(rng, rates, common_step_at_day=12)

        assert (
            find_change(sent_at, exposure, clicks, columns, now=now, min_z=CHANGE_Z, compare_weeks=False)
            is None
        ), f"seed {seed}"


def test_a_real_swap_under_rhythms_is_found_from_the_contrasts() -> None:
    for seed in range(10):
        rng = np.random.default_rng(seed)
        rates = np.array([0.020, 0.022, 0.024, 0.026])
        sent_at, exposure, clicks, columns, now = rhythmic(rng, rates, swap_at_day=14)

        change = find_change(sent_at, exposure, clicks, columns, now=now, min_z=CHANGE_Z, compare_weeks=False)

        assert change is not None, f"seed {seed}"
        assert abs(change - 14 * DAY_S) <= DAY_S


def test_a_real_swap_of_a_variant_with_nearly_all_the_traffic_is_found_within_a_day() -> None:
    # At 97 % on the best variant the others' floors hold few clicks; its own rate against the same
    # hours of the week before finds the swap while it is young.
    for seed in range(10):
        rng = np.random.default_rng(seed)
        rates = np.array([0.020, 0.022, 0.024, 0.026])
        sent_at, exposure, clicks, columns, now = rhythmic(
            rng, rates, days=15, swap_at_day=14, best_share=0.97
        )

        change = find_change(sent_at, exposure, clicks, columns, now=now, min_z=CHANGE_Z)

        assert change is not None, f"seed {seed}"
        assert abs(change - 14 * DAY_S) <= 6 * HOUR_S


def test_a_bucket_and_the_bucket_a_week_later_share_a_slot_however_their_times_jitter() -> None:
    days = np.arange(21) * DAY_S
    jittered = days + 12 * HOUR_S + np.where(np.arange(21) % 2 == 0, -1.0, 1.0)
    slot, slots = week_slots(jittered)

    assert slots == 7
    assert (slot[7:] == slot[:-7]).all()
    assert len(set(slot[:7].tolist())) == 7
    hourly = np.arange(21 * 24) * HOUR_S + 1800.0 + np.random.default_rng(1).uniform(-900, 900, 21 * 24)
    slot, slots = week_slots(hourly)
    assert slots == 168
    assert (slot[168:] == slot[:-168]).all()
