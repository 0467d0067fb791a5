"""The optimisation-quality benchmark: every policy on simulated broadcasts and triggered experiments.

Each policy is scored by the share of the achievable gain it captures,
(clicks - even split) / (always best - even split), in expected clicks of the sends it made, over many
seeds; and by how often it declares a winner, which in the A/A scenario is the false-winner rate.
`copyloom bench optimize` and `benchmarks/optimize.py` run it and print the table (and one JSON line).
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any, Literal, get_args

import numpy as np

from copyloom.bench.segments import (
    BLIND,
    CEILING_LABEL,
    CONTEXTUAL,
    LEARNING_ORACLE_LABEL,
    paired_difference,
    segment_scenarios,
)
from copyloom.engine import DelayModel, PolicyConfig, PolicyName, policy_names
from copyloom.simulation.simulate import Outcome, Rhythm, Scenario, cycle, segment_table, simulate

DAY_S = 86_400.0
HOUR_S = 3_600.0
TRUE_DELAY = DelayModel(median_s=HOUR_S, sigma=1.5)
"""The simulated world's delays: median one hour and a heavier tail than the engine's prior (sigma 1.2);
one scenario has a lighter tail instead. The engine is given its default prior, not the truth."""

Feedback = Literal["delayed", "instant"]
FEEDBACKS: tuple[Feedback, ...] = get_args(Feedback)
INSTANT_DELAY = DelayModel(median_s=1.0, sigma=0.1)
"""`feedback="instant"`: every success arrives about a second after its send, and the engine is told so.
A yardstick, not a send anyone makes: a policy's gap to its own score with instant feedback is what the
click delay costs it."""

ORACLE: Literal["oracle"] = "oracle"
"""Not a policy: the row of `oracle.oracle_shares`, told each scenario's rates as a set and its delay law,
what any learner could capture from the same clicks. Run on the scenarios with fixed, unequal rates."""

Entrant = PolicyName | Literal["oracle", "thompson_segments"]
"""A row of the benchmark: a registered policy, `ORACLE` or, on the segmented scenarios, `CONTEXTUAL`."""

SAMPLES = 2_000
"""Posterior draws per look: P(best) to about +-0.01, enough to allocate, far cheaper than 10,000."""


def _broadcast(
    name: str,
    rates: tuple[float, ...],
    look_every_s: tuple[float, float],
    delay: DelayModel = TRUE_DELAY,
    recipients: int = 1_000_000,
) -> Scenario:
    return Scenario(
        name=name,
        mode="broadcast",
        rates=rates,
        recipients=recipients,
        duration_s=6 * HOUR_S,
        step_s=60.0,
        look_every_s=look_every_s,
        cohort_s=300.0,
        delay=delay,
    )


def _triggered(name: str, swap_at_s: float | None) -> Scenario:
    return Scenario(
        name=name,
        mode="triggered",
        rates=(0.020, 0.023, 0.026),
        recipients=28 * 20_000,
        duration_s=28 * DAY_S,
        step_s=HOUR_S,
        look_every_s=(20 * HOUR_S, 28 * HOUR_S),
        cohort_s=DAY_S,
        delay=TRUE_DELAY,
        swap_at_s=swap_at_s,
        period_s=7 * DAY_S,
    )


VOLUME_RHYTHM = Rhythm(by_hour=cycle(0.6, 24, peak=19), by_weekday=cycle(0.3, 7, peak=1))
"""Triggered sends by hour (+-60 %, most at 19:00) and by day of the week (+-30 %, most on day 1)."""
RATE_RHYTHM = Rhythm(by_hour=cycle(0.3, 24, peak=20), by_weekday=cycle(0.15, 7, peak=5))
"""Every variant's rate alike by hour (+-30 %, highest at 20:00) and by day of the week (+-15 %)."""


def _rhythmic(name: str, rates: tuple[float, ...], swap_at_s: float | None) -> Scenario:
    return Scenario(
        name=name,
        mode="triggered",
        rates=rates,
        recipients=21 * 24 * 3_000,
        duration_s=21 * DAY_S,
        step_s=HOUR_S,
        look_every_s=(2 * HOUR_S, 4 * HOUR_S),
        cohort_s=HOUR_S,
        delay=TRUE_DELAY,
        swap_at_s=swap_at_s,
        period_s=7 * DAY_S,
        volume_rhythm=VOLUME_RHYTHM,
        rate_rhythm=RATE_RHYTHM,
    )


RHYTHM_RATES = (0.020, 0.022, 0.024, 0.026)


def _joined(name: str) -> Scenario:
    """The rhythm scenarios' sends (three weeks, 3,000 an hour, looked at every 2-4 hours) without the
    rhythms; a better wording (3.2 % against 2.0-2.6 %) added on day 10."""
    send = _rhythmic(name, (0.020, 0.023, 0.026, 0.032), None)
    return replace(send, volume_rhythm=None, rate_rhythm=None, join_at_s=10 * DAY_S)


SCENARIOS: tuple[Scenario, ...] = (
    _broadcast("broadcast 2 variants (+10 %)", (0.025, 0.0275), (60.0, 300.0)),
    _broadcast(
        "broadcast 5 variants (2.0-2.5 %)", tuple(np.linspace(0.020, 0.025, 5).tolist()), (60.0, 300.0)
    ),
    _broadcast(
        "broadcast 10 variants (small gaps)", tuple(np.linspace(0.022, 0.025, 10).tolist()), (60.0, 300.0)
    ),
    _broadcast(
        "broadcast 5 variants, light delay tail (sigma 0.8)",
        tuple(np.linspace(0.020, 0.025, 5).tolist()),
        (60.0, 300.0),
        DelayModel(median_s=HOUR_S, sigma=0.8),
    ),
    _broadcast("broadcast A/A (looked at every minute)", (0.025, 0.025), (60.0, 60.0)),
    _broadcast(
        "broadcast 20,000 recipients, 4 variants (3.0-4.5 %)",
        (0.030, 0.035, 0.045, 0.038),
        (60.0, 300.0),
        recipients=20_000,
    ),
    _triggered("triggered 4 weeks, stationary", None),
    _triggered("triggered 4 weeks, best swapped at day 14", 14 * DAY_S),
    _rhythmic("triggered 3 weeks with rhythms, stationary", RHYTHM_RATES, None),
    _rhythmic("triggered 3 weeks with rhythms, best swapped at day 14", RHYTHM_RATES, 14 * DAY_S),
    _rhythmic("triggered A/A with rhythms", (0.023,) * 4, None),
    _joined("triggered 3 weeks, a better variant added at day 10"),
    *segment_scenarios(TRUE_DELAY),
)


def run_optimize_benchmark(
    seeds: int = 40,
    quick: bool = False,
    workers: int = 2,
    *,
    scenario: str | None = None,
    policies: tuple[str, ...] | None = None,
    first_seed: int = 0,
    feedback: Feedback = "delayed",
) -> dict[str, Any]:
    """Simulate every registered policy on every scenario, `seeds` times each.

    Args:
        seeds: simulated experiments per policy and scenario.
        quick: a tenth of the recipients and at most 2 seeds, in one process: a smoke test.
        workers: processes to spread the runs over (ignored when `quick`).
        scenario: run only the scenarios whose name contains this text (case-insensitive).
        policies: run only these entrants; default all registered policies, the oracle and, on the
            segmented scenarios, `CONTEXTUAL` (thompson told the segments).
        first_seed: the seeds are first_seed … first_seed + seeds − 1. The README's table uses 0–39;
            judge a change to a policy on other seeds too, or it is tuned to those 40.
        feedback: "delayed" (the scenarios as they are) or "instant": every success arrives a second
            after its send and the delay-aware policies know it (`INSTANT_DELAY`, no refit, no cohort
            left out for its age), the reference for what the delay costs.

    Returns:
        {"seeds", "first_seed", "quick", "feedback", "elapsed_s", "scenarios": [{"name", "rates", "period_s",
        "floor_bound", "policies": {policy: {"gain_mean", "gain_se", "gain_p10", "gain_by_period",
        "winner_rate", "late_swing"}}, "segments", "contextual_minus_blind"}]}, `ORACLE` among the
        policies where it runs (`takes_oracle`); gains, bounds and swings are None where no gain is
        achievable (A/A). `gain_se` is the standard error of the mean over the seeds. `gain_by_period` is
        the gain captured by the sends of each period (an hour of a broadcast, a week of a triggered
        experiment), pooled over the seeds: where in the send it is won or lost. `floor_bound` is the
        most any policy keeping the default floor on every variant can capture: all but the floors on the
        best (on a segmented scenario each segment's best: the ceiling of the entrant that knows it).
        `segments` counts the scenario's segments; `contextual_minus_blind` is `CONTEXTUAL`'s gain minus
        thompson's, paired by seed ({"mean", "se"}; None unless both ran on two seeds or more).

    Raises:
        ValueError: "scenario: …" when no scenario matches, "policies: …" for an unknown policy,
            "feedback: …" for another feedback than delayed or instant.
    """
    if feedback not in FEEDBACKS:
        raise ValueError(f"feedback: expected one of {', '.join(FEEDBACKS)}, got {feedback!r}")
    started = time.perf_counter()
    seeds = min(seeds, 2) if quick else seeds
    chosen = _chosen_scenarios(scenario)
    names = _chosen_policies(policies)
    scenarios = [_shrunk(s) for s in chosen] if quick else chosen
    if feedback == "instant":
        scenarios = [replace(s, delay=INSTANT_DELAY) for s in scenarios]
    seed_range = range(first_seed, first_seed + seeds)
    jobs = [
        (s, policy, seed, feedback)
        for s in scenarios
        for policy in names
        if (policy != ORACLE or takes_oracle(s)) and (policy != CONTEXTUAL or bool(s.segments))
        for seed in seed_range
    ]
    if quick or workers <= 1:
        outcomes = [_run_one(job) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(_run_one, jobs, chunksize=8))
    by_key: dict[tuple[str, str], list[Outcome]] = {}
    for (run_scenario, policy, _, _), outcome in zip(jobs, outcomes, strict=True):
        by_key.setdefault((run_scenario.name, policy), []).append(outcome)
    return {
        "seeds": seeds,
        "first_seed": first_seed,
        "quick": quick,
        "feedback": feedback,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "scenarios": [
            {
                "name": s.name,
                "rates": list(s.rates),
                "period_s": s.period_s,
                "floor_bound": _scenario_floor_bound(s, PolicyConfig().floor),
                "policies": {
                    p: _summary(by_key[(s.name, p)], joins=s.join_at_s is not None)
                    for p in names
                    if (s.name, p) in by_key
                },
                "segments": len(s.segments),
                "contextual_minus_blind": _contextual_minus_blind(by_key, s.name),
            }
            for s in scenarios
        ],
    }


def takes_oracle(scenario: Scenario) -> bool:
    """The oracle knows fixed rates: not a scenario whose rates swap or follow a rhythm, or whose variants
    change; nor an A/A, with nothing to learn."""
    is_fixed = scenario.swap_at_s is None and scenario.rate_rhythm is None and scenario.join_at_s is None
    return is_fixed and bool(np.ptp(segment_table(scenario)[0], axis=1).max() > 0)


def floor_bound(rates: tuple[float, ...], floor: float) -> float | None:
    """The most of the achievable gain a policy can capture while every variant keeps `floor`: each
    other variant at its floor from the first send, the rest on the best. None when all rates are equal.

    Args:
        rates: the variants' true rates.
        floor: the share every variant keeps.

    Returns:
        (floored clicks - even split) / (always best - even split), rounded to 3 places.
    """
    best, mean = max(rates), sum(rates) / len(rates)
    if best - mean <= 1e-12 * best:
        return None
    others = sum(rates) - best
    floored = (1 - floor * (len(rates) - 1)) * best + floor * others
    return round((floored - mean) / (best - mean), 3)


def _scenario_floor_bound(scenario: Scenario, floor: float) -> float | None:
    # Segmented: the floored gain of every segment served its best, over the segment-aware achievable.
    if not scenario.segments:
        return floor_bound(scenario.rates, floor)
    table, shares = segment_table(scenario)
    best, mean = table.max(axis=1), table.mean(axis=1)
    floored = (1 - floor * (table.shape[1] - 1)) * best + floor * (table.sum(axis=1) - best)
    achievable = float(shares @ (best - mean))
    return None if achievable <= 1e-12 else round(float(shares @ (floored - mean)) / achievable, 3)


def render_table(result: dict[str, Any]) -> str:
    """The benchmark result as a markdown table, one row per scenario and policy."""
    lines = [
        "| scenario | policy | gain captured (mean) | gain captured (10th pct) | by hour (broadcast) or "
        "week (triggered) | best under the floor | winner declared | late swing (mean) | added variant at "
        "50 % of the traffic (median hours, share of runs) |",
        "|---|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for scenario in result["scenarios"]:
        is_segmented = bool(scenario.get("segments"))
        for policy, row in scenario["policies"].items():
            by_period = " · ".join(_cell(g) for g in row["gain_by_period"] or [None])
            label = LEARNING_ORACLE_LABEL if is_segmented and policy == ORACLE else policy
            lines.append(
                f"| {scenario['name']} | {label} | {_cell(row['gain_mean'])} | {_cell(row['gain_p10'])} "
                f"| {by_period} | {_cell(scenario['floor_bound'])} | {row['winner_rate']:.1%} "
                f"| {_cell(row['late_swing'])} | {_joined_cell(row)} |"
            )
        if is_segmented:
            bound = _cell(scenario["floor_bound"])
            lines.append(f"| {scenario['name']} | {CEILING_LABEL} | {bound} | {bound} | | {bound} | | | |")
    paired = [s for s in result["scenarios"] if s.get("contextual_minus_blind")]
    if paired:
        lines += ["", f"| scenario | {CONTEXTUAL} − {BLIND}, paired by seed (mean) | standard error |"]
        lines.append("|---|---:|---:|")
        for s in paired:
            diff = s["contextual_minus_blind"]
            lines.append(f"| {s['name']} | {diff['mean']:+.4f} | {diff['se']:.4f} |")
    return "\n".join(lines)


def _contextual_minus_blind(
    by_key: dict[tuple[str, str], list[Outcome]], name: str
) -> dict[str, float] | None:
    if (name, CONTEXTUAL) not in by_key or (name, BLIND) not in by_key:
        return None
    return paired_difference(by_key[(name, CONTEXTUAL)], by_key[(name, BLIND)])


def pooled_gain_by_period(outcomes: list[Outcome]) -> list[float | None]:
    """Each period's gain captured, its clicks and references summed over the seeds first; None for a
    period with nothing to gain (a triggered swap's best and worst can average out over a period)."""
    clicks, even, best = np.array([o.by_period for o in outcomes]).sum(axis=0).T
    achievable = best - even
    return [
        round(float((c - e) / a), 3) if a > 1e-9 * b else None
        for c, e, a, b in zip(clicks, even, achievable, best, strict=True)
    ]


def _chosen_scenarios(text: str | None) -> list[Scenario]:
    if text is None:
        return list(SCENARIOS)
    chosen = [s for s in SCENARIOS if text.casefold() in s.name.casefold()]
    if not chosen:
        raise ValueError(f"scenario: no scenario name contains {text!r}")
    return chosen


def _chosen_policies(policies: tuple[str, ...] | None) -> tuple[Entrant, ...]:
    known: dict[str, Entrant] = {name: name for name in (*policy_names(), ORACLE, CONTEXTUAL)}
    if not policies:
        return tuple(known.values())
    for policy in policies:
        if policy not in known:
            raise ValueError(f"policies: expected names from {', '.join(known)}, got {policy!r}")
    return tuple(dict.fromkeys(known[policy] for policy in policies))


def _config_for(scenario: Scenario, policy: PolicyName, feedback: Feedback) -> PolicyConfig:
    config = PolicyConfig(
        policy=policy,
        mode=scenario.mode,
        samples=SAMPLES,
        ab_test_sends=scenario.recipients // 10,  # a test on 10 % of the expected send
    )
    if feedback == "instant":
        return replace(config, delay=INSTANT_DELAY, refine_delay=False, min_cohort_age_s=0.0)
    return config


def _run_one(job: tuple[Scenario, Entrant, int, Feedback]) -> Outcome:
    scenario, policy, seed, feedback = job
    rng = np.random.default_rng([seed, sum(map(ord, scenario.name))])
    if policy == ORACLE:
        return simulate(scenario, _config_for(scenario, "thompson", feedback), rng, oracle=True)
    if policy == CONTEXTUAL:
        return simulate(scenario, _config_for(scenario, "thompson", feedback), rng, contextual=True)
    return simulate(scenario, _config_for(scenario, policy, feedback), rng)


def _summary(outcomes: list[Outcome], *, joins: bool = False) -> dict[str, float | list[float | None] | None]:
    """Gain captured, winners and swing over the seeds; with a variant joining, also the median hours from
    the join to half the traffic on it, among the runs that got there, and the share that did."""
    gains = np.array([o.gain_captured for o in outcomes])
    winner_rate = float(np.mean([o.has_winner for o in outcomes]))
    if np.isnan(gains).any():
        return {
            "gain_mean": None,
            "gain_se": None,
            "gain_p10": None,
            "gain_by_period": None,
            "winner_rate": winner_rate,
            "late_swing": None,
        }
    joined: dict[str, float | None] = {}
    if joins:
        to_half = np.array([o.joined_to_half_s for o in outcomes]) / HOUR_S
        reached = to_half[~np.isnan(to_half)]
        joined = {
            "joined_to_half_h_median": round(float(np.median(reached)), 1) if reached.size else None,
            "joined_reached_half": round(float(reached.size / len(to_half)), 3),
        }
    return {
        **joined,
        "gain_mean": round(float(gains.mean()), 3),
        "gain_se": round(float(gains.std(ddof=1) / math.sqrt(len(gains))), 3) if len(gains) > 1 else None,
        "gain_p10": round(float(np.percentile(gains, 10)), 3),
        "gain_by_period": pooled_gain_by_period(outcomes),
        "winner_rate": winner_rate,
        "late_swing": round(float(np.mean([o.late_swing for o in outcomes])), 3),
    }


def _shrunk(scenario: Scenario) -> Scenario:
    swap_at_s = None if scenario.swap_at_s is None else scenario.swap_at_s / 4
    join_at_s = None if scenario.join_at_s is None else scenario.join_at_s / 4
    return replace(
        scenario,
        recipients=scenario.recipients // 10,
        duration_s=scenario.duration_s / 4,
        swap_at_s=swap_at_s,
        join_at_s=join_at_s,
    )


def _joined_cell(row: dict[str, Any]) -> str:
    if "joined_reached_half" not in row:
        return ""
    hours = row["joined_to_half_h_median"]
    return f"{'n/a' if hours is None else f'{hours:.0f} h'}, {row['joined_reached_half']:.0%}"


def _cell(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"
