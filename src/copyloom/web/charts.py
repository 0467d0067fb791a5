"""Series to SVG: the dashboard's charts, drawn on the server from values alone (no IO, no clock).

A chart is a responsive SVG (a `viewBox`, no fixed size) with a `<title>` and `<desc>` it is labelled
by, and `chart_table` gives the same numbers as rows for a data table. Colours come from CSS classes
`s0`…`s7` (by series position) so that pages keep a strict Content-Security-Policy: the SVG carries no
`style` attribute and no script.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

YFormat = Literal["percent", "count"]
WIDTH, HEIGHT = 640, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 16, 12, 30
_PALETTE_SIZE = 8
_Y_TICKS = 4


@dataclass(frozen=True, slots=True)
class Series:
    """One line (or one stacked layer): `(x, y)` points in x order, with an optional `(x, low, high)` band."""

    name: str
    points: tuple[tuple[float, float], ...]
    band: tuple[tuple[float, float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Chart:
    """A time chart: x in seconds since the epoch, y as a share (`percent`) or a number (`count`).

    `stacked` draws the series as layers on top of each other (traffic weights that sum to 1).
    `y_range` fixes the axis; otherwise it spans the data and includes 0. With `fit_bands` False the
    axis spans the lines only and bands are cut at its ends, so that the wide interval of the first few
    sends does not squash the lines into a strip.
    """

    title: str
    description: str
    series: tuple[Series, ...]
    y_format: YFormat = "percent"
    stacked: bool = False
    y_range: tuple[float, float] | None = None
    fit_bands: bool = True


def render_svg(chart: Chart, *, chart_id: str) -> str:
    """The chart as an inline SVG element, labelled by its title and description."""
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" id={quoteattr(chart_id)} '
        'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{title_id}">{escape(chart.title)}</title>',
        f'<desc id="{desc_id}">{escape(chart.description)}</desc>',
    ]
    xs = sorted({x for s in chart.series for x, _ in s.points})
    if not xs:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">No data yet</text>'
        )
        return "".join([*parts, "</svg>"])
    frame = _Frame(xs[0], xs[-1], *_y_bounds(chart))
    parts.extend(_axes(frame, chart.y_format))
    parts.extend(_stacked_layers(chart.series, xs, frame) if chart.stacked else _lines(chart.series, frame))
    return "".join([*parts, "</svg>"])


def chart_table(chart: Chart) -> tuple[list[str], list[list[str]]]:
    """The chart's numbers as a table: a time column, then one column per series (blank where missing)."""
    headers = ["time (UTC)", *(s.name for s in chart.series)]
    values = [dict(s.points) for s in chart.series]
    rows = [
        [_time_label(x, long=True), *(format_value(v[x], chart.y_format) if x in v else "" for v in values)]
        for x in sorted({x for s in chart.series for x, _ in s.points})
    ]
    return headers, rows


def format_value(value: float, y_format: YFormat) -> str:
    """`0.0345` → `3.45 %` (percent) or `12.3` → `12` (count)."""
    if y_format == "percent":
        return f"{value * 100:.2f} %" if abs(value) < 0.1 else f"{value * 100:.1f} %"
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:,.1f}"


@dataclass(frozen=True, slots=True)
class _Frame:
    x_min: float
    x_max: float
    y_min: float
    y_max: float
    y_step: float

    def x(self, value: float) -> float:
        span = self.x_max - self.x_min
        share = 0.5 if span <= 0 else (value - self.x_min) / span
        return round(_LEFT + share * (WIDTH - _LEFT - _RIGHT), 2)

    def clip(self, value: float) -> float:
        return min(max(value, self.y_min), self.y_max)

    def y(self, value: float) -> float:
        span = self.y_max - self.y_min
        share = 0.5 if span <= 0 else (value - self.y_min) / span
        return round(HEIGHT - _BOTTOM - share * (HEIGHT - _TOP - _BOTTOM), 2)


def _y_bounds(chart: Chart) -> tuple[float, float, float]:
    """The y axis: low, high and the step between gridlines, on round numbers that include 0."""
    if chart.y_range is not None:
        low, high = chart.y_range
        return low, high, _nice_step((high - low) / _Y_TICKS)
    values = [y for s in chart.series for _, y in s.points]
    if chart.fit_bands:
        values += [v for s in chart.series for _, low, high in s.band for v in (low, high)]
    low, high = min(0.0, *values), max(0.0, *values)
    if high == low:
        high = low + (1.0 if chart.y_format == "count" else 0.01)
    step = _nice_step((high - low) / _Y_TICKS)
    if chart.y_format == "count":
        step = max(step, 1.0)  # counts are whole: no gridlines at fractions of an event
    return math.floor(low / step) * step + 0.0, math.ceil(high / step) * step + 0.0, step


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least `raw`."""
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def axis_labels(y_min: float, y_max: float, step: float, y_format: YFormat) -> list[str]:
    """The y axis's labels from `y_min` up to `y_max`: as many decimals as the step needs, so that they
    are distinct, and never a negative zero."""
    scale = 100.0 if y_format == "percent" else 1.0
    digits = next((d for d in range(7) if abs(round(step * scale, d) - step * scale) < 1e-9 * scale), 6)
    labels = []
    for i in range(round((y_max - y_min) / step) + 1):
        text = f"{(y_min + step * i) * scale:,.{digits}f}"
        if float(text.replace(",", "")) == 0:
            text = text.lstrip("-")
        labels.append(text + ("%" if y_format == "percent" else ""))
    return labels


def _axes(frame: _Frame, y_format: YFormat) -> list[str]:
    parts = ['<g class="axes">']
    labels = axis_labels(frame.y_min, frame.y_max, frame.y_step, y_format)
    for i, label in enumerate(labels):
        y = frame.y(frame.y_min + frame.y_step * i)
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y}" y2="{y}"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{y + 4}" text-anchor="end">{label}</text>')
    ticks, step = _x_ticks(frame.x_min, frame.x_max)
    for x in ticks:
        px = frame.x(x)
        parts.append(
            f'<line class="tick" x1="{px}" x2="{px}" y1="{HEIGHT - _BOTTOM}" y2="{HEIGHT - _BOTTOM + 4}"/>'
        )
        label = _time_label(x, seconds=step < 60)
        parts.append(f'<text x="{px}" y="{HEIGHT - 10}" text-anchor="middle">{label}</text>')
    if frame.y_min < 0 < frame.y_max:
        zero = frame.y(0.0)
        parts.append(f'<line class="zero" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{zero}" y2="{zero}"/>')
    parts.append("</g>")
    return parts


def _x_ticks(x_min: float, x_max: float) -> tuple[list[float], int]:
    """Up to six ticks on whole seconds, minutes, hours or days, whichever fits the span, and the step."""
    span = x_max - x_min
    steps = (1, 2, 5, 10, 15, 30, 60, 300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
    step = next((s for s in steps if span / s <= 6), steps[-1])
    first = math.ceil(x_min / step) * step
    ticks = [float(t) for t in range(int(first), int(x_max) + 1, step)]
    return (ticks or [x_min]), step


def _time_label(x: float, *, long: bool = False, seconds: bool = False) -> str:
    moment = datetime.fromtimestamp(x, UTC)
    if long:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.strftime("%H:%M:%S" if seconds else "%H:%M")


def _lines(series: Sequence[Series], frame: _Frame) -> list[str]:
    parts: list[str] = []
    for i, s in enumerate(series):
        colour = f"s{i % _PALETTE_SIZE}"
        if len(s.band) >= 2:
            upper = [f"{frame.x(x)},{frame.y(frame.clip(high))}" for x, _, high in s.band]
            lower = [f"{frame.x(x)},{frame.y(frame.clip(low))}" for x, low, _ in reversed(s.band)]
            parts.append(f'<polygon class="band {colour}" points="{" ".join(upper + lower)}"/>')
        points = " ".join(f"{frame.x(x)},{frame.y(y)}" for x, y in s.points)
        parts.append(f'<g class="series {colour}"><title>{escape(s.name)}</title>')
        if len(s.points) == 1:
            x, y = s.points[0]
            parts.append(f'<circle class="dot" cx="{frame.x(x)}" cy="{frame.y(y)}" r="3"/>')
        else:
            parts.append(f'<polyline class="line" points="{points}"/>')
        parts.append("</g>")
    return parts


def _stacked_layers(series: Sequence[Series], xs: Sequence[float], frame: _Frame) -> list[str]:
    """Layers from the first series up, each between the running totals below and above it."""
    below = [0.0] * len(xs)
    parts: list[str] = []
    for i, s in enumerate(series):
        values = dict(s.points)
        above = [b + values.get(x, 0.0) for b, x in zip(below, xs, strict=True)]
        top = [f"{frame.x(x)},{frame.y(y)}" for x, y in zip(xs, above, strict=True)]
        bottom = [f"{frame.x(x)},{frame.y(y)}" for x, y in reversed(list(zip(xs, below, strict=True)))]
        parts.append(
            f'<polygon class="layer s{i % _PALETTE_SIZE}" points="{" ".join(top + bottom)}">'
            f"<title>{escape(s.name)}</title></polygon>"
        )
        below = above
    return parts
