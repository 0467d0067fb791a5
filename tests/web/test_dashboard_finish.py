"""The dashboard's finish confirmation: what every recipient gets, the leader's figures, and each choice."""

from __future__ import annotations

import re
import time

import pytest

from copyloom.services import dashboard_access
from copyloom.services import experiments as service
from tests.dashboard_data import DashboardSession, fill_experiment, sign_in
from tests.helpers import Api, Workspace, store_allocation

_LEADING_V1 = {"control": 0.001, "v1": 0.998, "v2": 0.001}


@pytest.fixture
def acme(api: Api, workspace: Workspace) -> DashboardSession:
    password = dashboard_access.issue_dashboard_password(workspace.store, "acme", time.time())
    return sign_in(api.client, "acme", password)


def _finish_path(workspace: Workspace) -> str:
    return f"/dashboard/experiments/{workspace.experiment_id}/finish"


def test_the_finish_page_shows_the_leaders_figures_and_offers_every_choice(
    api: Api, acme: DashboardSession, workspace: Workspace
) -> None:
    fill_experiment(api.client, workspace.token, workspace.experiment_id, recipients=60)
    store_allocation(workspace.store, workspace.experiment_id, p_best=_LEADING_V1)
    v1 = next(
        v
        for v in service.experiment_report(workspace.store, workspace.experiment_id).variants
        if v.variant_id == "v1"
    )

    page = acme.get(_finish_path(workspace))

    assert page.status_code == 200
    assert re.findall(r'name="serve" value="([^"]+)"', page.text) == ["leader", "control", "v2"]
    leader = page.text[page.text.index('id="serve-leader"') :].split("</label>")[0]
    assert "The current leader: v1" in leader
    assert "P(best) 99.8" in leader
    assert f"({v1.sends} sends, {v1.clicks} clicks, {v1.opens} opens)" in leader
    assert "no winner has been declared: choose one" in page.text
    assert " checked" not in page.text, "nothing is chosen for the user without a declared winner"


def test_the_declared_winner_is_offered_first_and_chosen(
    acme: DashboardSession, workspace: Workspace
) -> None:
    store_allocation(workspace.store, workspace.experiment_id, p_best=_LEADING_V1, winner="v1")

    page = acme.get(_finish_path(workspace))

    assert re.findall(r'name="serve" value="([^"]+)"', page.text) == ["winner", "control", "v2"]
    assert re.search(r'value="winner" required checked', page.text)


@pytest.mark.parametrize(("serve", "served"), [("leader", "v1"), ("control", "control"), ("v2", "v2")])
def test_each_choice_posted_is_what_the_finished_experiment_serves(
    api: Api, acme: DashboardSession, workspace: Workspace, serve: str, served: str
) -> None:
    store_allocation(workspace.store, workspace.experiment_id, p_best=_LEADING_V1)

    posted = acme.post(_finish_path(workspace), {"csrf_token": acme.csrf_token, "serve": serve})

    assert posted.status_code == 303
    experiment = service.get_experiment(workspace.store, workspace.experiment_id)
    assert (experiment.status, experiment.fixed_variant().variant_id) == ("finished", served)
    body = api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d").json()
    assert body["variant_id"] == served


def test_finishing_without_a_choice_is_refused_and_changes_nothing(
    acme: DashboardSession, workspace: Workspace
) -> None:
    store_allocation(workspace.store, workspace.experiment_id, p_best=_LEADING_V1)

    posted = acme.post(_finish_path(workspace), {"csrf_token": acme.csrf_token})

    assert posted.status_code == 409
    assert "serve: no winner was declared; choose leader (v1: P(best) 99.8 %" in posted.text
    assert service.get_experiment(workspace.store, workspace.experiment_id).status == "live"
