"""Effective exposure: fresh sends are not penalised, clicks never exceed exposure, old cohorts fade."""

from __future__ import annotations

import numpy as np
import pytest

from copyloom.engine import Cohort, DelayModel
from copyloom.engine.exposure import effective_totals

DELAY = DelayModel(median_s=3600.0, sigma=1.0)
NOW = 1_000_000.0


def test_a_cohorts_exposure_is_its_sends_times_the_arrived_share() -> None:
    cohorts = [Cohort("a", NOW - 3600.0, 1000, 10), Cohort("b", NOW - 30 * 86_400.0, 1000, 20)]

    totals = effective_totals(["a", "b"], cohorts, now=NOW, delay=DELAY, half_life_s=None)

    assert totals.sends.tolist() == pytest.approx([500.0, 1000.0], abs=1e-3)
    assert totals.clicks.tolist() == [10.0, 20.0]


def test_fresh_sends_add_almost_no_exposure() -> None:
    old = [Cohort("a", NOW - 86_400.0, 1000, 30)]
    with_fresh = [*old, Cohort("a", NOW - 1.0, 50_000, 0)]

    before = effective_totals(["a"], old, now=NOW, delay=DELAY, half_life_s=None)
    after = effective_totals(["a"], with_fresh, now=NOW, delay=DELAY, half_life_s=None)

    assert after.sends[0] == pytest.approx(before.sends[0], rel=1e-3)


def test_exposure_is_never_below_the_clicks() -> None:
    totals = effective_totals(["a"], [Cohort("a", NOW, 100, 7)], now=NOW, delay=DELAY, half_life_s=None)

    assert totals.sends.tolist() == [7.0]


def test_a_cohort_one_half_life_old_counts_half() -> None:
    cohorts = [Cohort("a", NOW - 10 * 86_400.0, 1000, 40), Cohort("b", NOW - 30 * 86_400.0, 1000, 40)]

    totals = effective_totals(["a", "b"], cohorts, now=NOW, delay=DELAY, half_life_s=10 * 86_400.0)

    assert totals.clicks.tolist() == pytest.approx([20.0, 5.0])
    assert totals.sends.tolist() == pytest.approx([500.0, 125.0], rel=1e-6)


def test_a_variant_without_cohorts_has_zeros() -> None:
    totals = effective_totals(["a", "b"], [Cohort("a", 0.0, 10, 1)], now=NOW, delay=DELAY, half_life_s=None)

    assert totals.sends[1] == totals.clicks[1] == 0.0
    assert totals.sends.dtype == np.float64


def test_cohorts_younger_than_min_age_count_for_nothing() -> None:
    cohorts = [
        Cohort("a", NOW - 3600.0, 1000, 10),
        Cohort("a", NOW - 299.0, 1000, 9),
        Cohort("b", NOW - 300.0, 1000, 1),
    ]

    totals = effective_totals(["a", "b"], cohorts, now=NOW, delay=DELAY, half_life_s=None, min_age_s=300.0)

    assert totals.clicks.tolist() == [10.0, 1.0]
    assert totals.sends[0] == pytest.approx(500.0, abs=1e-3)
