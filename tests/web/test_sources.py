"""Experiments know where they run: the campaigns and Canvas steps a definition names decide which content
calls are assigned and which events are attributed; the rest is counted apart, per campaign or step."""

from __future__ import annotations

import time

import sqlalchemy as sa

from copyloom.services import dashboard_access
from copyloom.services.experiments import experiment_report
from copyloom.storage.db import Store
from copyloom.storage.tables import assignments
from tests.dashboard_data import sign_in
from tests.helpers import METRICS_HEADERS, Api, Workspace, make_workspace
from tests.web.test_events import braze_event


def named_workspace(store: Store, name: str = "acme") -> Workspace:
    return make_workspace(store, name, campaign_ids=["camp-a"], canvas_step_ids=["step-s"])


def serve(api: Api, workspace: Workspace, user: str, dispatch: str, source: str | None) -> dict[str, str]:
    params = {"recipient": user, "dispatch": dispatch} | ({"source": source} if source is not None else {})
    response = api.content(workspace.token, workspace.experiment_id, **params)
    assert response.status_code == 200
    return dict(response.json())


def stored_sources(workspace: Workspace) -> list[tuple[str, str]]:
    query = sa.select(assignments.c.dispatch_id, assignments.c.source_id).where(
        assignments.c.experiment_id == workspace.experiment_id
    )
    with workspace.store.read() as conn:
        return sorted((str(d), str(s)) for d, s in conn.execute(query))


def test_calls_from_named_campaigns_and_steps_are_assigned_with_their_source(api: Api, store: Store) -> None:
    workspace = named_workspace(store)

    serve(api, workspace, "u-1", "d-1", "camp-a")
    serve(api, workspace, "u-2", "d-2", "step-s")

    assert stored_sources(workspace) == [("d-1", "camp-a"), ("d-2", "step-s")]


def test_a_call_from_a_campaign_not_named_gets_the_control_and_is_not_assigned(
    api: Api, store: Store
) -> None:
    workspace = named_workspace(store)
    before = _other_source_answers(api)

    answers = [serve(api, workspace, f"u-{i}", "d-9", "camp-elsewhere") for i in range(20)]

    assert {a["variant_id"] for a in answers} == {"control"}
    assert all(a["pixel_url"].endswith("/-.gif") for a in answers)  # no assignment, no pixel token
    assert stored_sources(workspace) == []
    assert _other_source_answers(api) == before + 20


def test_a_call_without_a_source_is_assigned_as_before(api: Api, store: Store) -> None:
    """A snippet made before the definition named its campaigns sends no `source`: it keeps working."""
    workspace = named_workspace(store)

    serve(api, workspace, "u-1", "d-1", None)

    assert stored_sources(workspace) == [("d-1", "")]


def test_events_from_a_campaign_not_named_by_the_experiment_are_not_attributed(
    api: Api, store: Store
) -> None:
    workspace = named_workspace(store)
    variant = serve(api, workspace, "u-1", "d-1", "camp-a")["variant_id"]
    elsewhere = [
        braze_event("Click", "u-1", "d-1", campaign_id="camp-b"),
        braze_event("Open", "u-1", "d-1", campaign_id="camp-b"),
        braze_event("Click", "u-1", "d-1", campaign_id=None, canvas_step_id="step-t"),
    ]

    body = api.events(workspace.token, {"events": elsewhere}).json()

    assert body == {"received": 3, "accepted": 0, "duplicate": 0, "ignored": 0, "unattributed": 3}
    report = experiment_report(store, workspace.experiment_id)
    assert sum(v.clicks + v.opens for v in report.variants) == 0
    assert report.sources is not None
    assert {o.source_id: dict(o.events) for o in report.sources.other_events} == {
        "camp-b": {"click": 1, "open": 1},
        "step-t": {"click": 1},
    }

    named = [
        braze_event("Click", "u-1", "d-1", campaign_id="camp-a"),
        braze_event("Open", "u-1", "d-1", campaign_id=None, canvas_step_id="step-s"),
    ]
    assert api.events(workspace.token, {"events": named}).json()["accepted"] == 2
    row = next(
        v for v in experiment_report(store, workspace.experiment_id).variants if v.variant_id == variant
    )
    assert (row.clicks, row.opens) == (1, 1)


def test_without_named_sources_events_of_any_campaign_are_attributed(api: Api, workspace: Workspace) -> None:
    serve(api, workspace, "u-1", "d-1", "camp-a")

    body = api.events(workspace.token, {"events": [braze_event("Click", "u-1", "d-1", campaign_id="camp-b")]})

    assert body.json()["accepted"] == 1


def test_sends_and_clicks_are_broken_down_per_campaign_and_canvas_step(api: Api, store: Store) -> None:
    workspace = named_workspace(store)
    for i in range(6):
        serve(api, workspace, f"a-{i}", "d-a", "camp-a")
    for i in range(4):
        serve(api, workspace, f"s-{i}", "d-s", "step-s")
    serve(api, workspace, "old-snippet", "d-a", None)
    clicks = [
        braze_event("Click", "a-0", "d-a", campaign_id="camp-a"),
        braze_event("Click", "a-1", "d-a", campaign_id="camp-a"),
        braze_event("Click", "s-0", "d-s", campaign_id=None, canvas_step_id="step-s"),
    ]
    api.events(workspace.token, {"events": clicks})

    breakdown = experiment_report(store, workspace.experiment_id).sources

    assert breakdown is not None
    assert [(s.source_id, s.named_as, s.sends, s.clicks) for s in breakdown.sources] == [
        ("camp-a", "campaign", 6, 2),
        ("step-s", "canvas_step", 4, 1),
        ("", None, 1, 0),
    ]
    camp_a = breakdown.sources[0]
    assert sum(v.sends for v in camp_a.variants) == 6
    assert [v.variant_id for v in camp_a.variants] == ["control", "v1", "v2"]


def test_one_snippet_in_two_unnamed_campaigns_is_flagged_as_pooled(api: Api, workspace: Workspace) -> None:
    serve(api, workspace, "u-1", "d-1", "camp-a")
    assert experiment_report(workspace.store, workspace.experiment_id).sources.pools_sources is False  # type: ignore[union-attr]

    serve(api, workspace, "u-2", "d-2", "camp-b")

    breakdown = experiment_report(workspace.store, workspace.experiment_id).sources
    assert breakdown is not None
    assert breakdown.pools_sources
    assert {s.source_id for s in breakdown.sources} == {"camp-a", "camp-b"}


def _other_source_answers(api: Api) -> float:
    for line in api.client.get("/metrics", headers=METRICS_HEADERS).text.splitlines():
        if line.startswith("copyloom_content_other_source_answers_total "):
            return float(line.split()[1])
    raise AssertionError("no copyloom_content_other_source_answers_total in /metrics")


def test_the_dashboard_shows_where_it_runs_and_what_was_counted_apart(api: Api, store: Store) -> None:
    workspace = make_workspace(store, "acme", metric="cta_click", cta_links=["shop"], campaign_ids=["camp-a"])
    password = dashboard_access.issue_dashboard_password(store, "acme", time.time())
    serve(api, workspace, "u-1", "d-1", "camp-a")
    clicks = [
        braze_event("Click", "u-1", "d-1", campaign_id="camp-a", link_alias="shop"),
        braze_event("Click", "u-1", "d-1", campaign_id="camp-z", link_alias="shop"),
    ]
    api.events(workspace.token, {"events": clicks})

    page = sign_in(api.client, "acme", password).get(f"/dashboard/experiments/{workspace.experiment_id}").text

    section = page[page.index('id="sources"') :]
    assert '<tr data-source="camp-a">' in section
    assert "campaign" in section
    assert 'data-other-source="camp-z"' in section
    assert "Not attributed: 1 event of" in section
    assert 'data-field="cta_clicks">1</td>' in page  # the CTA's own column, for a cta_click experiment
