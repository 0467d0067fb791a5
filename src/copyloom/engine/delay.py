"""The click-delay model: how long after a send its click (or open) arrives, as a log-normal law.

Effective exposure is what makes delayed feedback tractable: a cohort of `sends` sent `elapsed_s` ago
can so far have shown only the share F(elapsed_s) of its eventual clicks, so it counts as
sends * F(elapsed_s) sends (Chapelle 2014, "Modeling delayed feedback in display advertising").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from copyloom.domain.checks import is_finite_number
from copyloom.engine.posterior import FloatArray

_SQRT2 = math.sqrt(2.0)
MIN_DELAY_S = 1.0
"""Delays are clamped to at least this: a log-normal has no mass at or below zero."""


@dataclass(frozen=True, slots=True)
class DelayModel:
    """A log-normal click-delay distribution: log(delay_s) ~ Normal(log(median_s), sigma**2).

    The default (median one hour, sigma 1.2: a quarter of clicks after about 2.2 hours, one in ten after
    about 4.7 hours) is the prior for email clicks while a tenant has little data of its own.

    Attributes:
        median_s: the median delay from send to success, seconds.
        sigma: the standard deviation of log(delay); larger means a heavier tail.

    Raises:
        ValueError: "<field>: expected …, got …" when a field is not a positive finite number.
    """

    median_s: float = 3600.0
    sigma: float = 1.2

    def __post_init__(self) -> None:
        if not is_finite_number(self.median_s) or self.median_s <= 0:
            raise ValueError(f"median_s: expected a number with median_s > 0, got {self.median_s!r}")
        if not is_finite_number(self.sigma) or self.sigma <= 0:
            raise ValueError(f"sigma: expected a number with sigma > 0, got {self.sigma!r}")

    def arrived_share(self, elapsed_s: FloatArray) -> FloatArray:
        """F(elapsed_s): the share of eventual successes that have arrived after `elapsed_s` seconds.

        Args:
            elapsed_s: seconds since the send; zero or negative (clock skew) means nothing arrived.

        Returns:
            Values in [0, 1], the same shape as `elapsed_s`.
        """
        elapsed = np.asarray(elapsed_s, dtype=np.float64)
        z = (np.log(np.maximum(elapsed, MIN_DELAY_S)) - math.log(self.median_s)) / self.sigma
        return np.where(elapsed <= 0, 0.0, normal_cdf(z))


def normal_cdf(z: FloatArray) -> FloatArray:
    """Phi(z), vectorised: Abramowitz & Stegun 7.1.26 for erf, absolute error below 1.5e-7."""
    x = np.abs(z) / _SQRT2
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return np.asarray(0.5 * (1.0 + np.sign(z) * erf), dtype=np.float64)


DEFAULT_DELAY = DelayModel()
PRIOR_DELAYS = 50.0
"""The prior counts as this many observed delays: it dominates a new tenant's first few dozen clicks."""


def estimate_delay_model(
    delays_s: Sequence[float], *, prior: DelayModel = DEFAULT_DELAY, prior_delays: float = PRIOR_DELAYS
) -> DelayModel:
    """Fit a log-normal delay model to observed delays, shrunk towards `prior` while data is thin.

    The conjugate Normal update on log delays: the prior is `prior_delays` pseudo-observations with mean
    log(prior.median_s) and spread prior.sigma. With many delays the fit tends to their log-normal
    maximum-likelihood estimate; with few it stays near the prior.

    Pass delays of sends old enough that nearly all their successes have arrived (e.g. sent at least
    seven days before the newest success): delays of recent sends are cut short, which would bias the
    fit towards short delays.

    Args:
        delays_s: seconds from each send to its first success; values below one second count as one.
        prior: the model to shrink towards.
        prior_delays: the weight of the prior in observations, > 0.

    Returns:
        The fitted model.
    """
    logs = np.log(np.maximum(np.asarray(delays_s, dtype=np.float64), MIN_DELAY_S))
    logs = logs[np.isfinite(logs)]
    count = float(logs.size)
    prior_mean = math.log(prior.median_s)
    if count == 0:
        return prior
    mean = float(logs.mean())
    total = prior_delays + count
    posterior_mean = (prior_delays * prior_mean + count * mean) / total
    spread = (
        prior_delays * prior.sigma**2
        + float(((logs - mean) ** 2).sum())
        + prior_delays * count / total * (mean - prior_mean) ** 2
    )
    return DelayModel(median_s=math.exp(posterior_mean), sigma=math.sqrt(spread / total))


_MEDIAN_FACTORS = np.exp(np.linspace(-0.7, 0.7, 7))
_SIGMA_FACTORS = np.exp(np.linspace(-0.5, 0.5, 7))
_PRIOR_SD_LOG_FACTOR = 0.35
MIN_CLICKS_TO_REFINE = 100
"""Below this many successes an experiment's own delays say too little to move the prior."""


def refine_delay_model(
    prior: DelayModel,
    ages_s: FloatArray,
    sends: FloatArray,
    clicks: FloatArray,
    columns: NDArray[np.intp],
) -> DelayModel:
    """The delay model that best explains one experiment's cohorts, near `prior` (a MAP on a grid).

    Cohort clicks are modelled as Poisson(sends * rate[variant] * F(age)), the rates profiled out, so only
    how clicks pile up with a cohort's age informs F: if the prior's tail is too light or too heavy,
    fresh and old cohorts disagree and the fit moves. The grid spans medians from half to twice the
    prior's and sigmas from 0.6 to 1.65 times, with a normal prior of sd 0.35 on both log factors. This
    matters because a wrong F favours whichever variant's sends are younger, the one gaining traffic.

    Args:
        prior: the model to start from (the tenant's pooled estimate).
        ages_s: seconds from each cohort's send to now.
        sends: sends per cohort.
        clicks: successes per cohort so far.
        columns: the variant column of each cohort.

    Returns:
        The refined model, or `prior` itself with fewer than `MIN_CLICKS_TO_REFINE` successes.
    """
    if clicks.sum() < MIN_CLICKS_TO_REFINE:
        return prior
    medians = prior.median_s * np.repeat(_MEDIAN_FACTORS, _SIGMA_FACTORS.size)
    sigmas = prior.sigma * np.tile(_SIGMA_FACTORS, _MEDIAN_FACTORS.size)
    log_age = np.log(np.maximum(ages_s, MIN_DELAY_S))
    shares = normal_cdf((log_age[None, :] - np.log(medians)[:, None]) / sigmas[:, None])
    shares = np.maximum(np.where(ages_s[None, :] <= 0, 0.0, shares), 1e-12)
    per_variant = np.bincount(columns, weights=clicks)
    # Summed per column by bincount, not a one-hot product: with a column per segment x variant the
    # one-hot matrix would be cohorts x columns (24,000 x 2,000 at 200 segments of 10 variants).
    exposure = np.stack(
        [np.bincount(columns, weights=row, minlength=per_variant.size) for row in shares * sends[None, :]]
    )
    has_clicks = per_variant > 0
    # Profile log-likelihood: sum c log F - sum_v O_v log(sum s F), the rates at their MLE.
    scores = np.log(shares) @ clicks - np.log(exposure[:, has_clicks]) @ per_variant[has_clicks]
    scores -= (np.log(medians / prior.median_s) ** 2 + np.log(sigmas / prior.sigma) ** 2) / (
        2 * _PRIOR_SD_LOG_FACTOR**2
    )
    best = int(np.argmax(scores))
    return DelayModel(float(medians[best]), float(sigmas[best]))
