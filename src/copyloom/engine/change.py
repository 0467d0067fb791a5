"""Change detection for triggered experiments: the send time after which a variant's rate moved.

Real triggered traffic has rhythms that move every variant together: volume and rate follow the hour of
the day and the day of the week. Comparing each variant's rate before and after a split takes such a
rhythm for a change again and again, so the detector never compares two different send times as if they
were alike. It compares variants sent at the same time (within one send-time bucket, cohorts with the
same `sent_at`, a rhythm multiplies every variant's rate alike, and the share of the eventual clicks that
has arrived is the same for every variant, so neither a rhythm nor the delay model moves the contrast
between them); and it compares each variant with itself at the same hour of the week, which a rhythm by
hour of day and day of week leaves alike. The first sees any change of one variant against the others
but only through the others' clicks; the second sees at once the variant with nearly all the traffic
(the others at their floor hold few clicks), the usual state of a triggered experiment when its best
variant changes.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from numpy.typing import NDArray

from copyloom.engine.posterior import FloatArray

SPLIT_STEP_S = 6 * 3600.0
"""Candidate change points are every six hours back from `now`."""
MAX_SPLITS = 500
MIN_INFORMATION = 10.0
"""Both sides of a split need this much Fisher information on a pair's log rate ratio (at an even split
about 40 clicks shared by the two variants) for the split to count for that pair."""
_NEWTON_STEPS = 3
_DAY_S = 86_400.0
_WEEK_S = 7 * _DAY_S
_SLOT_WIDTHS_S = np.array(
    [60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14_400.0, 21_600.0, 43_200.0, _DAY_S]
)


def find_change(
    sent_at: FloatArray,
    exposure: FloatArray,
    clicks: FloatArray,
    columns: NDArray[np.intp],
    *,
    now: float,
    min_z: float,
    compare_weeks: bool = True,
) -> float | None:
    """The most likely single change point of a contrast between variants, or of a variant against its
    own past at the same hours of the week, if it is significant.

    Contrasts: for each pair of variants (i, j), within each send-time bucket b the clicks of i among
    the c_b clicks of the two are Binomial(c_b, pi_b), logit pi_b = log(e_ib / e_jb) + lambda, e their
    exposures and lambda the log rate ratio of i to j: a rhythm shared by all variants, or the share of
    clicks still to come, multiplies both rates alike and cancels (a Mantel-Haenszel stratification).
    lambda is fitted on all buckets; for each candidate split s (every `SPLIT_STEP_S` back from `now`)
    the score residuals sum_b (c_ib - c_b pi_b) of the buckets sent at or after s, standardised as a
    Brownian bridge, give a z statistic for "lambda after s differs from lambda before" (a score CUSUM).

    Weeks (`compare_weeks`): for each variant and split, its buckets after s are compared with its
    buckets before s in the same slot of the week (`week_slots`): given a slot's clicks, those after s
    are Binomial with the after side's share of the slot's exposure when the rate did not move (a
    score test stratified by slot of the week). A rhythm by hour of day and day of week is the same in
    a slot every week; the delay model's error is not, for the youngest buckets, so this side leans on
    the delay correction, as the exposure does everywhere else. Buckets a day wide or wider hold a whole
    day's rhythm each: there every earlier bucket is compared (one slot), since the same weekday alone
    leaves too few to see a change soon (`copyloom bench optimize`'s 4-week triggered swap: 0.749 with
    weekday slots, 0.764 with one, on seeds 1000-1199).

    The split with the largest |z| is the change point when that |z| reaches `min_z`, which is high
    because the scan looks at many splits, pairs, variants and days.

    Args:
        sent_at: each cohort's send time; cohorts with the same value form one bucket.
        exposure: each cohort's effective exposure (delay-corrected sends: within a bucket the
            correction is one factor for every variant, so it cancels).
        clicks: each cohort's successes so far.
        columns: each cohort's variant column.
        now: the current time, epoch seconds.
        min_z: the |z| a change needs.
        compare_weeks: also compare each variant with itself at the same hours of the week; False
            keeps to the contrasts between variants, which no change shared by all of them can move.

    Returns:
        The send time from which to keep evidence, or None when no change is significant.
    """
    if sent_at.size == 0:
        return None
    count = min(MAX_SPLITS, int((now - sent_at.min()) // SPLIT_STEP_S))
    if count < 1:
        return None
    splits = now - SPLIT_STEP_S * np.arange(1, count + 1, dtype=np.float64)
    times, bucket = np.unique(sent_at, return_inverse=True)
    variants = int(columns.max()) + 1
    bucket_exposure = np.zeros((times.size, variants))
    bucket_clicks = np.zeros_like(bucket_exposure)
    np.add.at(bucket_exposure, (bucket, columns), exposure)
    np.add.at(bucket_clicks, (bucket, columns), clicks)
    cut = np.searchsorted(times, splits)
    best = np.zeros(count)
    if compare_weeks:
        slot, slots = week_slots(times)
        if slots <= 7:  # day-wide buckets: see above
            slot = np.zeros_like(slot)
            slots = 1
        for v in range(variants):
            z = seasonal_z(slot, slots, bucket_exposure[:, v], bucket_clicks[:, v], cut)
            best = np.maximum(best, np.abs(z))
    for i, j in combinations(range(variants), 2):
        z = contrast_z(
            bucket_exposure[:, i], bucket_exposure[:, j], bucket_clicks[:, i], bucket_clicks[:, j], cut
        )
        best = np.maximum(best, np.abs(z))
    top = int(np.argmax(best))
    return float(splits[top]) if best[top] >= min_z else None


def contrast_z(
    exposure_i: FloatArray,
    exposure_j: FloatArray,
    clicks_i: FloatArray,
    clicks_j: FloatArray,
    cut: NDArray[np.intp],
) -> FloatArray:
    """z of a change in the log rate ratio of i to j at each cut, buckets in time order (`find_change`).

    Args:
        exposure_i: i's exposure per bucket.
        exposure_j: j's exposure per bucket.
        clicks_i: i's successes per bucket.
        clicks_j: j's successes per bucket.
        cut: for each split, the index of the first bucket after it.

    Returns:
        One z per cut; 0 where a side has less than `MIN_INFORMATION`.
    """
    shared = (exposure_i > 0) & (exposure_j > 0)
    offset = np.log(np.where(shared, exposure_i, 1.0) / np.where(shared, exposure_j, 1.0))
    pair = np.where(shared, clicks_i + clicks_j, 0.0)
    mine = np.where(shared, clicks_i, 0.0)
    share_j = np.where(shared, exposure_j, 0.0) / np.where(shared, exposure_i + exposure_j, 1.0)
    log_ratio = _fitted_log_ratio(offset, pair, mine, share_j)
    pi = 1.0 / (1.0 + np.exp(-(offset + log_ratio)))
    cum_score = np.concatenate([[0.0], np.cumsum(mine - pair * pi)])
    cum_information = np.concatenate([[0.0], np.cumsum(pair * pi * (1.0 - pi))])
    total_score, total_information = cum_score[-1], cum_information[-1]
    before = cum_information[cut]
    after = total_information - before
    after_score = total_score - cum_score[cut]
    enough = (before >= MIN_INFORMATION) & (after >= MIN_INFORMATION)
    with np.errstate(divide="ignore", invalid="ignore"):
        # The bridge: the part of the total score the after-side would carry under no change is
        # taken out, so an imprecise fit of lambda cannot pass for a change.
        z = (after_score - after / total_information * total_score) / np.sqrt(
            after * before / total_information
        )
    return np.where(enough, z, 0.0)


def _fitted_log_ratio(offset: FloatArray, pair: FloatArray, mine: FloatArray, share_j: FloatArray) -> float:
    # The Mantel-Haenszel rate ratio (half a click added to each side, so that a variant without clicks
    # does not break it), then a few Newton steps towards the conditional maximum likelihood.
    log_ratio = float(
        np.log((float((mine * share_j).sum()) + 0.5) / (float(((pair - mine) * (1.0 - share_j)).sum()) + 0.5))
    )
    for _ in range(_NEWTON_STEPS):
        pi = 1.0 / (1.0 + np.exp(-(offset + log_ratio)))
        information = float((pair * pi * (1.0 - pi)).sum())
        if information <= 0:
            break
        log_ratio += float((mine - pair * pi).sum()) / information
    return log_ratio


def week_slots(times: FloatArray) -> tuple[NDArray[np.intp], int]:
    """Each send time's slot of the week, slots about as wide as the buckets are apart, and the count.

    A bucket and the bucket one week later share a slot: the slots are centred on the times' typical
    offset within a slot (their circular mean), so a bucket's time may jitter (a mean send time, a bucket
    still filling) without leaving its slot. The slot width is the one of `_SLOT_WIDTHS_S` (each a
    divisor of a week, from a minute to a day) nearest the median gap between buckets.

    Args:
        times: the buckets' send times, ascending and unique.

    Returns:
        (slot of each time, number of slots in a week).
    """
    gaps = np.diff(times)
    spacing = float(np.median(gaps)) if gaps.size else _DAY_S
    width = float(_SLOT_WIDTHS_S[int(np.argmin(np.abs(np.log(_SLOT_WIDTHS_S / max(spacing, 1.0)))))])
    count = round(_WEEK_S / width)
    angle = 2 * np.pi * (times % width) / width
    phase = float(np.angle(np.exp(1j * angle).mean())) / (2 * np.pi) * width
    return (np.round((times - phase) / width) % count).astype(np.intp), count


def seasonal_z(
    slot: NDArray[np.intp], slots: int, exposure: FloatArray, clicks: FloatArray, cut: NDArray[np.intp]
) -> FloatArray:
    """z of a change in one variant's own rate at each cut, its buckets compared only within their slot
    of the week (`find_change`); 0 where the slots shared by both sides hold less than `MIN_INFORMATION`.

    Args:
        slot: each bucket's slot of the week, buckets in time order.
        slots: the number of slots.
        exposure: the variant's exposure per bucket.
        clicks: the variant's successes per bucket.
        cut: for each split, the index of the first bucket after it.

    Returns:
        One z per cut.
    """
    z = np.zeros(cut.size)
    for k, at in enumerate(cut.tolist()):
        before_e = np.bincount(slot[:at], weights=exposure[:at], minlength=slots)
        before_c = np.bincount(slot[:at], weights=clicks[:at], minlength=slots)
        after_e = np.bincount(slot[at:], weights=exposure[at:], minlength=slots)
        after_c = np.bincount(slot[at:], weights=clicks[at:], minlength=slots)
        both = (before_e > 0) & (after_e > 0)
        share = np.where(both, after_e, 0.0) / np.where(both, after_e + before_e, 1.0)
        pair = np.where(both, before_c + after_c, 0.0)
        information = float((pair * share * (1.0 - share)).sum())
        if information >= MIN_INFORMATION:
            z[k] = float((np.where(both, after_c, 0.0) - pair * share).sum()) / np.sqrt(information)
    return z
