"""Experiments: lifecycle, tenant isolation and the per-variant report."""

from __future__ import annotations

import pytest

from copyloom.errors import Conflict, InvalidInput, NotFound
from copyloom.services import experiments as service
from copyloom.storage.db import Store
from tests.helpers import make_workspace


def test_a_new_experiment_is_a_draft_with_even_weights(store: Store) -> None:
    workspace = make_workspace(store, "acme", start=False)

    report = service.experiment_report(store, workspace.experiment_id)

    assert report.experiment.status == "draft"
    assert [v.weight for v in report.variants] == pytest.approx([1 / 3] * 3)
    assert [v.sends for v in report.variants] == [0, 0, 0]
    assert report.leader is None


def test_lifecycle_start_pause_resume_finish(store: Store) -> None:
    workspace = make_workspace(store, "acme", start=False)
    experiment_id = workspace.experiment_id

    assert service.change_status(store, experiment_id, "start", 1.0).status == "live"
    assert service.change_status(store, experiment_id, "pause", 2.0).status == "paused"
    assert service.change_status(store, experiment_id, "start", 3.0).status == "live"
    finished = service.change_status(store, experiment_id, "finish", 4.0, winner="v1")
    assert (finished.status, finished.winner) == ("finished", "v1")
    assert finished.fixed_variant().variant_id == "v1"


def test_finished_is_final(store: Store) -> None:
    workspace = make_workspace(store, "acme")
    service.change_status(store, workspace.experiment_id, "finish", 2.0)

    with pytest.raises(Conflict, match="cannot start an experiment that is finished"):
        service.change_status(store, workspace.experiment_id, "start", 3.0)


def test_finishing_without_a_winner_serves_the_control(store: Store) -> None:
    workspace = make_workspace(store, "acme")

    finished = service.change_status(store, workspace.experiment_id, "finish", 2.0)

    assert finished.winner is None
    assert finished.fixed_variant().variant_id == "control"


def test_a_winner_must_be_a_variant(store: Store) -> None:
    workspace = make_workspace(store, "acme")

    with pytest.raises(InvalidInput, match="'v9' is not a variant"):
        service.change_status(store, workspace.experiment_id, "finish", 2.0, winner="v9")


def test_another_tenant_cannot_see_or_change_an_experiment(store: Store) -> None:
    acme = make_workspace(store, "acme")
    globex = make_workspace(store, "globex")

    with pytest.raises(NotFound):
        service.get_experiment(store, acme.experiment_id, tenant_id=globex.tenant.tenant_id)
    with pytest.raises(NotFound):
        service.change_status(store, acme.experiment_id, "pause", 2.0, tenant_id=globex.tenant.tenant_id)
    assert [e.experiment_id for e in service.list_experiments(store, "globex")] == [globex.experiment_id]


def test_allowed_actions_are_the_changes_a_status_can_make() -> None:
    assert service.allowed_actions("draft") == ("start", "finish")
    assert service.allowed_actions("live") == ("pause", "finish")
    assert service.allowed_actions("paused") == ("start", "finish")
    assert service.allowed_actions("finished") == ()


def test_repeating_the_current_status_is_accepted_unless_refused(store: Store) -> None:
    workspace = make_workspace(store, "acme")

    assert service.change_status(store, workspace.experiment_id, "start", 2.0).status == "live"
    with pytest.raises(Conflict, match="cannot start an experiment that is live"):
        service.change_status(store, workspace.experiment_id, "start", 3.0, repeat_ok=False)
