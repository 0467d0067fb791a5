"""From an experiment's figures to what its page shows: four charts with their data tables, and labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup

from copyloom.services.reports import ExperimentFigures, Interval
from copyloom.web.charts import Chart, Series, chart_table, format_value, render_svg

MIN_RATE_CHART_SENDS = 100
"""The cumulative rate chart draws a variant from the send time at which it has this many sends: the
rate of its first few sends (one click in two: 50 %) says little and would set the scale."""


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
