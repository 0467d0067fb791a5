"""A cohort-level simulator of one experiment, driving `allocate` as the learner does: for benchmarks.

Each step (a minute in a broadcast) sends its recipients to the variants by the current weights
(multinomial), draws who will eventually succeed (binomial at the variant's true rate) and when (the true
delay law, from a uniform send time within the step). A triggered scenario may have rhythms: multipliers
by hour of day and day of week on the volume of sends and on every variant's rate alike, as real
triggered traffic has. The learner looks at random intervals, sees each
send-time cohort's sends and the successes that have arrived by then, and sets new weights. A segmented
scenario draws each recipient's potential outcomes whatever the policy serves (`world.World.send_paired`),
so that entrants are compared on common random numbers. Successes are
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
from copyloom.engine.values import Allocation
from copyloom.simulation.oracle import oracle_shares
from copyloom.simulation.world import World

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
class Segment:
    """A part of a scenario's recipients whose variants have rates of their own.

    Attributes:
        name: the segment id the learner sees (e.g. "country=GB").
        share: the segment's share of the recipients; the shares of a scenario sum to 1.
        rates: the true success rate of each variant in this segment.
    """

    name: str
    share: float
    rates: tuple[float, ...]


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
        segments: if set, every recipient falls in one of these, at random by their shares, and succeeds at
            that segment's rates; `rates` then only counts the variants and labels the tables (their
            traffic-weighted mean is the usual choice).
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
    segments: tuple[Segment, ...] = ()


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
    scenario: Scenario,
    config: PolicyConfig,
    rng: np.random.Generator,
    *,
    oracle: bool = False,
    contextual: bool = False,
) -> Outcome:
    """Run one experiment from its first send to its last, the learner calling `allocate`.

    With `Scenario.segments`, each step's recipients fall in the segments by their shares (multinomial)
    and each segment's recipients get the variants by that segment's weights, as the content endpoint
    serves them; the references (even split, always best) are then per segment, so `gain_captured` is
    the share of the segment-aware achievable gain.

    Args:
        scenario: the experiment.
        config: the policy settings the learner passes.
        rng: the only source of randomness, for the simulated world and the engine alike; on a segmented
            scenario it seeds three streams of their own (world, looks, engine: `World.send_paired`), so
            every entrant run on the same seed faces the same recipients.
        oracle: the learner is the oracle instead (`oracle.oracle_shares`, told the scenario's rates as a
            set and its delay law, per segment), with `config`'s floor and holdout; it declares no winner.
        contextual: the learner passes the cohorts with their segments and serves each segment its
            `Allocation.segments` weights; otherwise it sees cohorts summed over the segments and serves
            everyone the overall weights, as copyloom does without segments.

    Returns:
        The expected successes earned, the two references, and whether a winner was declared (by any
        segment, when contextual).

    Raises:
        ValueError: "oracle: …" for an oracle on a scenario whose rates change (a swap or a rhythm);
            "segments: …" for segments whose shares do not sum to 1 or whose rates do not match `rates`.
    """
    _check_oracle(scenario, oracle)
    table, shares = segment_table(scenario)
    names = tuple(segment.name for segment in scenario.segments)
    world = World(
        len(scenario.rates),
        len(shares),
        duration_s=scenario.duration_s,
        step_s=scenario.step_s,
        cohort_s=scenario.cohort_s,
        delay=scenario.delay,
    )
    # Segmented: the world, the looks and the engine each draw from a stream of their own (common random
    # numbers), so every policy run on a seed faces the same recipients; without segments one stream, as
    # the benchmark's published figures were made.
    world_rng, look_rng, engine_rng = _streams(rng) if scenario.segments else (rng, rng, rng)
    steps = round(scenario.duration_s / scenario.step_s)
    per_step = _sends_per_step(scenario, steps)
    count_at_start = len(scenario.rates) - (scenario.join_at_s is not None)
    weights = np.zeros(table.shape)
    weights[:, :count_at_start] = 1.0 / count_at_start
    next_look_s, has_winner, joined, to_half = 0.0, False, scenario.join_at_s is None, math.nan
    earned = np.zeros((math.ceil(scenario.duration_s / scenario.period_s), 3))
    late_swing = 0.0
    for step in range(steps):
        now = step * scenario.step_s
        present = len(scenario.rates) if joined else count_at_start
        if not joined and now >= (scenario.join_at_s or 0.0):  # add-variant: an even share at once
            joined, present = True, len(scenario.rates)
            weights = np.column_stack(
                [weights[:, :-1] * (1 - 1 / present), np.full(len(shares), 1 / present)]
            )
        rates = _rates_at(scenario, table, now)[:, :present]
        if now >= next_look_s:
            if oracle:
                weights = _oracle_weights(scenario, table, world, now, config)
            else:
                segments = names if contextual else ()
                cohorts = world.cohorts(now, names if contextual else None)
                allocation = allocate(
                    world.variants[:present], cohorts, now, config, engine_rng, segments=segments
                )
                weights = _served_weights(allocation, world.variants, names)
                has_winner |= allocation.winner is not None
                has_winner |= any(s.winner is not None for s in allocation.segments.values())
            next_look_s = now + look_rng.uniform(*scenario.look_every_s)
            if 2 * now >= scenario.duration_s:
                late_swing = max(late_swing, _swing(weights[:, :present], rates))
        if scenario.join_at_s is not None and joined and math.isnan(to_half) and weights[0, -1] >= 0.5:
            to_half = now - scenario.join_at_s
        padded = np.pad(rates, ((0, 0), (0, len(scenario.rates) - present)))
        counts = _segment_counts(int(per_step[step]), shares, world_rng)
        if scenario.segments:
            served = np.pad(weights[:, :present], ((0, 0), (0, len(scenario.rates) - present)))
            sends = world.send_paired(now, counts, served, padded, world_rng)
        else:
            sends = np.zeros(table.shape, dtype=np.int64)
            for g, count in enumerate(counts):
                served = weights[g, :present]
                sends[g, :present] = rng.multinomial(count, served / served.sum())
            world.send(now, sends, padded, rng)
        earned[int(now // scenario.period_s)] += [
            sum(float(sends[g, :present] @ rates[g]) for g in range(len(counts))),
            float(counts @ rates.mean(axis=1)),
            float(counts @ rates.max(axis=1)),
        ]
    is_aa = bool(np.ptp(table, axis=1).max() == 0)
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


def segment_table(scenario: Scenario) -> tuple[FloatArray, FloatArray]:
    """The true rates per segment and variant, shape (segments, variants), and the segments' shares; one
    row of `Scenario.rates` with share 1 for a scenario without segments.

    Raises:
        ValueError: "segments: …" for shares that do not sum to 1 or rates that do not match `rates`.
    """
    if not scenario.segments:
        return np.array([scenario.rates], dtype=np.float64), np.ones(1)
    shares = np.array([segment.share for segment in scenario.segments], dtype=np.float64)
    if (shares <= 0).any() or abs(shares.sum() - 1.0) > 1e-9:
        raise ValueError(f"segments: expected positive shares summing to 1, got {shares.tolist()}")
    if any(len(segment.rates) != len(scenario.rates) for segment in scenario.segments):
        raise ValueError(f"segments: expected {len(scenario.rates)} rates in every segment")
    return np.array([segment.rates for segment in scenario.segments], dtype=np.float64), shares


def _check_oracle(scenario: Scenario, oracle: bool) -> None:
    if oracle and (scenario.swap_at_s is not None or scenario.rate_rhythm is not None):
        raise ValueError(
            "oracle: the rates of a scenario with a swap or a rate rhythm change; "
            "the oracle knows fixed rates"
        )
    if oracle and scenario.join_at_s is not None:
        raise ValueError("oracle: a scenario whose variants change has no fixed set of rates")


def _segment_counts(count: int, shares: FloatArray, rng: np.random.Generator) -> NDArray[np.int64]:
    # No draw without segments, so that a scenario without them sees the same random stream as before.
    if len(shares) == 1:
        return np.array([count], dtype=np.int64)
    return rng.multinomial(count, shares)


def _served_weights(allocation: Allocation, variants: list[VariantId], names: tuple[str, ...]) -> FloatArray:
    # A segment the allocation does not name is served the overall weights, as the content endpoint does.
    rows = [allocation.segments[n].weights if n in allocation.segments else allocation.weights for n in names]
    return np.array([[row.get(v, 0.0) for v in variants] for row in rows or [allocation.weights]])


def _swing(weights: FloatArray, rates: FloatArray) -> float:
    is_worse = rates < rates.max(axis=1, keepdims=True)
    return float(np.where(is_worse, weights, 0.0).max(initial=0.0))


def _oracle_weights(
    scenario: Scenario, table: FloatArray, world: World, now: float, config: PolicyConfig
) -> FloatArray:
    names: tuple[str | None, ...] = tuple(s.name for s in scenario.segments) or (None,)
    cohorts = world.cohorts(now, names if scenario.segments else None)
    rows = []
    for segment, rates in zip(names, table, strict=True):
        mine = [c for c in cohorts if c.segment == segment]
        _, shares = oracle_shares(tuple(rates.tolist()), scenario.delay, world.variants, mine, now)
        rows.append(
            apply_floor_and_holdout(shares, floor=config.floor, control=0, holdout=config.control_holdout)
        )
    return np.array(rows)


def _streams(rng: np.random.Generator) -> tuple[np.random.Generator, ...]:
    """Three generators seeded from `rng`'s state: the world's, the looks' and the engine's."""
    return tuple(np.random.default_rng(seed) for seed in rng.integers(2**63, size=3))


def _sends_per_step(scenario: Scenario, steps: int) -> NDArray[np.int64]:
    if scenario.volume_rhythm is None:
        return np.diff(np.floor(np.linspace(0, scenario.recipients, steps + 1))).astype(np.int64)
    volume = np.array([scenario.volume_rhythm.at(step * scenario.step_s) for step in range(steps)])
    cumulative = np.concatenate([[0.0], np.cumsum(volume)]) * (scenario.recipients / volume.sum())
    return np.asarray(np.diff(np.floor(cumulative + 1e-9)), dtype=np.int64)


def _rates_at(scenario: Scenario, table: FloatArray, now: float) -> FloatArray:
    rates = table.copy()
    if scenario.swap_at_s is not None and now >= scenario.swap_at_s:
        for row in rates:
            best, worst = int(np.argmax(row)), int(np.argmin(row))
            row[[best, worst]] = row[[worst, best]]
    if scenario.rate_rhythm is not None:
        rates *= scenario.rate_rhythm.at(now)
    return rates
