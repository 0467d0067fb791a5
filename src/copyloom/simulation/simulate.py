"""A cohort-level simulator of one experiment, driving `allocate` as the learner does: for benchmarks.

Each step (a minute in a broadcast) sends its recipients to the variants by the current weights
(multinomial), draws who will eventually succeed (binomial at the variant's true rate) and when (the true
delay law, from a uniform send time within the step). A triggered scenario may have rhythms: multipliers
by hour of day and day of week on the volume of sends and on every variant's rate alike, as real
triggered traffic has. The learner looks at random intervals, sees each
send-time cohort's sends and the successes that have arrived by then, and sets new weights. Successes are
counted once per send, as the store does, so at-least-once duplicates upstream play no part here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from copyloom.domain.values import Mode, VariantId
from copyloom.engine.allocation import apply_floor_and_holdout
from copyloom.engine.allocator import allocate
from copyloom.engine.config import PolicyConfig
from copyloom.engine.delay import DelayModel
from copyloom.engine.posterior import FloatArray
from copyloom.engine.values import Cohort
from copyloom.simulation.oracle import oracle_shares

HOURS_PER_DAY = 24
DAYS_PER_WEEK = 7
_HOUR_S = 3_600.0
_DAY_S = HOURS_PER_DAY * _HOUR_S


@dataclass(frozen=True, slots=True)
class Rhythm:
    """Multipliers by hour of day and by day of week, the simulation starting at hour 0 of day 0.

    Attributes:
        by_hour: 24 multipliers, one per hour of the day.
        by_weekday: 7 multipliers, one per day of the week.
    """

    by_hour: tuple[float, ...] = (1.0,) * HOURS_PER_DAY
    by_weekday: tuple[float, ...] = (1.0,) * DAYS_PER_WEEK

    def at(self, t_s: float) -> float:
        """The multiplier at `t_s` seconds from the start: the hour's times the day's."""
        hour = int(t_s // _HOUR_S) % HOURS_PER_DAY
        return self.by_hour[hour] * self.by_weekday[int(t_s // _DAY_S) % DAYS_PER_WEEK]


def cycle(amplitude: float, length: int, peak: int) -> tuple[float, ...]:
    """1 + amplitude * cos(2 pi (i - peak) / length) for i in 0 .. length - 1: a smooth cycle, mean 1.

    Args:
        amplitude: the swing either side of 1, below 1.
        length: the steps in one cycle (24 hours, 7 days).
        peak: the step of the highest multiplier.

    Returns:
        The multipliers.
    """
    return tuple(1.0 + amplitude * math.cos(2 * math.pi * (i - peak) / length) for i in range(length))


@dataclass(frozen=True, slots=True)
class Scenario:
    """One experiment to simulate.

    Attributes:
        name: a short label.
        mode: the experiment's mode, passed to the policy.
        rates: the true success rate of each variant.
        recipients: total sends, spread evenly over the steps.
        duration_s: how long the sends go on.
        step_s: the send granularity.
        look_every_s: the learner's interval is drawn uniformly from this range at each look.
        cohort_s: the width of a send-time bucket (a cohort).
        delay: the true delay law of successes.
        swap_at_s: if set, the best and the worst variant swap rates at this time.
        period_s: the width of the periods `Outcome.by_period` reports (an hour for a broadcast, a week
            for a triggered experiment), to show when in the send the gain is won or lost.
        volume_rhythm: if set, the sends of each step follow it (the total stays `recipients`).
        rate_rhythm: if set, every variant's rate is multiplied by it at the time of the send.
        join_at_s: if set, the last variant of `rates` joins at this time (`copyloom experiment
            add-variant`): absent before, then an even share at once, the others scaled down together,
            as the service does, and the engine's late warm-up from the next look.
    """

    name: str
    mode: Mode
    rates: tuple[float, ...]
    recipients: int
    duration_s: float
    step_s: float
    look_every_s: tuple[float, float]
    cohort_s: float
    delay: DelayModel
    swap_at_s: float | None = None
    period_s: float = 3_600.0
    volume_rhythm: Rhythm | None = None
    rate_rhythm: Rhythm | None = None
    join_at_s: float | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one simulated experiment earned, in expected successes of the sends it made.

    Attributes:
        clicks: sum over sends of the true rate of the variant sent.
        even_clicks: the same with an even split throughout.
        best_clicks: the same with every send on the best variant at its time.
        has_winner: some look declared a winner.
        late_swing: the largest weight that a variant not best at the time held at any look in the
            second half of the send: how hard the learner swung away from the best once it had had half
            the send to learn (the floor alone gives about `config.floor`; NaN when all rates are equal).
        by_period: (clicks, even_clicks, best_clicks) of the sends made in each `Scenario.period_s` from
            the start; the three totals above are their sums.
        joined_to_half_s: with `Scenario.join_at_s`, the seconds from the join to the first look that gave
            the joining variant half the traffic or more (NaN if none did).
    """

    clicks: float
    even_clicks: float
    best_clicks: float
    has_winner: bool
    late_swing: float = math.nan
    by_period: tuple[tuple[float, float, float], ...] = ()
    joined_to_half_s: float = math.nan

    @property
    def gain_captured(self) -> float:
        """(clicks - even split) / (always best - even split); NaN when all variants are equal."""
        achievable = self.best_clicks - self.even_clicks
        if achievable <= 1e-9 * self.best_clicks:
            return math.nan
        return (self.clicks - self.even_clicks) / achievable


def simulate(
    scenario: Scenario, config: PolicyConfig, rng: np.random.Generator, *, oracle: bool = False
) -> Outcome:
    """Run one experiment from its first send to its last, the learner calling `allocate`.

    Args:
        scenario: the experiment.
        config: the policy settings the learner passes.
        rng: the only source of randomness, for the simulated world and the engine alike.
        oracle: the learner is the oracle instead (`oracle.oracle_shares`, told the scenario's rates as a
            set and its delay law), with `config`'s floor and holdout; it declares no winner.

    Returns:
        The expected successes earned, the two references, and whether a winner was declared.

    Raises:
        ValueError: "oracle: …" for an oracle on a scenario whose rates change (a swap or a rhythm).
    """
    if oracle and (scenario.swap_at_s is not None or scenario.rate_rhythm is not None):
        raise ValueError(
            "oracle: the rates of a scenario with a swap or a rate rhythm change; "
            "the oracle knows fixed rates"
        )
    if oracle and scenario.join_at_s is not None:
        raise ValueError("oracle: a scenario whose variants change has no fixed set of rates")
    world = _World(scenario)
    steps = round(scenario.duration_s / scenario.step_s)
    per_step = _sends_per_step(scenario, steps)
    count_at_start = len(scenario.rates) - (scenario.join_at_s is not None)
    weights = np.zeros(len(scenario.rates))
    weights[:count_at_start] = 1.0 / count_at_start
    next_look_s, has_winner, joined, to_half = 0.0, False, scenario.join_at_s is None, math.nan
    earned = np.zeros((math.ceil(scenario.duration_s / scenario.period_s), 3))
    late_swing = 0.0
    for step in range(steps):
        now = step * scenario.step_s
        present = len(scenario.rates) if joined else count_at_start
        if not joined and now >= (scenario.join_at_s or 0.0):  # add-variant: an even share at once
            joined, present = True, len(scenario.rates)
            weights = np.append(weights[:-1] * (1 - 1 / present), 1 / present)
        rates = _rates_at(scenario, now)[:present]
        if now >= next_look_s:
            if oracle:
                weights = _oracle_weights(scenario, world, now, config)
            else:
                names = world.variants[:present]
                allocation = allocate(names, world.cohorts(now), now, config, rng)
                weights = np.array([allocation.weights.get(v, 0.0) for v in world.variants])
                has_winner |= allocation.winner is not None
            next_look_s = now + rng.uniform(*scenario.look_every_s)
            if 2 * now >= scenario.duration_s:
                late_swing = max(late_swing, float(weights[:present][rates < rates.max()].max(initial=0.0)))
        if scenario.join_at_s is not None and joined and math.isnan(to_half) and weights[-1] >= 0.5:
            to_half = now - scenario.join_at_s
        sends = np.zeros(len(scenario.rates), dtype=np.int64)
        sends[:present] = rng.multinomial(int(per_step[step]), weights[:present] / weights[:present].sum())
        world.send(now, sends, np.pad(rates, (0, len(scenario.rates) - present)), rng)
        count = float(per_step[step])
        earned[int(now // scenario.period_s)] += [
            float(sends[:present] @ rates),
            count * float(rates.mean()),
            count * float(rates.max()),
        ]
    is_aa = bool(np.ptp(scenario.rates) == 0)
    clicks, even_clicks, best_clicks = earned.sum(axis=0).tolist()
    return Outcome(
        clicks,
        even_clicks,
        best_clicks,
        has_winner,
        math.nan if is_aa else late_swing,
        tuple((c, e, b) for c, e, b in earned.tolist()),
        to_half,
    )


def _oracle_weights(scenario: Scenario, world: _World, now: float, config: PolicyConfig) -> FloatArray:
    _, shares = oracle_shares(scenario.rates, scenario.delay, world.variants, world.cohorts(now), now)
    return apply_floor_and_holdout(shares, floor=config.floor, control=0, holdout=config.control_holdout)


def _sends_per_step(scenario: Scenario, steps: int) -> NDArray[np.int64]:
    if scenario.volume_rhythm is None:
        return np.diff(np.floor(np.linspace(0, scenario.recipients, steps + 1))).astype(np.int64)
    volume = np.array([scenario.volume_rhythm.at(step * scenario.step_s) for step in range(steps)])
    cumulative = np.concatenate([[0.0], np.cumsum(volume)]) * (scenario.recipients / volume.sum())
    return np.asarray(np.diff(np.floor(cumulative + 1e-9)), dtype=np.int64)


def _rates_at(scenario: Scenario, now: float) -> FloatArray:
    rates = np.array(scenario.rates, dtype=np.float64)
    if scenario.swap_at_s is not None and now >= scenario.swap_at_s:
        best, worst = int(np.argmax(rates)), int(np.argmin(rates))
        rates[[best, worst]] = rates[[worst, best]]
    if scenario.rate_rhythm is not None:
        rates *= scenario.rate_rhythm.at(now)
    return rates


class _World:
    """Sends and successes per send-time bucket, and every success's arrival time."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.variants: list[VariantId] = [f"v{i}" for i in range(len(scenario.rates))]
        buckets = math.ceil(scenario.duration_s / scenario.cohort_s) + 1
        self.sends = np.zeros((buckets, len(self.variants)), dtype=np.int64)
        self.send_time_sum = np.zeros((buckets, len(self.variants)))
        self.arrival_s = np.empty(0)
        self.cohort_of_click = np.empty(0, dtype=np.intp)
        self.pending: list[tuple[FloatArray, NDArray[np.intp]]] = []

    def send(self, now: float, sends: NDArray[np.int64], rates: FloatArray, rng: np.random.Generator) -> None:
        step_s, delay = self.scenario.step_s, self.scenario.delay
        bucket = int(now // self.scenario.cohort_s)
        self.sends[bucket] += sends
        self.send_time_sum[bucket] += sends * (now + step_s / 2)
        successes = rng.binomial(sends, rates)
        total = int(successes.sum())
        if total == 0:
            return
        sent_at = now + rng.uniform(0.0, step_s, total)
        delays = rng.lognormal(math.log(delay.median_s), delay.sigma, total)
        columns = np.repeat(np.arange(len(rates), dtype=np.intp), successes)
        self.pending.append((sent_at + delays, bucket * len(rates) + columns))

    def cohorts(self, now: float) -> list[Cohort]:
        if self.pending:
            self.arrival_s = np.concatenate([self.arrival_s, *(a for a, _ in self.pending)])
            self.cohort_of_click = np.concatenate([self.cohort_of_click, *(c for _, c in self.pending)])
            self.pending = []
        arrived = self.cohort_of_click[self.arrival_s <= now]
        clicks = np.bincount(arrived, minlength=self.sends.size).reshape(self.sends.shape)
        # One send time per bucket for all variants, as the store's cohorts have: the bucket's mean.
        bucket_sends = self.sends.sum(axis=1)
        sent_at = self.send_time_sum.sum(axis=1) / np.maximum(bucket_sends, 1)
        buckets, columns = np.nonzero(self.sends)
        return [
            Cohort(self.variants[v], float(sent_at[b]), int(self.sends[b, v]), int(clicks[b, v]))
            for b, v in zip(buckets.tolist(), columns.tolist(), strict=True)
        ]
