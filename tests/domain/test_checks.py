"""The number predicates the definition parser and the engine share."""

from __future__ import annotations

import math

import numpy as np
import pytest

from copyloom.domain.checks import is_finite_number, is_integer


@pytest.mark.parametrize("value", [0, -3, 10**20, np.int64(7)])
def test_ints_and_numpy_integers_are_integers(value: object) -> None:
    assert is_integer(value)


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None])
def test_bools_floats_and_text_are_not_integers(value: object) -> None:
    assert not is_integer(value)


@pytest.mark.parametrize("value", [0, 0.5, -2.25, np.float64(0.1), np.int32(3)])
def test_finite_reals_are_finite_numbers(value: object) -> None:
    assert is_finite_number(value)


@pytest.mark.parametrize("value", [True, math.nan, math.inf, -math.inf, "0.5", None])
def test_bools_nan_infinities_and_text_are_not_finite_numbers(value: object) -> None:
    assert not is_finite_number(value)


def test_an_int_too_large_for_a_float_is_not_a_finite_number() -> None:
    assert not is_finite_number(10**400)
