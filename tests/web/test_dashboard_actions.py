"""The dashboard offers and accepts exactly the status changes the experiments service allows."""

from __future__ import annotations

import re
import time

import pytest

from copyloom.domain.values import STATUSES, ExperimentId, Status
from copyloom.services import dashboard_access
from copyloom.services import experiments as service
from copyloom.services.report_formats import REPORT_FORMATS
from copyloom.storage.db import Store
from copyloom.web import dashboard
from tests.dashboard_data import DashboardSession, sign_in
from tests.helpers import Api, Workspace, make_definition

_INTO: dict[Status, tuple[service.Action, ...]] = {
    "draft": (),
    "live": ("start",),
    "paused": ("start", "pause"),
    "finished": ("finish",),
}
"""A way to bring a new draft into each status, through the service."""


def _serve(action: service.Action) -> str | None:
    return "control" if action == "finish" else None


def _experiment_in(store: Store, status: Status) -> ExperimentId:
    experiment_id = service.create_experiment(store, "acme", make_definition(), time.time())
    for action in _INTO[status]:
        service.change_status(store, experiment_id, action, time.time(), serve=_serve(action))
    assert service.get_experiment(store, experiment_id).status == status
    return experiment_id


@pytest.fixture
def acme(api: Api, workspace: Workspace) -> DashboardSession:
    password = dashboard_access.issue_dashboard_password(workspace.store, "acme", time.time())
    return sign_in(api.client, "acme", password)


def test_every_status_can_be_reached_for_the_checks_below() -> None:
    assert set(_INTO) == set(STATUSES)


@pytest.mark.parametrize("status", STATUSES)
def test_the_page_offers_exactly_the_services_allowed_actions(
    acme: DashboardSession, store: Store, status: Status
) -> None:
    experiment_id = _experiment_in(store, status)

    page = acme.get(f"/dashboard/experiments/{experiment_id}")

    assert page.status_code == 200
    offered = tuple(re.findall(r'id="action-([a-z]+)"', page.text))
    assert offered == service.allowed_actions(status)


@pytest.mark.parametrize("status", STATUSES)
def test_the_confirm_step_and_the_post_accept_exactly_the_allowed_actions(
    acme: DashboardSession, store: Store, status: Status
) -> None:
    for action in service.ACTIONS:
        experiment_id = _experiment_in(store, status)
        path = f"/dashboard/experiments/{experiment_id}/{action}"
        allowed = action in service.allowed_actions(status)

        confirm = acme.get(path)
        posted = acme.post(
            path, {"csrf_token": acme.csrf_token, **({"serve": "control"} if _serve(action) else {})}
        )

        after = service.get_experiment(store, experiment_id).status
        if allowed:
            assert (confirm.status_code, posted.status_code) == (200, 303), action
            assert after != status, action
        else:
            assert (confirm.status_code, posted.status_code) == (409, 409), action
            assert f"cannot {action} an experiment that is {status}" in posted.text
            assert after == status, action


def test_every_action_and_report_format_has_its_dashboard_text() -> None:
    assert set(dashboard._ACTION_EFFECT) == set(service.ACTIONS)
    assert tuple(dashboard._REPORT_TYPES) == REPORT_FORMATS


def test_the_page_links_every_report_format(acme: DashboardSession, workspace: Workspace) -> None:
    page = acme.get(f"/dashboard/experiments/{workspace.experiment_id}").text

    linked = re.findall(rf"/dashboard/experiments/{workspace.experiment_id}/report\.([a-z]+)", page)
    assert tuple(linked) == REPORT_FORMATS
