"""The uplift benchmark: how often each estimator's 95 % interval covers the true uplift over the control,
on broadcasts allocated by the engine as the learner allocates them.

Each simulated send spreads its recipients over six hours in five-minute steps; each step's recipients
are split by the weights in force (multinomial), and click with their variant's true rate times a rhythm
shared by every variant (early recipients click more: x1.4 falling to x0.7 over the send, as a list sorted
by engagement behaves). The learner looks after every step and sees the clicks that have arrived (a
log-normal delay). After the send, every click has arrived; then each non-control variant's uplift over
the control is estimated twice: **naive**, from pooled counts (the Beta Monte Carlo interval the
report's `uplift` uses), and **weighted**, by inverse propensity with the weights in force
(`services.adjusted`). The true uplift is the ratio of true rates minus one (the rhythm cancels).
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from copyloom.engine import Cohort, DelayModel, PolicyConfig, allocate
from copyloom.services import report_stats as stats
from copyloom.services.adjusted import SentCohort, WeightsInForce, adjusted_set

RATES = {"control": 0.030, "v1": 0.036, "v2": 0.045}
RECIPIENTS = 60_000
STEP_S = 300.0
STEPS = 72  # six hours
DELAY = DelayModel(3600.0, 1.2)
START = 1_764_331_200.0


@dataclass(frozen=True, slots=True)
class Estimate:
    variant_id: str
    truth: float
    naive: float
    naive_low: float
    naive_high: float
    weighted: float
    weighted_low: float
    weighted_high: float


def run_uplift_benchmark(*, seeds: int, first_seed: int = 0, workers: int = 2) -> dict[str, Any]:
    """Simulate `seeds` sends and report coverage, bias and width of both estimators' intervals."""
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        runs = list(pool.map(simulate_send, range(first_seed, first_seed + seeds)))
    estimates = [e for run in runs for e in run]
    return {
        "seeds": seeds,
        "first_seed": first_seed,
        "rates": RATES,
        "recipients": RECIPIENTS,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "naive": _summary([(e.naive, e.naive_low, e.naive_high, e.truth) for e in estimates]),
        "weighted": _summary([(e.weighted, e.weighted_low, e.weighted_high, e.truth) for e in estimates]),
    }


def simulate_send(seed: int) -> list[Estimate]:
    """One send: the engine allocates after every step; both estimates for each non-control variant."""
    rng = np.random.default_rng([seed, 7])
    names = list(RATES)
    rates = np.array([RATES[v] for v in names])
    config = PolicyConfig(mode="broadcast", delay=DELAY)
    weights = np.full(len(names), 1.0 / len(names))
    history: list[WeightsInForce] = []
    sends = np.zeros((STEPS, len(names)), dtype=np.int64)
    delays: list[list[np.ndarray]] = [[np.empty(0)] * len(names) for _ in range(STEPS)]
    per_step = RECIPIENTS // STEPS
    for step in range(STEPS):
        at = START + step * STEP_S
        history.append(WeightsInForce(at, dict(zip(names, weights.tolist(), strict=True))))
        sends[step] = rng.multinomial(per_step, weights)
        rhythm = 1.4 - 0.7 * step / (STEPS - 1)
        for j in range(len(names)):
            clicks = rng.binomial(sends[step, j], min(1.0, rates[j] * rhythm))
            delays[step][j] = DELAY.median_s * np.exp(DELAY.sigma * rng.standard_normal(clicks))
        now = at + STEP_S
        cohorts = [
            Cohort(
                names[j],
                START + s * STEP_S,
                int(sends[s, j]),
                int(np.sum(delays[s][j] <= now - START - s * STEP_S)),
            )
            for s in range(step + 1)
            for j in range(len(names))
            if sends[s, j]
        ]
        allocation = allocate(names, cohorts, now, config, rng, control="control")
        weights = np.array([allocation.weights[v] for v in names])
    final = [
        SentCohort(START + s * STEP_S, names[j], int(sends[s, j]), len(delays[s][j]))
        for s in range(STEPS)
        for j in range(len(names))
        if sends[s, j]
    ]
    adjusted = adjusted_set(final, history, names, "control")
    uplift = {u.variant_id: u for u in adjusted.uplifts}
    pooled = {
        v: stats.Counts(
            sum(c.sends for c in final if c.variant_id == v),
            sum(c.events for c in final if c.variant_id == v),
        )
        for v in names
    }
    estimates = []
    for v in names[1:]:
        low, high = stats.relative_uplift_interval(pooled[v], pooled["control"], rng)
        weighted = uplift.get(v)
        estimates.append(
            Estimate(
                v,
                RATES[v] / RATES["control"] - 1,
                stats.relative_uplift(pooled[v], pooled["control"]),
                low,
                high,
                weighted.relative if weighted else float("nan"),
                weighted.low if weighted else float("nan"),
                weighted.high if weighted else float("nan"),
            )
        )
    return estimates


def _summary(rows: list[tuple[float, float, float, float]]) -> dict[str, float]:
    kept = [r for r in rows if np.isfinite(r[0]) and np.isfinite(r[1]) and np.isfinite(r[2])]
    covered = [low <= truth <= high for _, low, high, truth in kept]
    errors = [estimate - truth for estimate, _, _, truth in kept]
    return {
        "coverage": round(float(np.mean(covered)), 3),
        "bias": round(float(np.mean(errors)), 4),
        "median_width": round(float(np.median([high - low for _, low, high, _ in kept])), 4),
        "estimates": len(kept),
        "undefined": len(rows) - len(kept),
    }


def render_uplift_table(result: dict[str, Any]) -> str:
    lines = [
        "| estimator | 95 % interval coverage | mean error of the uplift | median interval width |",
        "|---|---|---|---|",
    ]
    for name in ("naive", "weighted"):
        row = result[name]
        lines.append(f"| {name} | {row['coverage']:.1%} | {row['bias']:+.3f} | {row['median_width']:.3f} |")
    return "\n".join(lines)
