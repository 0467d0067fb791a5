"""The segment figures in the reports: JSON `segments`, CSV rows per segment and variant, Markdown "By
segment"; and nothing new for an experiment without context."""

from __future__ import annotations

import csv
import io
import json

import pytest

from copyloom.services import reports
from copyloom.services.report_formats import render_report
from copyloom.storage.db import Store
from tests.helpers import make_workspace
from tests.segment_data import DE_LOYAL, GB_NEW, filled_segments


@pytest.fixture
def figures(store: Store) -> reports.ExperimentFigures:
    return reports.experiment_figures(store, filled_segments(store).experiment_id)


def test_json_has_every_segment_figure(figures: reports.ExperimentFigures) -> None:
    segments = json.loads(render_report(figures, "json"))["segments"]

    assert segments["overall_leader"] == "v1"
    assert segments["incremental"] == 18.0
    assert segments["incremental_ci"]["low"] < 18.0 < segments["incremental_ci"]["high"]
    gb, de = segments["segments"]
    assert (gb["segment"], gb["sends"], gb["leader"], gb["winner"], gb["disagrees"]) == (
        GB_NEW, 1000, "v1", "v1", False,
    )  # fmt: skip
    assert (de["leader"], de["disagrees"], de["gain_rate"], de["incremental"]) == (
        "control",
        True,
        0.03,
        18.0,
    )
    control = gb["variants"][0]
    assert (control["sends"], control["clicks"], control["bot_clicks"], control["machine_opens"]) == (
        400, 8, 3, 2,
    )  # fmt: skip
    assert (control["rate"], control["p_best"], control["weight"]) == (0.02, 0.05, 0.1)
    assert "sends x" in segments["definition"]


def test_csv_adds_a_row_per_segment_and_variant_after_the_overall_rows(
    figures: reports.ExperimentFigures,
) -> None:
    rows = list(csv.DictReader(io.StringIO(render_report(figures, "csv"))))

    overall, by_segment = rows[:3], rows[3:]
    assert {r["segment"] for r in overall} == {""}
    assert [(r["segment"], r["variant_id"]) for r in by_segment] == [
        (GB_NEW, "control"),
        (GB_NEW, "v1"),
        (GB_NEW, "v2"),
        (DE_LOYAL, "control"),
        (DE_LOYAL, "v1"),
    ]
    gb_v1 = by_segment[1]
    assert (gb_v1["sends"], gb_v1["clicks"], gb_v1["is_winner"], gb_v1["p_best"], gb_v1["weight"]) == (
        "400", "24", "true", "0.9", "0.8",
    )  # fmt: skip
    assert (
        float(gb_v1["click_rate_low"]) < float(gb_v1["click_rate"]) == 0.06 < float(gb_v1["click_rate_high"])
    )
    assert gb_v1["delivered"] == ""


def test_markdown_has_a_by_segment_section(figures: reports.ExperimentFigures) -> None:
    text = render_report(figures, "md")

    section = text[text.index("## By segment") : text.index("## How these figures are computed")]
    assert "1 of 2 segments lead with another variant than the overall leader, v1." in section
    assert (
        "Incremental clicks from choosing per segment instead of v1 everywhere: +18 (95 % interval" in section
    )
    assert "| country=GB\\|tier=new | 1,000 | v1 | v1 |" in section
    assert "| control ≠ overall | - |" in section
    assert "+3.00 pp, +18 clicks |" in section
    assert "- **by segment**:" in text


def test_without_context_nothing_changes_but_a_null_segments_key(store: Store) -> None:
    workspace = make_workspace(store, "acme")
    figures = reports.experiment_figures(store, workspace.experiment_id)

    assert json.loads(render_report(figures, "json"))["segments"] is None
    assert "segment" not in render_report(figures, "csv").splitlines()[0]
    assert "By segment" not in render_report(figures, "md")
