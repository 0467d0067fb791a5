"""The dashboard over real HTTP (httpx against a real server): sign-in, sessions, CSRF, tenants apart,
report downloads and the live JSON endpoint."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from copyloom.services import dashboard_access, reports
from copyloom.services.experiments import get_experiment
from copyloom.services.learning import learn_once
from copyloom.services.report_formats import figures_as_dict, render_report
from copyloom.storage.db import Store
from copyloom.web.dashboard_security import SESSION_COOKIE
from tests.dashboard_data import (
    DashboardSession,
    cookie_value,
    fill_experiment,
    other_tenant,
    sign_in,
    sign_in_response,
)
from tests.helpers import Api, Workspace, make_workspace


@pytest.fixture
def acme(api: Api, workspace: Workspace) -> DashboardSession:
    password = dashboard_access.issue_dashboard_password(workspace.store, "acme", time.time())
    fill_experiment(api.client, workspace.token, workspace.experiment_id, recipients=40)
    learn_once(workspace.store, time.time(), np.random.default_rng(3), 2000)
    return sign_in(api.client, "acme", password)


@pytest.fixture
def globex(store: Store) -> Workspace:
    return other_tenant(store, "globex", "Globex welcome")


def test_pages_redirect_to_sign_in_without_a_session(api: Api, workspace: Workspace) -> None:
    for path in ("/dashboard/", f"/dashboard/experiments/{workspace.experiment_id}"):
        response = api.client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/sign-in"


def test_live_json_without_a_session_is_401_in_the_error_shape(api: Api, workspace: Workspace) -> None:
    response = api.client.get(f"/dashboard/experiments/{workspace.experiment_id}/live.json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_an_unknown_or_expired_session_cookie_is_no_session(api: Api, workspace: Workspace) -> None:
    response = api.client.get("/dashboard/", headers={"Cookie": f"{SESSION_COOKIE}=made-up"})

    assert response.status_code == 303


def test_sign_in_sets_a_secure_http_only_lax_session_cookie(api: Api, store: Store) -> None:
    make_workspace(store, "acme")
    password = dashboard_access.issue_dashboard_password(store, "acme", time.time())

    response = sign_in_response(api.client, "acme", password)

    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/"
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"secure", "httponly", "path", "max-age"} <= attributes
    assert "samesite=lax" in header.lower()
    assert "path=/dashboard" in header.lower()


def test_wrong_password_shows_the_form_again_without_a_session(api: Api, store: Store) -> None:
    make_workspace(store, "acme")
    dashboard_access.issue_dashboard_password(store, "acme", time.time())

    response = sign_in_response(api.client, "acme", "not-the-password")

    assert response.status_code == 401
    assert "Wrong tenant name or password." in response.text
    assert cookie_value(response, SESSION_COOKIE) is None


@pytest.mark.parametrize(
    ("tenant", "password", "message"),
    [
        ("ac\x00me", "whatever", "tenant: control character U+0000 is not allowed at character 3"),
        ("acme", "p\x1bw", "password: control character U+001B is not allowed at character 2"),
        ("a" * 101, "whatever", "tenant: longer than 100 characters"),
    ],
)
def test_sign_in_fields_pass_the_one_rule_for_text(
    api: Api, store: Store, tenant: str, password: str, message: str
) -> None:
    make_workspace(store, "acme")

    response = sign_in_response(api.client, tenant, password)

    assert response.status_code == 400
    assert message in response.text
    assert cookie_value(response, SESSION_COOKIE) is None


def test_unknown_tenant_gets_the_same_answer_as_a_wrong_password(api: Api, store: Store) -> None:
    response = sign_in_response(api.client, "nobody", "whatever")

    assert response.status_code == 401
    assert "Wrong tenant name or password." in response.text


def test_sign_in_without_its_csrf_cookie_is_forbidden(api: Api, store: Store) -> None:
    make_workspace(store, "acme")
    password = dashboard_access.issue_dashboard_password(store, "acme", time.time())

    response = api.client.post(
        "/dashboard/sign-in", data={"tenant": "acme", "password": password, "csrf_token": "x"}
    )

    assert response.status_code == 403


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_status_change_without_the_right_csrf_token_is_forbidden(
    acme: DashboardSession, workspace: Workspace, token: str | None
) -> None:
    data = {} if token is None else {"csrf_token": token}

    response = acme.post(f"/dashboard/experiments/{workspace.experiment_id}/pause", data)

    assert response.status_code == 403
    assert get_experiment(workspace.store, workspace.experiment_id).status == "live"


def test_sign_out_without_the_csrf_token_is_forbidden(acme: DashboardSession) -> None:
    assert acme.post("/dashboard/sign-out", {}).status_code == 403
    assert acme.get("/dashboard/").status_code == 200


def test_pause_after_the_confirm_step_changes_the_status(
    acme: DashboardSession, workspace: Workspace
) -> None:
    confirm = acme.get(f"/dashboard/experiments/{workspace.experiment_id}/pause")
    assert confirm.status_code == 200
    assert "Pause experiment" in confirm.text

    response = acme.post(
        f"/dashboard/experiments/{workspace.experiment_id}/pause", {"csrf_token": acme.csrf_token}
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/experiments/{workspace.experiment_id}"
    assert get_experiment(workspace.store, workspace.experiment_id).status == "paused"


def test_a_status_change_not_allowed_is_409(acme: DashboardSession, workspace: Workspace) -> None:
    finish = f"/dashboard/experiments/{workspace.experiment_id}/finish"
    assert acme.post(finish, {"csrf_token": acme.csrf_token, "serve": "control"}).status_code == 303

    response = acme.post(
        f"/dashboard/experiments/{workspace.experiment_id}/pause", {"csrf_token": acme.csrf_token}
    )

    assert response.status_code == 409
    assert "cannot pause an experiment that is finished" in response.text


def test_another_tenants_experiment_is_404_like_an_unknown_one(
    acme: DashboardSession, globex: Workspace
) -> None:
    theirs = f"/dashboard/experiments/{globex.experiment_id}"
    unknown = "/dashboard/experiments/ex_0000000000000000"
    for suffix in ("", "/live.json", "/report.md", "/pause"):
        assert acme.get(theirs + suffix).status_code == 404, suffix
        assert acme.get(unknown + suffix).status_code == 404, suffix

    response = acme.post(theirs + "/pause", {"csrf_token": acme.csrf_token})

    assert response.status_code == 404
    assert get_experiment(globex.store, globex.experiment_id).status == "live"
    listing = acme.get("/dashboard/").text
    assert "Globex welcome" not in listing
    assert globex.experiment_id not in listing


def test_list_shows_the_tenants_experiments_with_headline_figures(
    acme: DashboardSession, workspace: Workspace
) -> None:
    summary = reports.experiment_summaries(workspace.store, workspace.tenant.tenant_id)[0]

    page = acme.get("/dashboard/").text

    assert "Black Friday subject" in page
    assert f'data-experiment="{workspace.experiment_id}"' in page
    assert f">{summary.sends:,}<" in page
    assert summary.leader is not None
    # 40 recipients: too little evidence for a leader to be named (reports.is_clear_leader).
    assert not summary.is_leader_clear
    assert f"<td>{summary.leader}</td>" not in page


def test_the_site_root_redirects_to_the_dashboard(api: Api) -> None:
    response = api.client.get("/")

    assert response.status_code == 307
    assert response.headers["location"] == "/dashboard/"


def test_no_leader_badge_on_a_few_clicks(acme: DashboardSession, workspace: Workspace) -> None:
    figures = reports.experiment_figures(workspace.store, workspace.experiment_id)

    page = acme.get(f"/dashboard/experiments/{workspace.experiment_id}").text

    assert figures.leader is not None
    assert not figures.is_leader_clear
    assert 'class="badge leader"' not in page
    assert "a leader needs P(best) 60.0 % and 10 clicks" in page


def test_experiment_page_shows_texts_figures_charts_and_snippet(
    acme: DashboardSession, workspace: Workspace
) -> None:
    page = acme.get(f"/dashboard/experiments/{workspace.experiment_id}").text

    assert "Black Friday: 30% off everything" in page
    assert 'class="badge control">control<' in page
    for chart in ("chart-weights", "chart-rates", "chart-p-best", "chart-gains"):
        assert f'id="{chart}"' in page
    assert "connected_content" in page
    assert 'data-copy="snippet-0"' in page


def test_experiment_page_has_a_copy_button_per_snippet_entry_and_none_for_all(
    acme: DashboardSession, workspace: Workspace
) -> None:
    page = acme.get(f"/dashboard/experiments/{workspace.experiment_id}").text

    fields = ["subject", "preheader", "html body: open pixel", "amp body: open pixel"]
    for i, field in enumerate(fields):
        assert f'<h3 id="snippet-label-{i}">{field}</h3>' in page
        assert f'data-copy="snippet-{i}" id="copy-snippet-{i}"' in page
    assert page.count("data-copy=") == len(fields)
    assert 'id="copy-snippet"' not in page
    assert "Warning: public base URL" not in page  # https://cl.example.test is fine


def test_experiment_page_states_the_allocation_rules(
    api: Api, acme: DashboardSession, workspace: Workspace, store: Store
) -> None:
    held = make_workspace(store, "initech", floor=0.02, control_holdout=0.1, min_sends_per_variant=300)
    initech = sign_in(
        api.client, "initech", dashboard_access.issue_dashboard_password(store, "initech", time.time())
    )

    default = acme.get(f"/dashboard/experiments/{workspace.experiment_id}").text
    chosen = initech.get(f"/dashboard/experiments/{held.experiment_id}").text

    assert "floor 1 % per variant · even split until 100 sends each" in default
    assert "control holdout" not in default
    assert "floor 2 % per variant · control holdout 10 % · even split until 300 sends each" in chosen


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("md", "text/markdown"), ("csv", "text/csv"), ("json", "application/json")],
)
def test_report_downloads_in_each_format(
    acme: DashboardSession, workspace: Workspace, fmt: str, media_type: str
) -> None:
    response = acme.get(f"/dashboard/experiments/{workspace.experiment_id}/report.{fmt}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    expected_name = f"{workspace.experiment_id}-report.{fmt}"
    assert response.headers["content-disposition"] == f'attachment; filename="{expected_name}"'
    figures = reports.experiment_figures(workspace.store, workspace.experiment_id, now=time.time())
    expected = render_report(figures, fmt)  # type: ignore[arg-type]
    if fmt != "json":
        assert response.text == expected
        return
    got, wanted = json.loads(response.text), json.loads(expected)
    for found in (got, wanted):  # the mature cut-off moves with the clock
        found["adjusted"]["mature"].pop("sent_before")
    assert got == wanted


def test_report_in_an_unknown_format_is_400(acme: DashboardSession, workspace: Workspace) -> None:
    response = acme.get(f"/dashboard/experiments/{workspace.experiment_id}/report.pdf")

    assert response.status_code == 400
    assert "expected one of md, csv, json" in response.text


def test_live_json_has_the_figures_and_the_fragment(
    api: Api, acme: DashboardSession, workspace: Workspace
) -> None:
    url = f"/dashboard/experiments/{workspace.experiment_id}/live.json"
    before = acme.get(url).json()

    fill_experiment(api.client, workspace.token, workspace.experiment_id, recipients=10, start=1000)
    after = acme.get(url)

    assert after.status_code == 200
    assert after.headers["cache-control"] == "no-store"
    body = after.json()
    assert body["status"] == "live"
    figures = reports.experiment_figures(workspace.store, workspace.experiment_id, now=time.time())
    expected = json.loads(json.dumps(figures_as_dict(figures)))
    for found in (body["figures"], expected):  # the mature cut-off moves with the clock
        found["adjusted"]["mature"].pop("sent_before")
    assert body["figures"] == expected
    sends = sum(v.sends for v in figures.variants)
    assert sends == 50
    assert sum(v["sends"] for v in before["figures"]["variants"]) == 40
    assert 'id="variant-figures"' in body["html"]
    assert "<html" not in body["html"]


def test_pages_carry_security_headers(api: Api, acme: DashboardSession, workspace: Workspace) -> None:
    for response in (
        api.client.get("/dashboard/sign-in"),
        acme.get("/dashboard/"),
        acme.get(f"/dashboard/experiments/{workspace.experiment_id}"),
    ):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert "<script>" not in response.text
        assert " on" + "click=" not in response.text


def test_sign_out_ends_the_session_on_the_server(acme: DashboardSession) -> None:
    response = acme.post("/dashboard/sign-out", {"csrf_token": acme.csrf_token})

    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/sign-in"
    assert acme.get("/dashboard/").status_code == 303  # the old cookie no longer works


def test_static_files_come_from_the_package(api: Api) -> None:
    script = api.client.get("/dashboard/static/dashboard.js")
    style = api.client.get("/dashboard/static/dashboard.css")

    assert script.status_code == 200
    assert "startLiveRefresh" in script.text
    assert style.status_code == 200
    assert "svg.chart" in style.text
