"""The benchmark's segmented broadcasts: where choosing per segment pays, and where it must cost nothing.

Three sends of six hours like the other broadcasts, recipients in segments such as countries or loyalty
tiers. The entrants are the contextual policy (`thompson` told the segments: `CONTEXTUAL`), the same
policy blind to them (what copyloom does without segments) and the oracle told each segment's rates.
Every entrant's gain captured is segment-aware: against an even split and against each segment served
its own best.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from copyloom.engine import DelayModel
from copyloom.simulation.simulate import Outcome, Scenario, Segment

CONTEXTUAL: Literal["thompson_segments"] = "thompson_segments"
"""Not a policy of its own: `thompson` with the cohorts' segments passed to `allocate` and each segment
served its own weights (`Allocation.segments`)."""

BLIND: Literal["thompson"] = "thompson"
"""The contextual policy's reference: the same policy blind to the segments, what copyloom does without."""
CEILING_LABEL = "knows each segment's best (floors kept)"
"""The table's row of the segment-aware ceiling: each segment always served its best wording, every other
wording at its floor (the scenario's `floor_bound`); not a learner, a bound no policy keeping the floors
can pass."""
LEARNING_ORACLE_LABEL = "oracle (told the rates as a set, learns each segment alone)"
"""The table's label of `ORACLE` on a segmented scenario: told each segment's rates but not which wording
has which, it learns every segment from that segment's clicks alone, so pooling can beat it."""

_HOUR_S = 3_600.0
_COUNTRIES = ("country=GB", "country=DE", "country=FR")
_COUNTRY_SHARES = (0.6, 0.3, 0.1)


def _segmented(name: str, segments: tuple[Segment, ...], recipients: int, delay: DelayModel) -> Scenario:
    shares = np.array([s.share for s in segments])
    mean_rates = shares @ np.array([s.rates for s in segments])
    return Scenario(
        name=name,
        mode="broadcast",
        rates=tuple(round(float(r), 6) for r in mean_rates),
        recipients=recipients,
        duration_s=6 * _HOUR_S,
        step_s=60.0,
        look_every_s=(60.0, 300.0),
        cohort_s=300.0,
        delay=delay,
        segments=segments,
    )


def segment_scenarios(delay: DelayModel) -> tuple[Scenario, ...]:
    """(a) 3 countries of 60/30/10 % whose best wording differs; (b) the same countries with the same
    best everywhere, base rates differing; (c) 12 segments, most of them small, the same best in all
    but two small ones.

    Args:
        delay: the simulated world's click-delay law.

    Returns:
        The three scenarios, named "segments …".
    """
    differ = (
        (0.024, 0.028, 0.022),  # GB: v1 best
        (0.026, 0.021, 0.023),  # DE: v0 best
        (0.020, 0.019, 0.025),  # FR: v2 best
    )
    agree = (
        (0.022, 0.026, 0.024),
        (0.018, 0.021, 0.019),
        (0.028, 0.032, 0.029),
    )
    return (
        _segmented(
            "segments 60/30/10 %, best differs",
            tuple(Segment(n, s, r) for n, s, r in zip(_COUNTRIES, _COUNTRY_SHARES, differ, strict=True)),
            500_000,
            delay,
        ),
        _segmented(
            "segments 60/30/10 %, same best",
            tuple(Segment(n, s, r) for n, s, r in zip(_COUNTRIES, _COUNTRY_SHARES, agree, strict=True)),
            500_000,
            delay,
        ),
        _segmented("segments 12, most small", _twelve(), 1_000_000, delay),
    )


_TWELVE_SHARES = (0.25, 0.18, 0.12, 0.09, 0.07, 0.06, 0.05, 0.05, 0.04, 0.04, 0.03, 0.02)
_TWELVE_BASE = (1.0, 0.8, 1.2, 0.9, 1.4, 0.7, 1.1, 1.0, 0.85, 1.3, 0.95, 1.15)
"""Each segment's base rate relative to 2.2 %: tiers and countries click at different rates."""


def _twelve() -> tuple[Segment, ...]:
    # The same relative lifts (v1 +12 %, v2 +5 % on v0) in all but the 4 % and the 3 % segments
    # (columns 8 and 10), where v2 leads by 10 % and v1 trails.
    segments = []
    for i, (share, base) in enumerate(zip(_TWELVE_SHARES, _TWELVE_BASE, strict=True)):
        lifts = (1.0, 0.95, 1.10) if i in {8, 10} else (1.0, 1.12, 1.05)
        rates = tuple(round(0.022 * base * lift, 6) for lift in lifts)
        segments.append(Segment(f"segment={i + 1:02d}", share, rates))
    return tuple(segments)


def paired_difference(entrant: Sequence[Outcome], reference: Sequence[Outcome]) -> dict[str, float] | None:
    """The entrant's gain captured minus the reference's, seed by seed (both lists in the order of the
    seeds): the mean and its paired standard error. On a segmented scenario both faced the same world on
    each seed (the simulator's common random numbers), so this error is far below that of the two means.

    Returns:
        {"mean", "se"} rounded to 4 places, or None with fewer than two seeds or nothing to gain.
    """
    differences = np.array(
        [a.gain_captured - b.gain_captured for a, b in zip(entrant, reference, strict=True)]
    )
    if differences.size < 2 or np.isnan(differences).any():
        return None
    se = float(differences.std(ddof=1)) / math.sqrt(differences.size)
    return {"mean": round(float(differences.mean()), 4), "se": round(se, 4)}
