"""Series to SVG: well-formed, labelled, responsive, escaped, and drawn where the numbers say."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from copyloom.web.charts import Chart, Series, axis_labels, chart_table, format_value, render_svg

SVG = "{http://www.w3.org/2000/svg}"
T0 = 1764338400.0  # 2025-11-28 14:00 UTC


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def rates_chart(**changes: object) -> Chart:
    values: dict[str, object] = {
        "title": "Cumulative click rate",
        "description": "Unique clicks per send by send time.",
        "series": (
            Series("control", ((T0, 0.02), (T0 + 3600, 0.03)), ((T0, 0.01, 0.03), (T0 + 3600, 0.02, 0.04))),
            Series("v1", ((T0, 0.04), (T0 + 3600, 0.05))),
        ),
    }
    values.update(changes)
    return Chart(**values)  # type: ignore[arg-type]


def test_svg_is_responsive_and_labelled_by_its_title_and_description() -> None:
    root = parse(render_svg(rates_chart(), chart_id="rates"))

    assert root.get("viewBox") == "0 0 640 260"
    assert root.get("width") is None
    assert root.get("height") is None
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "rates-title rates-desc"
    assert root.find(f"{SVG}title").text == "Cumulative click rate"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "Unique clicks per send by send time."  # type: ignore[union-attr]


def test_every_series_is_a_line_with_its_own_colour_class_and_name() -> None:
    root = parse(render_svg(rates_chart(), chart_id="rates"))

    groups = root.findall(f"{SVG}g[@class]")
    series = [g for g in groups if g.get("class", "").startswith("series")]
    assert [g.get("class") for g in series] == ["series s0", "series s1"]
    assert [g.find(f"{SVG}title").text for g in series] == ["control", "v1"]  # type: ignore[union-attr]
    assert all(g.find(f"{SVG}polyline") is not None for g in series)


def test_a_band_is_drawn_only_for_a_series_that_has_one() -> None:
    root = parse(render_svg(rates_chart(), chart_id="rates"))

    bands = root.findall(f"{SVG}polygon")
    assert [b.get("class") for b in bands] == ["band s0"]
    assert len(bands[0].get("points", "").split()) == 4


def test_higher_values_are_drawn_higher_up() -> None:
    root = parse(render_svg(rates_chart(), chart_id="rates"))

    lines = root.findall(f".//{SVG}polyline")
    control_y = [float(p.split(",")[1]) for p in lines[0].get("points", "").split()]
    v1_y = [float(p.split(",")[1]) for p in lines[1].get("points", "").split()]
    assert all(v < c for v, c in zip(v1_y, control_y, strict=True))  # SVG y grows downwards
    assert control_y[1] < control_y[0]


def test_text_is_escaped() -> None:
    chart = rates_chart(
        title="<script>alert(1)</script>",
        series=(Series('v"1 & <b>', ((T0, 0.1),)),),
    )

    svg = render_svg(chart, chart_id="x")

    assert "<script>" not in svg
    assert "<b>" not in svg
    assert parse(svg).find(f"{SVG}title").text == "<script>alert(1)</script>"  # type: ignore[union-attr]


def test_no_style_attributes_or_scripts_so_a_strict_csp_holds() -> None:
    svg = render_svg(rates_chart(), chart_id="rates")

    assert "style=" not in svg
    assert "<script" not in svg
    assert "on" + "load" not in svg


def test_an_empty_chart_says_so() -> None:
    svg = render_svg(rates_chart(series=(Series("control", ()),)), chart_id="e")

    assert "No data yet" in svg
    parse(svg)


def test_stacked_layers_fill_the_whole_axis_when_shares_sum_to_one() -> None:
    chart = Chart(
        "Traffic weights",
        "Share of sends.",
        (
            Series("control", ((T0, 0.5), (T0 + 600, 0.2))),
            Series("v1", ((T0, 0.5), (T0 + 600, 0.8))),
        ),
        stacked=True,
        y_range=(0.0, 1.0),
    )

    layers = parse(render_svg(chart, chart_id="w")).findall(f"{SVG}polygon")

    assert [layer.get("class") for layer in layers] == ["layer s0", "layer s1"]
    top_of_last = [float(p.split(",")[1]) for p in layers[1].get("points", "").split()][:2]
    assert top_of_last == [12.0, 12.0]  # the top margin: 100 % at every point


def test_axis_labels_show_percent_and_utc_clock_times() -> None:
    svg = render_svg(rates_chart(), chart_id="rates")

    labels = re.findall(r">([^<>]+)</text>", svg)
    assert "14:00" in labels
    assert "15:00" in labels
    assert any(label.endswith("%") for label in labels)


def test_a_span_of_seconds_gets_ticks_with_seconds() -> None:
    chart = rates_chart(series=(Series("control", ((T0 + 3, 0.02), (T0 + 21, 0.03))),))

    labels = re.findall(r">([^<>]+)</text>", render_svg(chart, chart_id="s"))

    assert "14:00:05" in labels
    assert "14:00:20" in labels


def test_count_charts_span_negative_values_with_a_zero_line() -> None:
    chart = Chart(
        "Incremental clicks",
        "Gained clicks.",
        (Series("vs even", ((T0, -3.0), (T0 + 60, 12.0))),),
        y_format="count",
    )

    root = parse(render_svg(chart, chart_id="g"))

    assert root.find(f".//{SVG}line[@class='zero']") is not None


def test_table_has_a_row_per_time_and_a_column_per_series() -> None:
    headers, rows = chart_table(rates_chart())

    assert headers == ["time (UTC)", "control", "v1"]
    assert rows == [
        ["2025-11-28 14:00:00", "2.00 %", "4.00 %"],
        ["2025-11-28 15:00:00", "3.00 %", "5.00 %"],
    ]


@pytest.mark.parametrize(
    ("value", "y_format", "text"),
    [
        (0.0345, "percent", "3.45 %"),
        (0.5, "percent", "50.0 %"),
        (12.4, "count", "12"),
        (-2.25, "count", "-2.2"),
    ],
)
def test_values_are_formatted_for_reading(value: float, y_format: str, text: str) -> None:
    assert format_value(value, y_format) == text  # type: ignore[arg-type]


def y_labels(svg: str) -> list[str]:
    """The y axis's labels, bottom up: the texts anchored at the end (x labels are centred)."""
    return re.findall(r'text-anchor="end">([^<>]+)</text>', svg)


def test_small_negative_counts_get_distinct_whole_labels_and_no_negative_zero() -> None:
    chart = Chart(
        "Incremental clicks",
        "Gained clicks.",
        (Series("vs even", ((T0, 0.0), (T0 + 60, -0.2))),),
        y_format="count",
    )

    labels = y_labels(render_svg(chart, chart_id="g"))

    assert labels == ["-1", "0"]


@pytest.mark.parametrize(
    ("low", "high", "step", "y_format", "expected"),
    [
        (-0.2, 0.0, 0.05, "count", ["-0.20", "-0.15", "-0.10", "-0.05", "0.00"]),
        (-0.0, 0.02, 0.005, "percent", ["0.0%", "0.5%", "1.0%", "1.5%", "2.0%"]),
        (0.0, 0.01, 0.0025, "percent", ["0.00%", "0.25%", "0.50%", "0.75%", "1.00%"]),
        (-2000.0, 2000.0, 1000.0, "count", ["-2,000", "-1,000", "0", "1,000", "2,000"]),
    ],
)
def test_axis_labels_are_distinct_and_never_negative_zero(
    low: float, high: float, step: float, y_format: str, expected: list[str]
) -> None:
    labels = axis_labels(low, high, step, y_format)  # type: ignore[arg-type]

    assert labels == expected
    assert len(set(labels)) == len(labels)
    assert not any(label.lstrip("-").strip("0.,%") == "" and label.startswith("-") for label in labels)


def test_without_fit_bands_the_axis_fits_the_lines_and_bands_are_cut_at_its_ends() -> None:
    early_spike_band = ((T0, 0.0, 0.9), (T0 + 60, 0.01, 0.05), (T0 + 120, 0.02, 0.04))
    chart = rates_chart(
        series=(Series("control", ((T0, 0.03), (T0 + 60, 0.03), (T0 + 120, 0.03)), early_spike_band),),
        fit_bands=False,
    )

    svg = render_svg(chart, chart_id="r")

    assert y_labels(svg)[-1] == "3%"  # the lines' 3 %, not the band's 90 %
    polygon = parse(svg).find(f".//{SVG}polygon")
    assert polygon is not None
    ys = [float(p.split(",")[1]) for p in polygon.get("points", "").split()]
    assert min(ys) >= 12.0  # the top margin: nothing drawn above the axis
