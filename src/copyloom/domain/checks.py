"""Number predicates the definition parser and the engine share: ints and finite reals, never bools."""

from __future__ import annotations

import math
import numbers
from typing import TypeGuard


def is_integer(value: object) -> TypeGuard[int]:
    """True for ints and numpy integers; False for bools, which are ints only by accident of Python."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_finite_number(value: object) -> TypeGuard[float]:
    """True for finite ints, floats and numpy reals; False for bools, NaN, infinities and ints too large
    for a float (JSON allows 4,300 digits; `math.isfinite` would raise on them)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
