"""`copyloom report` and `copyloom tenant dashboard-password`, through the command line (in process)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from copyloom.errors import Unauthorized
from copyloom.services import dashboard_access
from copyloom.storage.db import Store, open_store
from tests.cli.runner import Cli
from tests.helpers import Workspace, make_workspace
from tests.report_data import SECOND_SEND_AT, STANDARD, fill, learn


@pytest.fixture
def cli_store(cli: Cli, database_url: str) -> Iterator[Store]:
    store = open_store(database_url)
    yield store
    store.dispose()


@pytest.fixture
def finished(cli: Cli, cli_store: Store) -> Workspace:
    """A filled experiment, learned once, finished through the CLI with v2 as the winner."""
    workspace = make_workspace(cli_store, "acme")
    fill(workspace, STANDARD)
    learn(workspace, SECOND_SEND_AT + 3600)
    cli.run("experiment", "finish", workspace.experiment_id, "--serve", "v2")
    return workspace


def test_csv_report_has_a_row_per_variant_with_every_figure(cli: Cli, finished: Workspace) -> None:
    text = cli.run("report", finished.experiment_id, "--format", "csv").stdout

    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["variant_id"] for r in rows] == ["control", "v1", "v2"]
    control, _, v2 = rows
    assert (control["is_control"], v2["is_winner"], control["is_winner"]) == ("true", "true", "false")
    assert (v2["sends"], v2["clicks"], v2["opens"], v2["bounced"]) == ("2000", "160", "800", "4")
    assert (control["bot_clicks"], control["machine_opens"], control["delivered"]) == ("5", "40", "990")
    assert float(v2["click_rate"]) == pytest.approx(0.08)
    assert float(v2["click_rate_low"]) < 0.08 < float(v2["click_rate_high"])
    assert v2["text_subject"] == "Your Black Friday early access"
    assert float(v2["uplift_vs_control"]) == pytest.approx(3.0)
    assert float(v2["uplift_low"]) < 3.0 < float(v2["uplift_high"])
    assert float(v2["incremental_vs_control"]) == pytest.approx(120)
    assert control["uplift_vs_control"] == ""


def test_markdown_report_states_the_decision(cli: Cli, finished: Workspace) -> None:
    text = cli.run("report", finished.experiment_id, "--format", "md").stdout

    assert text.startswith("# Black Friday subject\n")
    assert "**Winner: v2**." in text
    assert "- Uplift of v2 over the control: +300.0 % in click rate (95 % interval +" in text
    assert "- Incremental clicks of v2 over the control's rate on its sends: +120 (95 % interval" in text
    assert "against sending only the control: +130 (95 % interval" in text
    assert "against an even split: +37 (95 % interval" in text
    assert "| v2 ★ winner | Your Black Friday early access | Members first | 2,000 |" in text
    assert "| 8.0 % (" in text


def test_json_report_carries_every_figure(cli: Cli, finished: Workspace, tmp_path: Path) -> None:
    output = tmp_path / "report.json"

    result = cli.run("report", finished.experiment_id, "--format", "json", "--output", str(output))

    assert result.stdout == ""
    figures = json.loads(output.read_text(encoding="utf-8"))
    assert figures["winner"] == "v2"
    assert figures["experiment"]["status"] == "finished"
    assert figures["uplift"]["variant_id"] == "v2"
    assert figures["uplift"]["relative"] == pytest.approx(3.0)
    assert figures["incremental_vs_control"] == pytest.approx(130)
    assert [v["sends"] for v in figures["variants"]] == [1000, 1000, 2000]
    assert {p["variant_id"] for p in figures["cumulative"]} == {"control", "v1", "v2"}
    assert len(figures["history"]) == 2
    assert len(figures["gains"]) == 2


def test_report_only_finds_the_named_tenants_experiment(cli: Cli, finished: Workspace) -> None:
    cli.run("tenant", "create", "globex")

    ok = cli.run("report", finished.experiment_id, "--tenant", "acme")
    refused = cli.run("report", finished.experiment_id, "--tenant", "globex", ok=False)

    assert ok.stdout.startswith("# Black Friday subject")
    assert refused.returncode == 1
    assert refused.stderr == f"error: experiment: no experiment '{finished.experiment_id}'\n"


def test_dashboard_password_is_shown_once_and_rotating_it_signs_out(cli: Cli, cli_store: Store) -> None:
    cli.run("tenant", "create", "acme")
    first = cli.json("tenant", "dashboard-password", "acme")
    token, _ = dashboard_access.sign_in(cli_store, "acme", first["password"], 100.0, 3600.0)

    second = cli.run("tenant", "dashboard-password", "acme").stdout

    assert first["name"] == "acme"
    assert first["password"] not in second
    new_password = second.rsplit(": ", 1)[1].strip()
    assert dashboard_access.sign_in(cli_store, "acme", new_password, 200.0, 3600.0)[1].tenant_name == "acme"
    with pytest.raises(Unauthorized):
        dashboard_access.session_for(cli_store, token, 200.0)
    with pytest.raises(Unauthorized):
        dashboard_access.sign_in(cli_store, "acme", first["password"], 200.0, 3600.0)
