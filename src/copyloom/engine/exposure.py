"""Effective evidence per variant: exposure corrected for clicks still to come, old cohorts forgotten."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from copyloom.domain.values import VariantId
from copyloom.engine.change import find_change
from copyloom.engine.delay import DelayModel, refine_delay_model
from copyloom.engine.posterior import FloatArray, Totals
from copyloom.engine.values import Cohort


@dataclass(frozen=True, slots=True)
class CohortArrays:
    """The cohorts as columns: variant column, send time, sends and successes of each cohort."""

    columns: NDArray[np.intp]
    sent_at: FloatArray
    sends: FloatArray
    clicks: FloatArray


def cohort_arrays(variants: Sequence[VariantId], cohorts: Sequence[Cohort]) -> CohortArrays:
    """The cohorts as arrays, each variant by its column in `variants`."""
    index = {variant: i for i, variant in enumerate(variants)}
    count = len(cohorts)
    return CohortArrays(
        np.fromiter((index[c.variant] for c in cohorts), dtype=np.intp, count=count),
        np.fromiter((c.sent_at for c in cohorts), dtype=np.float64, count=count),
        np.fromiter((c.sends for c in cohorts), dtype=np.float64, count=count),
        np.fromiter((c.clicks for c in cohorts), dtype=np.float64, count=count),
    )


def effective_totals(
    variants: Sequence[VariantId],
    cohorts: Sequence[Cohort],
    *,
    now: float,
    delay: DelayModel,
    half_life_s: float | None,
    is_delay_refined: bool = False,
    change_z: float | None = None,
    min_age_s: float = 0.0,
) -> Totals:
    """Successes and effective exposure per variant at `now`.

    A cohort's exposure is sends * F(now - sent_at), F the delay model's CDF, so a variant whose sends
    are fresh is not penalised for clicks that cannot have arrived yet. It is never below the cohort's
    clicks: more clicks than F allows means the model is too slow for this cohort, and the clicks are
    the better evidence. With `half_life_s`, both counts of a cohort are weighted by
    0.5 ** (age / half_life_s), the age taken from `sent_at` to `now` (discounted Thompson sampling,
    Raj & Kalyani 2017), so that evidence from weeks ago gives way to what happens now.

    Args:
        variants: the variant ids; the result follows their order.
        cohorts: cohorts of those variants only.
        now: the current time, epoch seconds.
        delay: the click-delay model.
        half_life_s: the age at which a cohort counts half, or None to keep all evidence.
        is_delay_refined: fit `delay` to these cohorts first (`refine_delay_model`), so that a prior
            with too light or too heavy a tail does not favour the variant with the youngest sends.
        change_z: if set, cohorts sent before a change point (`find_change`) with this |z| are dropped,
            so that a swap of the best variant is followed at once rather than over half-lives.
        min_age_s: cohorts younger than this at `now` are left out, from the delay fit too: their
            exposure rests on the head of F, where a wrong model errs most.

    Returns:
        Effective exposures (as `sends`) and successes (as `clicks`) per variant.
    """
    arrays = cohort_arrays(variants, cohorts)
    if min_age_s > 0:
        arrays = _at_least_aged(arrays, now=now, min_age_s=min_age_s)
    columns, sent_at, sends, clicks = arrays.columns, arrays.sent_at, arrays.sends, arrays.clicks
    age_s = now - sent_at
    if is_delay_refined:
        delay = refine_delay_model(delay, age_s, sends, clicks, columns)
    exposure = np.maximum(sends * delay.arrived_share(age_s), clicks)
    if change_z is not None:
        since = find_change(sent_at, exposure, clicks, columns, now=now, min_z=change_z)
        if since is not None:
            kept = sent_at >= since
            exposure, clicks, columns, age_s = exposure[kept], clicks[kept], columns[kept], age_s[kept]
    if half_life_s is not None:
        weight = np.exp2(-np.maximum(age_s, 0.0) / half_life_s)
        exposure *= weight
        clicks = clicks * weight
    count = len(variants)
    return Totals(
        np.bincount(columns, weights=exposure, minlength=count).astype(np.float64),
        np.bincount(columns, weights=clicks, minlength=count).astype(np.float64),
    )


def _at_least_aged(arrays: CohortArrays, *, now: float, min_age_s: float) -> CohortArrays:
    kept = now - arrays.sent_at >= min_age_s
    return CohortArrays(arrays.columns[kept], arrays.sent_at[kept], arrays.sends[kept], arrays.clicks[kept])
