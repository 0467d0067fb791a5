"""The real command line, run as a subprocess against SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DEFINITION


class Cli:
    def __init__(self, database_url: str) -> None:
        self.env = {**os.environ, "COPYLOOM_DATABASE_URL": database_url, "COPYLOOM_LOG_LEVEL": "WARNING"}

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "copyloom", *args],
            env=self.env,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)


@pytest.fixture
def cli(database_url: str) -> Cli:
    cli = Cli(database_url)
    cli.run("init")
    return cli


def test_the_whole_lifecycle_through_the_cli(cli: Cli, tmp_path: Path) -> None:
    created = cli.json("tenant", "create", "acme")
    assert set(created) == {"tenant_id", "name", "token"}
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


def test_token_rotation_and_revocation(cli: Cli) -> None:
    first = cli.json("tenant", "create", "acme")["token"]
    rotated = cli.json("tenant", "rotate-token", "acme")["token"]
    revoked = cli.json("tenant", "revoke", "acme")

    assert rotated != first
    assert revoked == {"name": "acme", "revoked": 1}


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
