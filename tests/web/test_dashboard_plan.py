"""The send planner on the dashboard, over real HTTP: a draft broadcast's page offers the form, a post
with the session's CSRF token gets the table and the recommendation, and everything else is refused."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest

from copyloom.domain.values import ExperimentId
from copyloom.services import dashboard_access
from copyloom.services import experiments as service
from copyloom.simulation.planner import PlanRequest
from copyloom.storage.db import Store
from copyloom.web import dashboard_plan
from copyloom.web.dashboard_plan import PlanRunner
from tests.dashboard_data import DashboardSession, other_tenant, sign_in
from tests.helpers import Api, Workspace, children_of, make_definition

FORM = {"audience": "20,000", "base_rate": "0.04", "expected_lift": "0.3"}


@pytest.fixture
def acme(api: Api, workspace: Workspace) -> DashboardSession:
    password = dashboard_access.issue_dashboard_password(workspace.store, "acme", time.time())
    return sign_in(api.client, "acme", password)


@pytest.fixture
def draft(store: Store, workspace: Workspace) -> ExperimentId:
    return service.create_experiment(store, "acme", make_definition(name="Spring sale"), time.time())


@pytest.fixture
def one_round(monkeypatch: pytest.MonkeyPatch) -> None:
    """A time limit already passed: the plan stops after its first round of seeds, and the test is quick."""
    monkeypatch.setattr(dashboard_plan, "DASHBOARD_BUDGET_S", 0.0)


def test_a_draft_broadcast_offers_the_planner_and_a_live_one_does_not(
    acme: DashboardSession, draft: ExperimentId, workspace: Workspace
) -> None:
    page = acme.get(f"/dashboard/experiments/{draft}")
    live = acme.get(f"/dashboard/experiments/{workspace.experiment_id}")

    assert 'id="plan-form"' in page.text
    assert f'action="/dashboard/experiments/{draft}/plan"' in page.text
    assert "The 3 wordings come from this experiment" in page.text
    assert 'id="plan-form"' not in live.text


@pytest.mark.usefixtures("one_round")
def test_the_plan_shows_every_duration_its_rate_limit_and_the_recommendation(
    acme: DashboardSession, draft: ExperimentId
) -> None:
    page = acme.post(f"/dashboard/experiments/{draft}/plan", {"csrf_token": acme.csrf_token, **FORM})

    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    durations = re.findall(r'<th scope="row">([^<]+?)(?: <span|</th>)', page.text)
    assert durations == ["no limit", "1 h", "2 h", "3 h", "4 h", "6 h", "8 h", "12 h"]
    assert "334 / min" in page.text, "20,000 over 1 hour, rounded up"
    assert page.text.count("(not offered by Braze)") == 2, "42 and 28 a minute: below Braze's 50"
    assert page.text.count("recommended</span>") == 1
    assert re.search(
        r"is the shortest send expected to earn at least 90%|is expected to earn the most", page.text
    )
    assert "1 simulated sends per duration" in page.text
    assert 'value="20,000"' in page.text, "the form keeps what was typed"


def test_a_plan_without_the_sessions_csrf_token_is_refused(
    acme: DashboardSession, draft: ExperimentId
) -> None:
    missing = acme.post(f"/dashboard/experiments/{draft}/plan", FORM)
    wrong = acme.post(f"/dashboard/experiments/{draft}/plan", {"csrf_token": "forged", **FORM})

    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert 'id="plan-table"' not in missing.text + wrong.text


def test_a_plan_without_a_session_goes_to_sign_in(api: Api, draft: ExperimentId) -> None:
    response = api.client.post(f"/dashboard/experiments/{draft}/plan", data=FORM)

    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/sign-in"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"audience": "999"}, "Audience: expected an integer from 1,000 to 100,000,000, got 999"),
        ({"audience": "lots"}, "Audience: expected a whole number, got &#39;lots&#39;"),
        ({"base_rate": "3"}, "Control click rate: expected a number above 0 and below 0.5, got 3.0"),
        ({"expected_lift": "-1"}, "Expected lift: expected a number above -0.5 and below 5, got -1.0"),
    ],
)
def test_a_value_out_of_range_is_shown_on_the_form(
    acme: DashboardSession, draft: ExperimentId, change: dict[str, str], message: str
) -> None:
    page = acme.post(
        f"/dashboard/experiments/{draft}/plan", {"csrf_token": acme.csrf_token, **FORM, **change}
    )

    assert page.status_code == 400
    assert message in page.text
    assert 'id="plan-table"' not in page.text


def test_only_a_draft_broadcast_of_ones_own_is_planned(
    acme: DashboardSession, store: Store, workspace: Workspace
) -> None:
    triggered = service.create_experiment(store, "acme", make_definition(mode="triggered"), time.time())
    theirs = other_tenant(store, "globex", "Their subject")
    data = {"csrf_token": acme.csrf_token, **FORM}

    assert acme.post(f"/dashboard/experiments/{workspace.experiment_id}/plan", data).status_code == 409
    assert acme.post(f"/dashboard/experiments/{triggered}/plan", data).status_code == 409
    assert acme.post(f"/dashboard/experiments/{theirs.experiment_id}/plan", data).status_code == 404


def test_one_plan_runs_at_a_time_per_process() -> None:
    runner = PlanRunner()

    assert runner.try_enter()
    assert not runner.try_enter(), "a second plan waits for the first"
    runner.leave()
    assert runner.try_enter()


def test_a_plan_runs_in_a_worker_process_of_its_own_which_close_stops() -> None:
    runner = PlanRunner()
    before = children_of(os.getpid())
    request = PlanRequest(audience=1_000, variants=2, base_rate=0.05, seeds=1)

    plan = asyncio.run(runner.run(request))
    workers = {pid for pid in children_of(os.getpid()) - before if not _is_resource_tracker(pid)}
    runner.close()

    assert plan.seeds_run == 1
    assert len(workers) == 1
    deadline = time.monotonic() + 30
    while workers & children_of(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not workers & children_of(os.getpid()), "the worker ended"


def _is_resource_tracker(pid: int) -> bool:
    """multiprocessing's resource tracker, started with the first spawned process of a test process."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
