"""`copyloom experiment add-variant` and `retire-variant`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.runner import Cli
from tests.helpers import DEFINITION


def live_experiment(cli: Cli, tmp_path: Path) -> str:
    cli.json("tenant", "create", "acme")
    definition = tmp_path / "exp.json"
    definition.write_text(json.dumps({**DEFINITION, "mode": "triggered"}))
    experiment_id: str = cli.json("experiment", "create", "--tenant", "acme", str(definition))[
        "experiment_id"
    ]
    cli.json("experiment", "start", experiment_id)
    return experiment_id


def test_a_variant_is_added_from_a_yaml_file_and_retired_by_its_id(cli: Cli, tmp_path: Path) -> None:
    experiment_id = live_experiment(cli, tmp_path)
    variant = tmp_path / "v3.yaml"
    variant.write_text("id: v3\nsubject: Black Friday starts now\npreheader: Everything 30% off\n")

    added = cli.json("experiment", "add-variant", experiment_id, str(variant))
    retired = cli.json("experiment", "retire-variant", experiment_id, "v1")
    shown = cli.json("experiment", "show", experiment_id)

    assert [(v["variant_id"], v["status"]) for v in added["variants"]] == [
        ("control", "live"),
        ("v1", "live"),
        ("v2", "live"),
        ("v3", "live"),
    ]
    assert added["variants"][3]["added_at"] is not None
    assert [v["status"] for v in retired["variants"]] == ["live", "retired", "live", "live"]
    by_id = {v["variant_id"]: v for v in shown["variants"]}
    assert (by_id["v1"]["status"], by_id["v1"]["retired_by"], by_id["v1"]["weight"]) == (
        "retired",
        "manual",
        0,
    )
    assert by_id["v3"]["weight"] > 0
    assert "v1 (retired)" in cli.run("experiment", "show", experiment_id).stdout


def test_refusals_name_the_field_and_change_nothing(cli: Cli, tmp_path: Path) -> None:
    experiment_id = live_experiment(cli, tmp_path)
    variant = tmp_path / "v3.yaml"
    variant.write_text("id: v3\nsubject: Only a subject\n")

    bad_file = cli.run("experiment", "add-variant", experiment_id, str(variant), ok=False)
    control = cli.run("experiment", "retire-variant", experiment_id, "control", ok=False)

    assert bad_file.returncode == 1
    assert (
        "variant: placements ['subject'] differ from the experiment's ['preheader', 'subject']"
        in bad_file.stderr
    )
    assert control.returncode == 1
    assert "variant_id: 'control' is the control, which is never retired" in control.stderr
    assert len(cli.json("experiment", "show", experiment_id)["variants"]) == 3
