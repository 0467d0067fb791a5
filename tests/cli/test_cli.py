"""The command line, run in process by click's runner against SQLite and PostgreSQL; and the installed
console script, run for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from copyloom import __version__
from copyloom.cli import main
from copyloom.storage.db import Store
from tests.cli.runner import Cli
from tests.helpers import DEFINITION, Api, Workspace, make_workspace
from tests.web.test_events import braze_event

SCRIPT = Path(sys.executable).with_name("copyloom")
BAD_PORT = "error: COPYLOOM_PORT: expected int, got 'abc'\n"


def test_the_whole_lifecycle_through_the_cli(cli: Cli, tmp_path: Path) -> None:
    created = cli.json("tenant", "create", "acme")
    assert set(created) == {"tenant_id", "name", "token", "management_token"}
    definition = tmp_path / "exp.yaml"
    definition.write_text(json.dumps(DEFINITION))

    experiment_id = cli.json("experiment", "create", "--tenant", "acme", str(definition))["experiment_id"]
    assert cli.json("experiment", "start", experiment_id)["status"] == "live"
    shown = cli.json("experiment", "show", experiment_id)
    learned = cli.json("learn", "--once", "--seed", "3")

    assert {k: shown[k] for k in ("experiment_id", "status", "winner")} == {
        "experiment_id": experiment_id,
        "status": "live",
        "winner": None,
    }
    assert [v["variant_id"] for v in shown["variants"]] == ["control", "v1", "v2"]
    assert set(shown["variants"][0]) >= {"variant_id", "sends", "clicks", "opens", "weight", "p_best"}
    assert [o["experiment_id"] for o in learned] == [experiment_id]
    assert cli.json("experiment", "pause", experiment_id)["status"] == "paused"
    finished = cli.json("experiment", "finish", experiment_id, "--winner", "v2")
    assert (finished["status"], finished["winner"]) == ("finished", "v2")


def test_yaml_definitions_are_read(cli: Cli, tmp_path: Path) -> None:
    cli.json("tenant", "create", "acme")
    definition = tmp_path / "exp.yml"
    definition.write_text(
        "name: CTA test\nmode: triggered\nmetric: open\nvariants:\n"
        "  - {id: a, control: true, cta: Shop now}\n  - {id: b, cta: See the collection}\n"
    )

    assert cli.json("experiment", "create", "--tenant", "acme", str(definition))["experiment_id"].startswith(
        "ex_"
    )


def test_a_bad_definition_is_refused_naming_the_field(cli: Cli, tmp_path: Path) -> None:
    cli.json("tenant", "create", "acme")
    bad = dict(DEFINITION, variants=[dict(v, control=False) for v in DEFINITION["variants"]])  # type: ignore[call-overload]
    definition = tmp_path / "bad.json"
    definition.write_text(json.dumps(bad))

    result = cli.run("experiment", "create", "--tenant", "acme", str(definition), "--json", ok=False)

    assert result.returncode == 1
    assert json.loads(result.stderr) == {
        "error": {
            "code": "invalid_input",
            "message": "variants: exactly one variant needs control: true (found none)",
        }
    }


def test_commands_refuse_an_uninitialised_database(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'empty.db'}")

    result = cli.run("tenant", "list", ok=False)

    assert result.returncode == 1
    assert "run `copyloom init`" in result.stderr


def test_the_optimisation_benchmark_runs_with_either_feedback(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'unused.db'}")  # the benchmark touches no store

    result = cli.json(
        "bench", "optimize", "--quick", "--seeds", "1", "--scenario", "2 variants", "--policy", "thompson",
        "--feedback", "instant",
    )  # fmt: skip
    refused = cli.run("bench", "optimize", "--feedback", "late", ok=False)

    assert result["feedback"] == "instant"
    assert [s["name"] for s in result["scenarios"]] == ["broadcast 2 variants (+10 %)"]
    assert list(result["scenarios"][0]["policies"]) == ["thompson"]
    assert refused.returncode == 2
    assert "'late' is not one of 'delayed', 'instant'" in refused.stderr


def test_the_optimisation_benchmark_takes_the_oracle_as_a_policy(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'unused.db'}")

    result = cli.json(
        "bench", "optimize", "--quick", "--seeds", "1", "--scenario", "2 variants", "--policy", "oracle"
    )  # fmt: skip

    assert list(result["scenarios"][0]["policies"]) == ["oracle"]
    assert result["scenarios"][0]["policies"]["oracle"]["gain_mean"] is not None


def test_ingest_status_lists_the_unattributed_events_per_campaign_or_step(
    api: Api, workspace: Workspace, database_url: str
) -> None:
    api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d-1")
    events = [
        braze_event("Click", "u-1", "d-1"),  # served: attributed, so not listed
        braze_event("Click", "stranger-1", "d-9", campaign_id="other-campaign"),
        braze_event("Click", "stranger-2", "d-9", campaign_id="other-campaign"),
        braze_event("Open", "stranger-1", "d-9", campaign_id="other-campaign"),
        braze_event("Click", "stranger-3", "d-8", campaign_id="canvas-campaign", canvas_step_id="step-9"),
    ]
    assert api.events(workspace.token, {"events": events}).json()["unattributed"] == 4
    cli = Cli(database_url)

    status = cli.json("ingest", "status", "--tenant", "acme")
    text = cli.run("ingest", "status", "--tenant", "acme").stdout

    assert status["unattributed_by_source"] == [
        {"source_id": "other-campaign", "kind": "Click", "events": 2},
        {"source_id": "other-campaign", "kind": "Open", "events": 1},
        {"source_id": "step-9", "kind": "Click", "events": 1},
    ]
    assert text.endswith(
        "unattributed events by campaign or Canvas step:\n"
        "  other-campaign\tClick\t2\n  other-campaign\tOpen\t1\n  step-9\tClick\t1\n"
    )


def _leaf_commands(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(command, click.Group):
        return [path]
    return [leaf for name, sub in command.commands.items() for leaf in _leaf_commands(sub, (*path, name))]


def _required_arguments(path: tuple[str, ...], tmp_path: Path) -> list[str]:
    """Values for the command's required parameters, so that it gets as far as reading its settings."""
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    values = []
    for param in command.params:
        if isinstance(param, click.Argument):
            if isinstance(param.type, click.Choice):
                values.append(str(param.type.choices[0]))
            elif isinstance(param.type, click.Path):
                (tmp_path / "exists.yaml").write_text("{}")
                values.append(str(tmp_path / "exists.yaml"))
            else:
                values.append("x")
        elif param.required:  # a number where one is asked for, so that the parse gets past it
            number = {click.INT: "2", click.FLOAT: "0.1"}.get(param.type, "x")
            values += [param.opts[0], number]
    return values


@pytest.mark.parametrize("path", _leaf_commands(main), ids=" ".join)
def test_every_command_states_a_bad_setting_in_one_line(path: tuple[str, ...], tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'unused.db'}", COPYLOOM_PORT="abc")

    result = cli.run(*path, *_required_arguments(path, tmp_path), ok=False)

    assert (result.returncode, result.stderr) == (1, BAD_PORT)


def test_a_bad_setting_is_a_json_error_with_json(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'unused.db'}", COPYLOOM_LEARN_INTERVAL_S="soon")

    result = cli.run("tenant", "list", "--json", ok=False)

    assert result.returncode == 1
    assert json.loads(result.stderr) == {
        "error": {"code": "invalid_input", "message": "COPYLOOM_LEARN_INTERVAL_S: expected float, got 'soon'"}
    }


def test_help_needs_no_valid_setting(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'unused.db'}", COPYLOOM_PORT="abc")

    assert "Usage: copyloom tenant list" in cli.run("tenant", "list", "--help").stdout


def _script(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, run for real."""
    env = {**os.environ, "COPYLOOM_LOG_LEVEL": "WARNING", **environ}
    return subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.integration
def test_the_installed_script_shows_help_and_version() -> None:
    helped = _script("--help")
    version = _script("--version")

    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("Usage: copyloom [OPTIONS] COMMAND [ARGS]...")
    assert "  tenant " in helped.stdout
    assert version.stdout == f"copyloom, version {__version__}\n"


@pytest.mark.slow
@pytest.mark.integration
def test_the_installed_script_runs_a_command_on_a_sqlite_file(tmp_path: Path) -> None:
    database = {"COPYLOOM_DATABASE_URL": f"sqlite:///{tmp_path / 'copyloom.db'}"}

    initialised = _script("init", "--json", **database)
    created = _script("tenant", "create", "acme", "--json", **database)
    listed = _script("tenant", "list", **database)

    assert initialised.returncode == 0, initialised.stderr
    assert json.loads(created.stdout)["name"] == "acme"
    assert listed.stdout.startswith("acme\ttn_")


@pytest.mark.integration
def test_the_installed_script_states_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = _script("tenant", "list", COPYLOOM_PORT="abc", COPYLOOM_DATABASE_URL=f"sqlite:///{tmp_path}/x")

    assert (result.returncode, result.stderr) == (1, BAD_PORT)


def test_the_bot_click_rule_defaults_to_flag_or_reason_and_can_be_set(cli: Cli) -> None:
    cli.json("tenant", "create", "acme")
    before = cli.json("tenant", "list")
    changed = cli.json("tenant", "set-bot-clicks", "acme", "flag")
    refused = cli.run("tenant", "set-bot-clicks", "acme", "never", ok=False)

    assert before[0]["bot_clicks"] == "flag_or_reason"
    assert changed == {"name": "acme", "bot_clicks": "flag"}
    assert cli.json("tenant", "list")[0]["bot_clicks"] == "flag"
    assert refused.returncode == 2
    assert "'never' is not one of 'flag', 'flag_or_reason'" in refused.stderr


def test_experiment_show_breaks_sends_and_clicks_down_per_campaign(
    api: Api, store: Store, database_url: str
) -> None:
    workspace = make_workspace(store, "acme", campaign_ids=["camp-a"])
    api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d-1", source="camp-a")
    api.content(workspace.token, workspace.experiment_id, recipient="u-2", dispatch="d-2", source="camp-b")
    events = [
        braze_event("Click", "u-1", "d-1", campaign_id="camp-a"),
        braze_event("Open", "u-1", "d-1", campaign_id="camp-c"),
    ]
    api.events(workspace.token, {"events": events})

    shown = Cli(database_url).json("experiment", "show", workspace.experiment_id)

    assert shown["campaign_ids"] == ["camp-a"]
    assert [(s["source_id"], s["named_as"], s["sends"], s["clicks"]) for s in shown["sources"]] == [
        ("camp-a", "campaign", 1, 1)
    ]
    assert shown["other_source_events"] == [{"source_id": "camp-c", "events": {"open": 1}}]
    text = Cli(database_url).run("experiment", "show", workspace.experiment_id).stdout
    assert "camp-a" in text
    assert "not attributed, from camp-c: 1 event" in text
