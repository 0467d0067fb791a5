"""`copyloom experiment finish`: what a finished experiment serves, chosen explicitly or refused."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from copyloom.services import experiments as service
from copyloom.storage.db import Store, open_store
from tests.cli.runner import Cli
from tests.helpers import Workspace, make_workspace, store_allocation

_LEADING_V2 = {"control": 0.001, "v1": 0.001, "v2": 0.998}


@pytest.fixture
def acme(cli: Cli, database_url: str) -> Iterator[Workspace]:
    store: Store = open_store(database_url)
    workspace = make_workspace(store, "acme")
    store_allocation(store, workspace.experiment_id, p_best=_LEADING_V2)
    yield workspace
    store.dispose()


def _served(workspace: Workspace) -> str:
    return service.get_experiment(workspace.store, workspace.experiment_id).fixed_variant().variant_id


def test_finish_without_a_winner_or_a_choice_is_refused_and_names_the_choices(
    cli: Cli, acme: Workspace
) -> None:
    ran = cli.run("experiment", "finish", acme.experiment_id, "--json", ok=False)

    assert ran.returncode != 0
    error = json.loads(ran.stdout or ran.stderr)["error"]
    assert error["code"] == "conflict"
    assert error["message"].startswith("serve: no winner was declared; choose leader (v2: P(best) 99.8 %")
    assert "control, or a variant id" in error["message"]
    assert service.get_experiment(acme.store, acme.experiment_id).status == "live"


@pytest.mark.parametrize(("serve", "served"), [("leader", "v2"), ("control", "control"), ("v1", "v1")])
def test_finish_serves_what_is_chosen(cli: Cli, acme: Workspace, serve: str, served: str) -> None:
    finished = cli.json("experiment", "finish", acme.experiment_id, "--serve", serve)

    assert (finished["status"], finished["winner"]) == ("finished", served)
    assert _served(acme) == served


def test_finish_without_a_choice_serves_the_declared_winner(cli: Cli, acme: Workspace) -> None:
    store_allocation(acme.store, acme.experiment_id, p_best=_LEADING_V2, winner="v1")

    assert cli.json("experiment", "finish", acme.experiment_id)["winner"] == "v1"


def test_finish_refuses_an_unknown_choice(cli: Cli, acme: Workspace) -> None:
    ran = cli.run("experiment", "finish", acme.experiment_id, "--serve", "v9", "--json", ok=False)

    error = json.loads(ran.stdout or ran.stderr)["error"]
    assert error == {
        "code": "invalid_input",
        "message": "serve: expected winner, leader, control or one of the variants control, v1, v2, got 'v9'",
    }
