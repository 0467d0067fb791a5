"""The adjusted figures of an experiment's report: its cohorts and allocations read from the store, the
attribution window from the tenant's delay model, and `adjusted` estimates for mature sends and to date."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from copyloom.domain.events import METRIC_KIND
from copyloom.domain.values import Experiment
from copyloom.services.adjusted import (
    METHOD,
    AdjustedRate,
    AdjustedSet,
    SentCohort,
    WeightsInForce,
    adjusted_set,
    mature_window_s,
)
from copyloom.storage.assignments import CohortCount
from copyloom.storage.experiments import allocation_weights


@dataclass(frozen=True, slots=True)
class AdjustedFigures:
    """Each variant's rate and uplift over the control, weighted for the changing split (see
    `services.adjusted`), for mature sends and for every send to date."""

    method: str
    window_s: float
    """The attribution window: a cohort is mature once this old."""
    mature: AdjustedSet
    to_date: AdjustedSet
    control_holdout: float
    control_sends: int
    """The control's sends to date; without a holdout the bandit starves it, and its rate (the base of
    every uplift) rests on these."""

    @property
    def control_starved(self) -> bool:
        return self.control_holdout <= 0


def adjusted_figures(
    conn: Connection,
    experiment: Experiment,
    counts: Sequence[CohortCount],
    *,
    now: float,
    delay_median_s: float,
    delay_sigma: float,
    window_s: float | None = None,
) -> AdjustedFigures | None:
    """The adjusted figures, or None before the experiment has an allocation."""
    history = [
        WeightsInForce(at, weights) for at, weights in allocation_weights(conn, experiment.experiment_id)
    ]
    if not history:
        return None
    kind = METRIC_KIND[experiment.definition.metric]
    cohorts = [
        SentCohort(float(c.cohort_s), c.variant_id, c.sends, c.engagements.get(kind, 0)) for c in counts
    ]
    ids, control = experiment.variant_ids, experiment.definition.control.variant_id
    window = window_s if window_s else mature_window_s(delay_median_s, delay_sigma)
    return AdjustedFigures(
        METHOD,
        window,
        adjusted_set(cohorts, history, ids, control, sent_before=now - window),
        adjusted_set(cohorts, history, ids, control),
        experiment.definition.control_holdout,
        sum(c.sends for c in counts if c.variant_id == control),
    )


def adjusted_json(adjusted: AdjustedFigures) -> dict[str, object]:
    """The adjusted figures as the JSON report carries them (`adjusted`)."""

    def one(found: AdjustedSet) -> dict[str, object]:
        return {
            "sent_before": found.sent_before,
            "rates": [
                {
                    "variant_id": r.variant_id,
                    "rate": _round(r.rate),
                    "ci": [_round(r.low), _round(r.high)],
                    "sends": r.sends,
                }
                for r in found.rates
            ],
            "uplift_vs_control": [
                {
                    "variant_id": u.variant_id,
                    "relative": _round(u.relative),
                    "ci": [_round(u.low), _round(u.high)],
                }
                for u in found.uplifts
            ],
        }

    return {
        "method": adjusted.method,
        "attribution_window_s": round(adjusted.window_s),
        "mature": one(adjusted.mature),
        "to_date": one(adjusted.to_date),
        "control_sends": adjusted.control_sends,
        "control_holdout": adjusted.control_holdout,
        "control_starved": adjusted.control_starved,
    }


def adjusted_markdown(adjusted: AdjustedFigures, metric: str, total_sends: int) -> list[str]:
    """The report's section on the adjusted figures: a table, the method, and the control's sends."""
    hours = adjusted.window_s / 3600
    lines = [
        f"## {metric.replace('_', ' ').capitalize()} rates weighted for the changing split",
        "",
        f"Method: {adjusted.method}. **Mature**: sends at least {hours:.1f} h old (the time by which 95 % "
        "of their events are expected, from the tenant's delay model); **to date**: every send. The per-"
        "variant table above shows pooled counts (naive: biased when the split moved).",
        "",
        "| Variant | Mature rate (95 %) | Rate to date (95 %) | Mature uplift over the control (95 %) |",
        "| --- | --- | --- | --- |",
    ]
    uplifts = {u.variant_id: u for u in adjusted.mature.uplifts}
    for mature, to_date in zip(adjusted.mature.rates, adjusted.to_date.rates, strict=True):
        uplift = uplifts.get(mature.variant_id)
        lift = f"{uplift.relative:+.1%} ({uplift.low:+.1%} to {uplift.high:+.1%})" if uplift else "–"
        lines.append(f"| {mature.variant_id} | {_rate_text(mature)} | {_rate_text(to_date)} | {lift} |")
    share = adjusted.control_sends / total_sends if total_sends else 0.0
    if adjusted.control_starved:
        lines += [
            "",
            f"No control holdout: the bandit starved the control, which had {adjusted.control_sends:,} sends "
            f"({share:.1%} of all). Every uplift rests on its rate; set `control_holdout` (e.g. 0.1) to keep "
            "it measured.",
        ]
    else:
        lines += [
            "",
            f"The control kept a holdout of {adjusted.control_holdout:.0%}: {adjusted.control_sends:,} sends "
            f"({share:.1%} of all).",
        ]
    return [*lines, ""]


def _rate_text(rate: AdjustedRate) -> str:
    if rate.rate is None:
        return "–"
    return f"{rate.rate:.2%} ({rate.low:.2%} to {rate.high:.2%})"


def _round(value: float | None) -> float | None:
    """Six decimals, as the rest of the JSON report."""
    return None if value is None else round(value, 6)
