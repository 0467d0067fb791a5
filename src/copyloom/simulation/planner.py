"""The send planner: how long to spread a broadcast, from simulated sends of the real engine.

Before a broadcast the marketer sets Braze's delivery-speed rate limit, which fixes how long the send
lasts, and so how many looks the learner gets before the last email leaves. For each candidate duration
the planner simulates the send (`simulate.simulate`, the engine's `allocate` called as the learner
calls it) over several seeds and reports the share of the achievable gain captured, the expected extra
clicks over an even split and the rate limit that makes the send last that long; then it recommends
the shortest duration that earns nearly as much as the best one (`SHARE_OF_BEST`). docs/planner.md
states the assumptions. Pure: no IO, clock or global random state; the same request gives the same
plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from copyloom.domain.checks import is_finite_number, is_integer
from copyloom.domain.values import MAX_VARIANTS, MIN_VARIANTS
from copyloom.engine import DelayModel, PolicyConfig
from copyloom.engine.delay import DEFAULT_DELAY
from copyloom.simulation.simulate import Outcome, Scenario, simulate

HOUR_S = 3_600.0
MINUTE_S = 60.0
DURATIONS_H: tuple[float | None, ...] = (None, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)
"""The candidate durations in hours; None is no rate limit: the whole audience within one minute."""
DEFAULT_LIFT = 0.2
"""The best wording's relative lift over the control when the marketer does not say: a plausible gap
between subject lines, large enough to matter and small enough to need some learning."""
DEFAULT_SEEDS = 20
SHARE_OF_BEST = 0.9
"""The recommendation: the shortest duration whose mean extra clicks reach this share of the best
duration's: a longer send than that buys little more and delays the email for everyone."""
MIN_AUDIENCE = 1_000
MAX_AUDIENCE = 100_000_000
MIN_SEEDS, MAX_SEEDS = 1, 1_000
MAX_DELAY_MEDIAN_S = 7 * 24 * HOUR_S
PLAN_SAMPLES = 2_000
"""Posterior draws per look: P(best) to about +-0.01, as in the benchmark (the learner draws 10,000)."""
LOOK_EVERY_S = (60.0, 300.0)
"""The learner looks every minute; the clicks reach it through Currents a few minutes late, so a look
that sees new clicks comes every one to five minutes, as in the benchmark's scenarios."""
COHORT_S = 300.0
"""Send-time buckets of five minutes, as in the benchmark (the store's are one minute wide)."""
BRAZE_MIN_PER_MINUTE = 50
BRAZE_MAX_PER_MINUTE = 500_000
"""The range of Braze's delivery-speed rate limit (docs/planner.md cites it): a duration whose rate
falls outside cannot be set, and is never recommended."""
DEFAULT_POLICY = PolicyConfig(samples=PLAN_SAMPLES)
"""The engine's defaults (Thompson sampling, broadcast mode, floor 0.01, no control holdout)."""

KeepGoing = Callable[[], bool]
"""Asked after each round of seeds (one seed of every duration): False stops the run there."""


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """One planned broadcast; every field is checked on construction.

    Attributes:
        audience: recipients of the send.
        variants: wordings, the first of them the control.
        base_rate: the control's click rate.
        expected_lift: the best wording's relative lift over the control; the others are spread evenly
            between the control's rate and the best's (`rates`).
        delay: the click-delay law of the simulated world, also given to the engine as the learner
            gives it the tenant's fitted model.
        seeds: simulated sends per duration.
        seed: the run's seed: simulated send i of every duration draws from the generator (seed, i).
        policy: the engine's settings; its `delay` is replaced by `delay`.

    Raises:
        ValueError: "<field>: expected …, got …" for the first field out of range.
    """

    audience: int
    variants: int
    base_rate: float
    expected_lift: float = DEFAULT_LIFT
    delay: DelayModel = DEFAULT_DELAY
    seeds: int = DEFAULT_SEEDS
    seed: int = 0
    policy: PolicyConfig = DEFAULT_POLICY

    def __post_init__(self) -> None:
        _check_integer("audience", self.audience, MIN_AUDIENCE, MAX_AUDIENCE)
        _check_integer("variants", self.variants, MIN_VARIANTS, MAX_VARIANTS)
        _check_open("base_rate", self.base_rate, 0.0, 0.5)
        _check_open("expected_lift", self.expected_lift, -0.5, 5.0)
        if self.base_rate * (1 + self.expected_lift) >= 1:
            raise ValueError(
                f"expected_lift: the best rate, base_rate * (1 + expected_lift), must be below 1, got "
                f"{self.base_rate * (1 + self.expected_lift):g}"
            )
        if not isinstance(self.delay, DelayModel) or self.delay.median_s > MAX_DELAY_MEDIAN_S:
            raise ValueError(
                f"delay: expected a DelayModel with a median of at most "
                f"{MAX_DELAY_MEDIAN_S / HOUR_S:g} hours, got {self.delay!r}"
            )
        _check_integer("seeds", self.seeds, MIN_SEEDS, MAX_SEEDS)
        _check_integer("seed", self.seed, 0, 2**32 - 1)
        if not isinstance(self.policy, PolicyConfig) or self.policy.mode != "broadcast":
            raise ValueError(f"policy: expected a broadcast PolicyConfig, got {self.policy!r}")

    @property
    def rates(self) -> tuple[float, ...]:
        """The true rates: the control at `base_rate`, the last wording at base_rate * (1 + lift), the
        others evenly between."""
        best = self.base_rate * (1 + self.expected_lift)
        return tuple(float(r) for r in np.linspace(self.base_rate, best, self.variants))


@dataclass(frozen=True, slots=True)
class DurationPlan:
    """What one candidate duration earns, over the seeds run.

    Attributes:
        duration_h: hours the send lasts; None for no rate limit.
        rate_per_minute: the Braze rate limit that makes the send last that long, ceil(audience /
            minutes); None for no rate limit.
        is_settable: Braze offers a rate limit this high (no limit always is).
        gain_share: mean share of the achievable gain captured; None when the rates are equal.
        gain_share_se: its standard error over the seeds (None with one seed or equal rates).
        extra_clicks: mean expected clicks over an even split, audience * (achieved rate - even rate).
        extra_clicks_se: its standard error (None with one seed).
    """

    duration_h: float | None
    rate_per_minute: int | None
    is_settable: bool
    gain_share: float | None
    gain_share_se: float | None
    extra_clicks: float
    extra_clicks_se: float | None


@dataclass(frozen=True, slots=True)
class SendPlan:
    """The plan: every candidate duration and the recommended one.

    Attributes:
        request: what was planned.
        rates: the true rates simulated.
        achievable_clicks: clicks over an even split if every send went to the best wording.
        durations: one row per candidate, shortest first, no limit first of all.
        seeds_run: seeds actually run per duration (fewer than asked when stopped early).
        recommended_h: the recommended duration (None: no rate limit).
        reason: why, in one sentence.
    """

    request: PlanRequest
    rates: tuple[float, ...]
    achievable_clicks: float
    durations: tuple[DurationPlan, ...]
    seeds_run: int
    recommended_h: float | None
    reason: str


def rate_per_minute(audience: int, duration_h: float) -> int:
    """The per-minute rate limit that sends `audience` emails in `duration_h` hours: ceil(audience /
    minutes), so that the send never lasts longer than planned."""
    return math.ceil(audience / (duration_h * 60))


def is_settable_rate(per_minute: int | None) -> bool:
    """Braze's rate limit goes from `BRAZE_MIN_PER_MINUTE` to `BRAZE_MAX_PER_MINUTE` (None: no limit)."""
    return per_minute is None or BRAZE_MIN_PER_MINUTE <= per_minute <= BRAZE_MAX_PER_MINUTE


def scenario_for(request: PlanRequest, duration_h: float | None) -> Scenario:
    """The simulated send of one candidate duration: a uniform send over it, one step a minute."""
    duration_s = MINUTE_S if duration_h is None else duration_h * HOUR_S
    return Scenario(
        name="no limit" if duration_h is None else f"{duration_h:g} h",
        mode="broadcast",
        rates=request.rates,
        recipients=request.audience,
        duration_s=duration_s,
        step_s=MINUTE_S,
        look_every_s=LOOK_EVERY_S,
        cohort_s=COHORT_S,
        delay=request.delay,
    )


def plan_send(
    request: PlanRequest,
    *,
    durations_h: Iterable[float | None] = DURATIONS_H,
    workers: int = 1,
    keep_going: KeepGoing | None = None,
) -> SendPlan:
    """Simulate the send over every candidate duration and recommend one.

    Args:
        request: the broadcast.
        durations_h: the candidates, hours (None: no rate limit).
        workers: processes to spread the runs over; 1 runs them here, round by round.
        keep_going: with one worker, asked after each round of seeds; False stops the run (at least one
            round always runs). A caller with a time limit passes a check of its own clock.

    Returns:
        The plan, its rows in the order of `durations_h`.
    """
    candidates = tuple(durations_h)
    if workers > 1:
        jobs = [(request, d, i) for i in range(request.seeds) for d in candidates]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(_run_one, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
        rounds = [outcomes[i : i + len(candidates)] for i in range(0, len(outcomes), len(candidates))]
    else:
        rounds = []
        for i in range(request.seeds):
            rounds.append([_run_one((request, d, i)) for d in candidates])
            if keep_going is not None and not keep_going():
                break
    return _summarise(request, candidates, rounds)


def recommend(rows: Iterable[DurationPlan]) -> tuple[float | None, str]:
    """The shortest settable duration whose mean extra clicks reach `SHARE_OF_BEST` of the best's.

    Returns:
        (hours or None for no limit, the reason in one sentence).
    """
    settable = [row for row in rows if row.is_settable]
    if not settable:
        return None, "No candidate duration has a rate limit Braze offers: send without one."
    best = max(settable, key=lambda row: row.extra_clicks)
    if best.extra_clicks <= 0:
        return None, "No duration is expected to gain clicks over an even split: no rate limit is needed."
    chosen = next(row for row in settable if row.extra_clicks >= SHARE_OF_BEST * best.extra_clicks)
    label = duration_label(chosen.duration_h)
    if chosen is best:
        return chosen.duration_h, (
            f"{label} is expected to earn the most extra clicks ({best.extra_clicks:,.0f}), and no shorter "
            f"send {SHARE_OF_BEST:.0%} of them."
        )
    return chosen.duration_h, (
        f"{label} is the shortest send expected to earn at least {SHARE_OF_BEST:.0%} of the extra clicks "
        f"of the best duration ({duration_label(best.duration_h)}: {best.extra_clicks:,.0f})."
    )


def plan_as_dict(plan: SendPlan) -> dict[str, Any]:
    """The plan as JSON-ready values (`copyloom plan --json`)."""
    request = plan.request
    return {
        "audience": request.audience,
        "variants": request.variants,
        "base_rate": request.base_rate,
        "expected_lift": request.expected_lift,
        "rates": list(plan.rates),
        "delay": {"median_s": request.delay.median_s, "sigma": request.delay.sigma},
        "seeds_run": plan.seeds_run,
        "seed": request.seed,
        "achievable_clicks": round(plan.achievable_clicks, 1),
        "durations": [
            {
                "duration_h": row.duration_h,
                "rate_per_minute": row.rate_per_minute,
                "is_settable": row.is_settable,
                "gain_share": _rounded(row.gain_share, 4),
                "gain_share_se": _rounded(row.gain_share_se, 4),
                "extra_clicks": round(row.extra_clicks, 1),
                "extra_clicks_se": _rounded(row.extra_clicks_se, 1),
            }
            for row in plan.durations
        ],
        "recommended_h": plan.recommended_h,
        "recommended_rate_per_minute": _rate_of(plan),
        "reason": plan.reason,
    }


def duration_label(duration_h: float | None) -> str:
    """ "no limit" or "6 h"."""
    return "no limit" if duration_h is None else f"{duration_h:g} h"


def _rate_of(plan: SendPlan) -> int | None:
    row = next(r for r in plan.durations if r.duration_h == plan.recommended_h)
    return row.rate_per_minute


def _run_one(job: tuple[PlanRequest, float | None, int]) -> Outcome:
    request, duration_h, index = job
    config = replace(request.policy, delay=request.delay)
    rng = np.random.default_rng((request.seed, index))
    return simulate(scenario_for(request, duration_h), config, rng)


def _summarise(
    request: PlanRequest, candidates: tuple[float | None, ...], rounds: list[list[Outcome]]
) -> SendPlan:
    rows = []
    for column, duration_h in enumerate(candidates):
        outcomes = [seed_round[column] for seed_round in rounds]
        shares = np.array([o.gain_captured for o in outcomes])
        extra = np.array([o.clicks - o.even_clicks for o in outcomes])
        per_minute = None if duration_h is None else rate_per_minute(request.audience, duration_h)
        rows.append(
            DurationPlan(
                duration_h=duration_h,
                rate_per_minute=per_minute,
                is_settable=is_settable_rate(per_minute),
                gain_share=None if np.isnan(shares).any() else float(shares.mean()),
                gain_share_se=None if np.isnan(shares).any() else _standard_error(shares),
                extra_clicks=float(extra.mean()),
                extra_clicks_se=_standard_error(extra),
            )
        )
    recommended_h, reason = recommend(rows)
    rates = request.rates
    return SendPlan(
        request=request,
        rates=rates,
        achievable_clicks=request.audience * (max(rates) - float(np.mean(rates))),
        durations=tuple(rows),
        seeds_run=len(rounds),
        recommended_h=recommended_h,
        reason=reason,
    )


def _standard_error(values: np.ndarray[Any, np.dtype[np.float64]]) -> float | None:
    if len(values) < 2:
        return None
    return float(values.std(ddof=1) / math.sqrt(len(values)))


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _check_integer(name: str, value: object, low: int, high: int) -> None:
    if not is_integer(value) or not low <= value <= high:
        raise ValueError(f"{name}: expected an integer from {low:,} to {high:,}, got {value!r}")


def _check_open(name: str, value: object, low: float, high: float) -> None:
    if not is_finite_number(value) or not low < value < high:
        raise ValueError(f"{name}: expected a number above {low:g} and below {high:g}, got {value!r}")
