"""Allocation rules: warm-up, floor and control holdout turn any policy's shares into valid weights."""

from __future__ import annotations

import numpy as np
import pytest

from copyloom.engine.allocation import apply_floor_and_holdout, even_shares, is_warming_up, winner_shares


def test_warm_up_lasts_until_every_variant_has_the_minimum_sends() -> None:
    assert is_warming_up(np.array([100.0, 99.0, 500.0]), 100)
    assert not is_warming_up(np.array([100.0, 100.0, 500.0]), 100)
    assert not is_warming_up(np.array([0.0, 0.0]), 0)


def test_even_and_winner_shares() -> None:
    assert even_shares(4).tolist() == [0.25] * 4
    assert winner_shares(3, 1).tolist() == [0.0, 1.0, 0.0]


def test_shares_above_the_floor_pass_through_unchanged() -> None:
    weights = apply_floor_and_holdout(np.array([0.7, 0.2, 0.1]), floor=0.01, control=0, holdout=0.0)

    assert weights.tolist() == pytest.approx([0.7, 0.2, 0.1])


def test_a_variant_below_the_floor_is_raised_and_the_others_keep_their_ratio() -> None:
    weights = apply_floor_and_holdout(np.array([0.6, 0.399, 0.001]), floor=0.05, control=0, holdout=0.0)

    assert weights[2] == pytest.approx(0.05)
    assert weights[0] / weights[1] == pytest.approx(0.6 / 0.399)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)


def test_the_winner_gets_everything_but_the_others_floors_and_the_holdout() -> None:
    weights = apply_floor_and_holdout(winner_shares(3, 2), floor=0.02, control=0, holdout=0.1)

    assert weights.tolist() == pytest.approx([0.1 + 0.02, 0.02, 1 - 0.1 - 2 * 0.02])


def test_the_holdout_is_reserved_for_the_control_on_top_of_its_share() -> None:
    weights = apply_floor_and_holdout(np.array([0.5, 0.5]), floor=0.0, control=1, holdout=0.2)

    assert weights.tolist() == pytest.approx([0.4, 0.6])


def test_shares_need_not_be_normalised() -> None:
    weights = apply_floor_and_holdout(np.array([2.0, 2.0]), floor=0.0, control=0, holdout=0.0)

    assert weights.tolist() == pytest.approx([0.5, 0.5])


def test_weights_sum_to_one_and_respect_floor_and_holdout_for_any_shares() -> None:
    rng = np.random.default_rng(11)
    for _ in range(2000):
        count = int(rng.integers(2, 11))
        shares = rng.dirichlet(np.full(count, 0.3))
        floor = rng.uniform(0, 0.99 / count)
        holdout = rng.uniform(0, 1 - floor * count) * 0.99
        control = int(rng.integers(count))

        weights = apply_floor_and_holdout(shares, floor=floor, control=control, holdout=holdout)

        assert abs(weights.sum() - 1.0) < 1e-9
        assert (weights >= floor - 1e-12).all()
        assert weights[control] >= holdout + floor - 1e-12
