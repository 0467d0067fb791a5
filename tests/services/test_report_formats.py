"""Reports as Markdown, CSV and JSON, from figures built without a database."""

from __future__ import annotations

import csv
import io
import json

import pytest

from copyloom.domain.values import Experiment, ExperimentId, Status, TenantId, VariantId
from copyloom.services.report_formats import figures_as_dict, render_report
from copyloom.services.reports import ExperimentFigures, figures_from
from copyloom.storage.assignments import CohortCount
from copyloom.storage.experiments import StoredAllocation
from tests.helpers import make_definition


def experiment(status: Status = "live", winner: VariantId | None = None, **changes: object) -> Experiment:
    return Experiment(ExperimentId("ex_1"), TenantId("tn_1"), make_definition(**changes), status, winner, 0.0)


def figures(
    exp: Experiment, clicks: dict[str, tuple[int, int]], *, learned: bool = True
) -> ExperimentFigures:
    """One cohort per variant: (sends, clicks), and one learner run favouring the last variant."""
    counts = [CohortCount(v, 600, n, {"click": c, "open": c}) for v, (n, c) in clicks.items()]
    last = list(exp.variant_ids)[-1]
    p_best = {v: 0.9 if v == last else 0.1 / (len(exp.variant_ids) - 1) for v in exp.variant_ids}
    allocation = StoredAllocation(exp.experiment_id, 900.0, p_best, p_best, None, "thompson")
    return figures_from(exp, counts, [allocation] if learned else [], allocation if learned else None)


STANDARD = {"control": (1000, 20), "v1": (1000, 30), "v2": (2000, 160)}


def test_a_live_experiment_names_its_leader_and_no_winner() -> None:
    text = render_report(figures(experiment(), STANDARD), "md")

    assert "No winner yet. Leader: **v2**, P(best) 90.0 %." in text
    assert "**Winner" not in text
    assert "Last learner run: 1970-01-01 00:15 UTC." in text
    assert "- Uplift of v2 over the control: +300.0 % in click rate" in text


def test_a_winner_the_learner_declared_is_named_as_such() -> None:
    exp = experiment()
    counts = [CohortCount(v, 600, n, {"click": c}) for v, (n, c) in STANDARD.items()]
    weights = {"control": 0.0, "v1": 0.0, "v2": 1.0}
    allocation = StoredAllocation(exp.experiment_id, 900.0, weights, weights, "v2", "winner")

    text = render_report(figures_from(exp, counts, [allocation], allocation), "md")

    assert "**Winner: v2**, declared by the learner (the experiment is live)." in text


def test_without_a_learner_run_there_is_no_leader_or_uplift() -> None:
    text = render_report(figures(experiment(), STANDARD, learned=False), "md")

    assert "No winner yet, and the learner has not run." in text
    assert "Uplift" not in text
    assert "Last learner run: never." in text


def test_a_finished_experiment_without_a_winner_says_the_control_is_served() -> None:
    text = render_report(figures(experiment("finished"), STANDARD), "md")

    assert "Finished without a winner: the control is served. Leader: **v2**, P(best) 90.0 %." in text
    assert "- Uplift of v2 over the control: +300.0 %" in text  # what the leader would have earned


def test_when_the_control_wins_there_is_no_uplift_to_report() -> None:
    found = figures(experiment("finished", "control"), STANDARD)

    assert found.uplift is None
    assert "**Winner: control** (the control)." in render_report(found, "md")


def test_an_open_experiment_speaks_of_opens() -> None:
    text = render_report(figures(experiment("finished", "v2", metric="open"), STANDARD), "md")

    assert "optimising the open rate" in text
    assert "- Incremental opens of v2 over the control's rate on its sends: +120" in text


def test_texts_cannot_break_the_markdown_table() -> None:
    variants = [
        {"id": "control", "control": True, "subject": "A | B <b>bold</b>", "preheader": "line\nbreak"},
        {"id": "v_1", "subject": "*stars*", "preheader": "ok"},
    ]
    text = render_report(figures(experiment(variants=variants), {"control": (10, 1), "v_1": (10, 2)}), "md")

    row = next(line for line in text.splitlines() if line.startswith("| control"))
    assert row.count(" | ") == 12  # 13 cells, none split by the text
    assert "A \\| B \\<b\\>bold\\</b\\>" in row
    assert "line break" in row
    assert "| v\\_1 | \\*stars\\* |" in text


def test_an_uplift_over_a_control_without_clicks_is_null_in_json_and_empty_in_csv() -> None:
    found = figures(experiment("finished", "v2"), {"control": (100, 0), "v1": (100, 1), "v2": (100, 5)})

    as_json = json.loads(render_report(found, "json"))
    rows = list(csv.DictReader(io.StringIO(render_report(found, "csv"))))

    assert as_json["uplift"]["relative"] is None
    assert as_json["uplift"]["ci"]["low"] > 0  # the interval comes from the posteriors, which are finite
    assert rows[2]["uplift_vs_control"] == ""
    assert "n/a in click rate" in render_report(found, "md")


def test_json_names_the_experiments_allocation_rules() -> None:
    found = figures(experiment("live", floor=0.02, control_holdout=0.1, min_sends_per_variant=250), STANDARD)

    described = json.loads(render_report(found, "json"))["experiment"]

    assert (described["floor"], described["control_holdout"], described["min_sends_per_variant"]) == (
        0.02,
        0.1,
        250,
    )


def test_json_is_the_figures_dict_and_round_trips() -> None:
    found = figures(experiment("finished", "v2"), STANDARD)

    assert json.loads(render_report(found, "json")) == figures_as_dict(found)
    assert figures_as_dict(found)["definitions"]["incremental_vs_control"] == (
        "clicks - total sends x the control's click rate"
    )


@pytest.mark.parametrize("fmt", ["md", "csv", "json"])
def test_every_format_names_the_winner_uplift_and_incremental_clicks(fmt: str) -> None:
    text = render_report(figures(experiment("finished", "v2"), STANDARD), fmt)  # type: ignore[arg-type]

    assert "v2" in text
    assert ("300.0 %" if fmt == "md" else "3") in text
    assert "120" in text  # v2's incremental clicks over the control's rate


def test_a_cta_click_experiment_reports_the_rate_of_clicks_on_its_cta() -> None:
    exp = experiment("finished", "v2", metric="cta_click", cta_links=["shop-now"])
    counts = [
        CohortCount(v, 600, n, {"click": 2 * c, "open": 3 * c, "cta_click": c})
        for v, (n, c) in STANDARD.items()
    ]
    allocation = StoredAllocation(exp.experiment_id, 900.0, {"v2": 0.9}, {"v2": 0.9}, None, "thompson")

    text = render_report(figures_from(exp, counts, [allocation], allocation), "md")

    assert "- v2: 8.0 % cta_click rate against the control's 2.0 %." in text
