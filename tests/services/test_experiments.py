"""Experiments: lifecycle, tenant isolation and the per-variant report."""

from __future__ import annotations

import pytest

from copyloom.errors import Conflict, InvalidInput, NotFound
from copyloom.services import experiments as service
from copyloom.storage.db import Store
from tests.helpers import make_workspace, store_allocation


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
    finished = service.change_status(store, experiment_id, "finish", 4.0, serve="v1")
    assert (finished.status, finished.winner) == ("finished", "v1")
    assert finished.fixed_variant().variant_id == "v1"


def test_finished_is_final(store: Store) -> None:
    workspace = make_workspace(store, "acme")
    service.change_status(store, workspace.experiment_id, "finish", 2.0, serve="control")

    with pytest.raises(Conflict, match="cannot start an experiment that is finished"):
        service.change_status(store, workspace.experiment_id, "start", 3.0)


def test_finishing_without_a_declared_winner_or_a_choice_is_refused_with_the_leaders_figures(
    store: Store,
) -> None:
    workspace = make_workspace(store, "acme")
    store_allocation(store, workspace.experiment_id, p_best={"control": 0.001, "v1": 0.001, "v2": 0.998})

    with pytest.raises(
        Conflict, match=r"serve: no winner was declared; choose leader \(v2: P\(best\) 99.8 %"
    ):
        service.change_status(store, workspace.experiment_id, "finish", 2.0)

    assert service.get_experiment(store, workspace.experiment_id).status == "live"


def test_finishing_without_a_choice_serves_the_declared_winner(store: Store) -> None:
    workspace = make_workspace(store, "acme")
    store_allocation(
        store, workspace.experiment_id, p_best={"control": 0.0, "v1": 0.99, "v2": 0.01}, winner="v1"
    )

    finished = service.change_status(store, workspace.experiment_id, "finish", 2.0)

    assert (finished.status, finished.fixed_variant().variant_id) == ("finished", "v1")


def test_finishing_with_the_leader_serves_the_highest_p_best(store: Store) -> None:
    workspace = make_workspace(store, "acme")
    store_allocation(store, workspace.experiment_id, p_best={"control": 0.001, "v1": 0.001, "v2": 0.998})

    finished = service.change_status(store, workspace.experiment_id, "finish", 2.0, serve="leader")

    assert (finished.winner, finished.fixed_variant().variant_id) == ("v2", "v2")


def test_finishing_with_the_control_or_a_variant_serves_it(store: Store) -> None:
    for serve, served in (("control", "control"), ("v1", "v1")):
        workspace = make_workspace(store, f"acme-{serve}")
        store_allocation(store, workspace.experiment_id, p_best={"control": 0.0, "v1": 0.0, "v2": 1.0})

        finished = service.change_status(store, workspace.experiment_id, "finish", 2.0, serve=serve)

        assert finished.fixed_variant().variant_id == served


def test_finishing_with_the_leader_before_the_learner_ran_is_refused(store: Store) -> None:
    workspace = make_workspace(store, "acme")

    with pytest.raises(Conflict, match=r"serve: no leader yet"):
        service.change_status(store, workspace.experiment_id, "finish", 2.0, serve="leader")


def test_what_to_serve_must_be_a_choice_or_a_variant(store: Store) -> None:
    workspace = make_workspace(store, "acme")

    with pytest.raises(InvalidInput, match="serve: expected winner, leader, control or one of the variants"):
        service.change_status(store, workspace.experiment_id, "finish", 2.0, serve="v9")


def test_what_to_serve_is_chosen_only_when_finishing(store: Store) -> None:
    workspace = make_workspace(store, "acme")

    with pytest.raises(Conflict, match="serve: what to serve can only be chosen when finishing"):
        service.change_status(store, workspace.experiment_id, "pause", 2.0, serve="v1")


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
