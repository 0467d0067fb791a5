"""Partial pooling across segments: each segment's rate per variant borrows strength from the experiment.

The model, per segment s and variant v, with successes c_sv among effective exposures n_sv:

    p_sv ~ Beta(kappa * m_sv, kappa * (1 - m_sv)),   m_sv = theta_v * b_s,   c_sv ~ Binomial(n_sv, p_sv)

theta_v is the variant's pooled rate (its posterior over every cohort), b_s the segment's base-rate ratio
(its successes over those its sends would have earned at the pooled rates, shrunk towards 1), so a
segment that clicks more on every variant is not taken for a segment with a different winner: only the
segment x variant *interaction* is pooled. kappa, the prior's weight in exposures, has a posterior on a
log grid: the Beta-Binomial marginal likelihood of the cells times a prior flat in log kappa where
interactions are small and falling where they are large (`kappa_log_prior`). When every segment
has the same best, the cells agree with m and kappa runs to the top of the grid: each segment then
follows the pooled posterior and loses nothing. When segments differ, kappa is small against a large
segment's exposures, which then follows its own data, while a segment with few sends stays near its m.
The uncertainty of theta is carried by drawing theta from its posterior in every Monte Carlo sample.
"""

from __future__ import annotations

import numpy as np

from copyloom.engine.posterior import FloatArray

KAPPA_GRID = np.logspace(1.0, 7.0, 49)
"""Prior weights (in exposures) on which kappa's posterior is carried: 10 (no pooling at a 1 % rate: a tenth
of a success) to 10 million (a segment indistinguishable from the pool), 8 points a decade."""
INTERACTION_SCALE = 0.08
"""The scale of kappa's prior (`kappa_log_prior`): the interaction's relative size, the spread of a
segment's rate around m_sv as a share of it, tau = sqrt((1 - m) / (m * (kappa + 1))), at which the prior
starts to fall. Wordings that win by ten or twenty per cent in one segment and lose by as much in another
are plausible and the cells show them within the send; a wording twice as good in one segment as the
pool says is not, so small kappa needs the cells' evidence to be believed. 0.08 against 0.05, 0.11, 0.15
and the flat prior on the segmented benchmark (docs/engine-tuning.md)."""
BASE_PSEUDO_SUCCESSES = 20.0
"""A segment's base-rate ratio is (successes + 20) / (expected successes + 20): a segment with a few
dozen successes keeps close to the pooled base rate, one with thousands has its own."""
_RATE_BOUNDS = (1e-9, 1.0 - 1e-9)


def base_ratios(clicks: FloatArray, exposure: FloatArray, pooled_rates: FloatArray) -> FloatArray:
    """Each segment's base-rate ratio b_s, shrunk towards 1.

    Args:
        clicks: successes of shape (segments, variants).
        exposure: effective exposures of the same shape.
        pooled_rates: each variant's pooled rate (its posterior mean).

    Returns:
        b_s per segment: (sum_v c_sv + k) / (sum_v n_sv * theta_v + k), k = `BASE_PSEUDO_SUCCESSES`;
        the expected successes follow the segment's own mix of variants, so an uneven split does not
        move it.
    """
    expected = exposure @ pooled_rates
    return np.asarray(
        (clicks.sum(axis=1) + BASE_PSEUDO_SUCCESSES) / (expected + BASE_PSEUDO_SUCCESSES), dtype=np.float64
    )


def prior_means(pooled_rates: FloatArray, ratios: FloatArray) -> FloatArray:
    """m_sv = theta_v * b_s, kept inside (0, 1); theta of shape (..., variants) gives (..., segments,
    variants)."""
    means = pooled_rates[..., None, :] * ratios[:, None]
    return np.asarray(np.clip(means, *_RATE_BOUNDS), dtype=np.float64)


def kappa_log_prior(mean_rate: float, scale: float = INTERACTION_SCALE) -> FloatArray:
    """log prior of each `KAPPA_GRID` point, up to a constant: -tau^2 / (2 * scale^2), tau(kappa) =
    sqrt((1 - m) / (m * (kappa + 1))) the interaction's relative size.

    Uniform on log kappa (scale-free, as before) where interactions are small against `scale`, and a
    half-normal's tail where they are large: at a 2.4 % rate and the default scale, kappa = 10 (tau about
    2, a segment's rate anywhere from nothing to three times the pool's) starts e^-289 down and 1,000
    (tau 0.2) e^-3.2, so the first hour's flat likelihood no longer lets segments explore on their own
    data.

    Args:
        mean_rate: m, the cells' typical prior mean, in (0, 1).
        scale: the interaction size where the prior is e^-1/2 down, > 0.

    Returns:
        One log weight per grid point.
    """
    tau_squared = (1.0 - mean_rate) / (mean_rate * (KAPPA_GRID + 1.0))
    return np.asarray(-tau_squared / (2.0 * scale**2), dtype=np.float64)


def kappa_weights(clicks: FloatArray, exposure: FloatArray, means: FloatArray) -> FloatArray:
    """The posterior over `KAPPA_GRID`: the prior of `kappa_log_prior` (at the cells' mean prior mean)
    times the cells' Beta-Binomial marginal likelihood.

    Args:
        clicks: successes c of shape (segments, variants).
        exposure: effective exposures n of the same shape (floats: the binomial coefficient does not
            depend on kappa and is left out, so fractional counts are fine).
        means: prior means m of the same shape.

    Returns:
        Weights per grid point, summing to 1; even when no cell has any exposure.
    """
    # Imported here: scipy takes a second to import, which every process that imports the engine would pay.
    from scipy.special import betaln  # type: ignore[import-untyped]  # noqa: PLC0415 - scipy has no type hints

    failures = np.maximum(exposure - clicks, 0.0)
    kappa = KAPPA_GRID[:, None, None]
    alpha, beta = kappa * means, kappa * (1.0 - means)
    scores = np.asarray(betaln(alpha + clicks, beta + failures) - betaln(alpha, beta)).sum(axis=(1, 2))
    scores = scores + kappa_log_prior(float(np.clip(means.mean(), *_RATE_BOUNDS)))
    weights = np.exp(scores - scores.max())
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def sample_segment_rates(
    clicks: FloatArray,
    exposure: FloatArray,
    pooled_draws: FloatArray,
    *,
    ratio: float,
    kappa: FloatArray,
    rng: np.random.Generator,
) -> FloatArray:
    """Draws of one segment's rates: per sample, theta from the pooled draws, then each cell's posterior
    Beta(kappa * m + c, kappa * (1 - m) + n - c), m = theta * b_s.

    Args:
        clicks: the segment's successes per variant.
        exposure: the segment's effective exposures per variant.
        pooled_draws: the pooled rates, shape (samples, variants).
        ratio: the segment's base-rate ratio b_s.
        kappa: the prior weight of each sample, shape (samples,), drawn from `kappa_weights`.
        rng: the only source of randomness.

    Returns:
        Rates of shape (samples, variants).
    """
    means = np.clip(pooled_draws * ratio, *_RATE_BOUNDS)
    failures = np.maximum(exposure - clicks, 0.0)
    weight = kappa[:, None]
    return rng.beta(weight * means + clicks, weight * (1.0 - means) + failures)
