"""The segmented scenarios' paired comparison: the contextual policy against the same policy blind."""

from __future__ import annotations

import math

import pytest

from copyloom.bench.segments import paired_difference
from copyloom.simulation.simulate import Outcome


def outcome(clicks: float) -> Outcome:
    # Even split 100, always best 200: the gain captured is (clicks - 100) / 100.
    return Outcome(clicks, 100.0, 200.0, False)


def test_the_paired_difference_is_the_mean_of_the_differences_seed_by_seed() -> None:
    contextual = [outcome(c) for c in (180.0, 150.0, 120.0)]
    blind = [outcome(c) for c in (170.0, 150.0, 100.0)]

    difference = paired_difference(contextual, blind)

    # Differences 0.1, 0.0, 0.2: mean 0.1, standard deviation 0.1, so a standard error of 0.1 / sqrt(3).
    assert difference == {"mean": 0.1, "se": pytest.approx(round(0.1 / math.sqrt(3), 4))}


def test_a_shift_shared_by_both_entrants_on_a_seed_leaves_no_error() -> None:
    # Seeds whose worlds differ move both entrants alike: the pairing removes it.
    contextual = [outcome(c + 5.0) for c in (110.0, 160.0, 190.0)]
    blind = [outcome(c) for c in (110.0, 160.0, 190.0)]

    assert paired_difference(contextual, blind) == {"mean": 0.05, "se": 0.0}


def test_no_paired_difference_on_one_seed_or_nothing_to_gain() -> None:
    assert paired_difference([outcome(150.0)], [outcome(140.0)]) is None
    equal = Outcome(100.0, 100.0, 100.0, False)
    assert paired_difference([equal, equal], [equal, equal]) is None
