"""The domain: value types (`values`), events (`events`), pseudonymisation (`pseudonyms`), the
experiment-definition parser (`definition`) and shared number predicates (`checks`).

Import from those modules. The names below are re-exported only for modules not yet moved to them.
"""

from __future__ import annotations

from copyloom.domain.checks import is_finite_number, is_integer
from copyloom.domain.definition import parse_experiment_definition
from copyloom.domain.values import (
    DEFAULT_CONTROL_HOLDOUT,
    DEFAULT_FLOOR,
    DEFAULT_MIN_SENDS_PER_VARIANT,
    MODES,
    Mode,
    VariantId,
)

__all__ = [
    "DEFAULT_CONTROL_HOLDOUT",
    "DEFAULT_FLOOR",
    "DEFAULT_MIN_SENDS_PER_VARIANT",
    "MODES",
    "Mode",
    "VariantId",
    "is_finite_number",
    "is_integer",
    "parse_experiment_definition",
]
