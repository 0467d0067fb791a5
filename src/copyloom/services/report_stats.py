"""The statistics behind reports: credible intervals of rates, uplift and incremental events.

Pure: values in, values out. Monte Carlo draws take the generator as an argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

LEVEL = 0.95
DRAWS = 20_000
_TAIL = (1 - LEVEL) / 2
UPLIFT_MIN_CONTROL_SENDS = 1_000
"""Below this many control sends the uplift over the control is flagged as uncertain."""
UPLIFT_MAX_CI_WIDTH = 1.0
"""... and so is an uplift whose 95 % interval is wider than this (1.0: 100 percentage points)."""


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Counts:
    """The sends of one variant and the unique metric events (clicks or opens) on them."""

    sends: int
    events: int

    @property
    def rate(self) -> float:
        return self.events / self.sends if self.sends else 0.0


def rate_interval(counts: Counts) -> tuple[float, float]:
    """The 95 % credible interval of a rate, from its Beta(1 + events, 1 + sends - events) posterior
    (a uniform prior).

    Equal-tailed, except that with no events (or only events) the posterior density falls away from 0
    (from 1), so the shortest interval, [0, 95th percentile] ([5th percentile, 1]), is used: the observed
    rate is then always inside.
    """
    low, high = rate_intervals(np.array([counts.events]), np.array([counts.sends]))
    return float(low[0]), float(high[0])


def rate_intervals(events: NDArray[np.int64], sends: NDArray[np.int64]) -> tuple[NDArray[np.float64], ...]:
    """`rate_interval` for many counts at once (arrays of the same shape)."""
    # Imported here, not at the top: scipy takes a second or more to import, which every `copyloom serve`
    # worker and CLI command would pay at start-up although only reports need it.
    from scipy.special import betaincinv  # type: ignore[import-untyped]  # noqa: PLC0415 - scipy ships no type hints

    a, b = 1.0 + events, 1.0 + sends - events
    none, every = events == 0, (events == sends) & (sends > 0)
    # betaincinv(a, b, q) is the q-quantile of Beta(a, b).
    low = np.where(none, 0.0, betaincinv(a, b, np.where(every, 2 * _TAIL, _TAIL)))
    high = np.where(every, 1.0, betaincinv(a, b, np.where(none, LEVEL, 1 - _TAIL)))
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def relative_uplift(variant: Counts, control: Counts) -> float:
    """The variant's rate over the control's, minus 1 (infinite when the control has no events)."""
    if control.rate == 0:
        return 0.0 if variant.rate == 0 else float("inf")
    return variant.rate / control.rate - 1


def relative_uplift_interval(
    variant: Counts, control: Counts, rng: np.random.Generator
) -> tuple[float, float]:
    """95 % interval of (variant rate / control rate - 1), by Monte Carlo over both Beta posteriors."""
    ratio = _draws(variant, rng) / _draws(control, rng) - 1
    low, high = np.quantile(ratio, [_TAIL, 1 - _TAIL])
    return float(low), float(high)


def is_uplift_uncertain(control_sends: int, low: float, high: float) -> bool:
    """Whether an uplift over the control with this interval, on this many control sends, means little:
    fewer than UPLIFT_MIN_CONTROL_SENDS control sends, or an interval wider than UPLIFT_MAX_CI_WIDTH."""
    return control_sends < UPLIFT_MIN_CONTROL_SENDS or not high - low <= UPLIFT_MAX_CI_WIDTH


def incremental_vs_control(total: Counts, control: Counts) -> float:
    """Events earned over sending every send the control: actual events - total sends x control rate."""
    return total.events - total.sends * control.rate


def incremental_vs_control_interval(total: Counts, control: Counts) -> tuple[float, float]:
    """The same with the control's rate at the ends of its 95 % interval (it is linear in that rate)."""
    low, high = rate_interval(control)
    return total.events - total.sends * high, total.events - total.sends * low


def incremental_vs_even(variants: Sequence[Counts]) -> float:
    """Events earned over an even split: actual events - sum over variants of (total sends / k) x that
    variant's rate, over the k variants that have sends (one without sends has no rate to use)."""
    sent = [v for v in variants if v.sends]
    if not sent:
        return 0.0
    total_sends = sum(v.sends for v in sent)
    return sum(v.events for v in sent) - total_sends / len(sent) * sum(v.rate for v in sent)


def incremental_vs_even_interval(variants: Sequence[Counts], rng: np.random.Generator) -> tuple[float, float]:
    """95 % interval of `incremental_vs_even`, by Monte Carlo over every variant's Beta posterior."""
    sent = [v for v in variants if v.sends]
    if not sent:
        return 0.0, 0.0
    total_sends = sum(v.sends for v in sent)
    rate_sum = np.sum([_draws(v, rng) for v in sent], axis=0)
    gain = sum(v.events for v in sent) - total_sends / len(sent) * rate_sum
    low, high = np.quantile(gain, [_TAIL, 1 - _TAIL])
    return float(low), float(high)


def _draws(counts: Counts, rng: np.random.Generator) -> NDArray[np.float64]:
    return rng.beta(1 + counts.events, 1 + counts.sends - counts.events, DRAWS)
