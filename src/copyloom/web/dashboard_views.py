"""From an experiment's figures to what its page shows: four charts with their data tables, and labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup

from copyloom.services.experiments import metric_events
from copyloom.services.report_stats import UPLIFT_MIN_CONTROL_SENDS, Interval
from copyloom.services.reports import MIN_LEADER_EVENTS, MIN_LEADER_P_BEST, ExperimentFigures
from copyloom.web.charts import Chart, Series, chart_table, format_value, render_svg

MIN_RATE_CHART_SENDS = 100
"""The cumulative rate chart draws a variant from the send time at which it has this many sends: the
rate of its first few sends (one click in two: 50 %) says little and would set the scale."""

MAX_SEGMENT_ROWS = 40
"""The Segments card lists this many segments, most sends first; the report lists them all."""


@dataclass(frozen=True, slots=True)
class ChartView:
    """A chart ready for a template: its SVG and the same numbers as a table."""

    chart_id: str
    title: str
    svg: Markup
    headers: list[str]
    rows: list[list[str]]


def experiment_charts(figures: ExperimentFigures) -> list[ChartView]:
    """Traffic weights (stacked), cumulative metric rate with intervals, P(best), incremental events."""
    charts = {
        "weights": _weights_chart(figures),
        "rates": _rates_chart(figures),
        "p-best": _p_best_chart(figures),
        "gains": _gains_chart(figures),
    }
    views = []
    for chart_id, chart in charts.items():
        headers, rows = chart_table(chart)
        # render_svg escapes every text it writes; the rest is numbers and fixed markup.
        svg = Markup(render_svg(chart, chart_id=f"chart-{chart_id}"))  # noqa: S704
        views.append(ChartView(f"chart-{chart_id}", chart.title, svg, headers, rows))
    return views


def percent(value: float | None) -> str:
    return "–" if value is None else format_value(value, "percent")


def interval(ci: Interval) -> str:
    return f"{format_value(ci.low, 'percent')} – {format_value(ci.high, 'percent')}"


def when(at: float | None) -> str:
    return "never" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _weights_chart(figures: ExperimentFigures) -> Chart:
    history = figures.history
    ids = [v.variant_id for v in figures.variants]
    series = tuple(Series(v, tuple((p.at, float(p.weights.get(v, 0.0))) for p in history)) for v in ids)
    return Chart(
        "Traffic weights over time",
        "Share of new sends each variant got after every learner run, stacked to 100 %.",
        series,
        stacked=True,
        y_range=(0.0, 1.0),
    )


def _rates_chart(figures: ExperimentFigures) -> Chart:
    metric = figures.experiment.definition.metric
    series = []
    for v in figures.variants:
        points = [p for p in figures.cumulative if p.variant_id == v.variant_id]
        # A variant that never reached the minimum is still drawn, as the dot of its latest figure.
        points = [p for p in points if p.sends >= MIN_RATE_CHART_SENDS] or points[-1:]
        series.append(
            Series(
                v.variant_id,
                tuple((p.at, p.rate) for p in points),
                tuple((p.at, p.ci.low, p.ci.high) for p in points),
            )
        )
    return Chart(
        f"Cumulative {metric} rate",
        f"Unique {metric}s per send so far for each variant, by send time, from its "
        f"{MIN_RATE_CHART_SENDS}th send on, with 95 % credible intervals as shaded bands (cut at the "
        "axis, which fits the rates).",
        tuple(series),
        fit_bands=False,
    )


def _p_best_chart(figures: ExperimentFigures) -> Chart:
    series = tuple(
        Series(v.variant_id, tuple((p.at, float(p.p_best.get(v.variant_id, 0.0))) for p in figures.history))
        for v in figures.variants
    )
    return Chart(
        "P(best) over time",
        "Posterior probability that each variant is the best, after every learner run.",
        series,
        y_range=(0.0, 1.0),
    )


def _gains_chart(figures: ExperimentFigures) -> Chart:
    metric = figures.experiment.definition.metric
    gains = figures.gains
    series = (
        Series("vs an even split", tuple((g.at, g.vs_even) for g in gains)),
        Series("vs the control only", tuple((g.at, g.vs_control) for g in gains)),
    )
    return Chart(
        f"Incremental {metric}s",
        f"{metric.capitalize()}s gained so far by the optimised allocation, against sending every variant "
        "equally and against sending only the control.",
        series,
        y_format="count",
    )


@dataclass(frozen=True, slots=True)
class RulePart:
    """One part of the decision rule as the page states it: what it is, how far, and whether it holds."""

    name: str
    detail: str
    is_met: bool


def decision_parts(figures: ExperimentFigures) -> list[RulePart]:
    """The decision rule's parts for the leader, in the order the learner checks them; empty without one."""
    why = figures.decision
    if why is None:
        return []
    leader = why.leader
    parts = [
        RulePart(
            "Warm-up",
            f"every variant needs {why.min_sends_per_variant:,} sends; the fewest has {why.fewest_sends:,}",
            why.is_warmed_up,
        ),
        RulePart(
            "P(best)",
            f"{leader} is best with probability {percent(why.p_best)}; needs at least "
            f"{percent(why.win_probability)}",
            why.is_probable_enough,
        ),
        RulePart(
            "Expected loss",
            f"choosing {leader} now loses {_loss(why.expected_loss)} of its rate in expectation; needs "
            f"below {percent(why.max_expected_loss)}",
            why.is_loss_small_enough,
        ),
    ]
    for test in why.tests:
        detail = (
            f"{leader} is not ahead of {test.other}"
            if test.evidence == 0
            else f"evidence {_evidence(test.evidence)} of the {_evidence(test.needed)} needed"
        )
        parts.append(RulePart(f"Sequential test against {test.other}", detail, test.passes))
    return parts


def missing_summary(parts: list[RulePart]) -> str:
    """`Missing: P(best), sequential test against control` for the parts that do not hold yet."""
    missing = [
        p.name[0].lower() + p.name[1:] if p.name != "P(best)" else p.name for p in parts if not p.is_met
    ]
    return (
        f"missing: {', '.join(missing)}" if missing else "every part holds; declared at the next learner run"
    )


def leader_note(figures: ExperimentFigures) -> str:
    """Why a leader is not shown as one: its P(best) and events against the documented minimum."""
    leader = next((v for v in figures.variants if v.variant_id == figures.leader), None)
    if leader is None:
        return "no learner run yet"
    events = metric_events(leader, figures.metric)
    metric = figures.metric
    return (
        f"{leader.variant_id}: P(best) {percent(leader.p_best)} on {events:,} {metric}s; "
        f"a leader needs P(best) {percent(MIN_LEADER_P_BEST)} and {MIN_LEADER_EVENTS} {metric}s"
    )


def uplift_warning(figures: ExperimentFigures) -> str | None:
    """What makes the uplift over the control uncertain, and how to avoid it; None when it is not."""
    uplift = figures.uplift
    if uplift is None or not uplift.is_uncertain:
        return None
    if uplift.control_sends < UPLIFT_MIN_CONTROL_SENDS:
        cause = (
            f"the control had only {uplift.control_sends:,} sends (fewer than {UPLIFT_MIN_CONTROL_SENDS:,})"
        )
    else:
        cause = "its 95 % interval is too wide"
    if figures.experiment.definition.control_holdout > 0:
        return f"Uncertain: {cause}. The control holdout keeps it a share: wait for more sends."
    return (
        f"Uncertain: {cause}, as the optimisation moved traffic away from it. To measure uplift, keep the "
        "control a share of every send: set control_holdout (e.g. 0.1) in the definition."
    )


def _loss(share: float) -> str:
    return "all" if share == float("inf") else percent(share)


def _evidence(value: float) -> str:
    return "over 1,000,000" if value > 1_000_000 else f"{value:,.1f}".removesuffix(".0")
