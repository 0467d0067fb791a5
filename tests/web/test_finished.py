"""A finished experiment over real HTTP: it serves what finishing chose, and keeps counting its opens and
clicks, so that the report after the send is complete."""

from __future__ import annotations

import time

from copyloom.services import experiments as experiment_service
from copyloom.storage.db import Store
from tests.dashboard_data import braze_event
from tests.helpers import Api, Workspace, make_workspace, store_allocation

_LEADING_V2 = {"control": 0.001, "v1": 0.001, "v2": 0.998}


def _variant(workspace: Workspace, variant_id: str) -> experiment_service.VariantReport:
    report = experiment_service.experiment_report(workspace.store, workspace.experiment_id)
    return next(v for v in report.variants if v.variant_id == variant_id)


def test_finishing_with_the_leader_serves_it_and_keeps_counting_its_clicks_and_opens(
    api: Api, workspace: Workspace
) -> None:
    store_allocation(workspace.store, workspace.experiment_id, p_best=_LEADING_V2)
    experiment_service.change_status(
        workspace.store, workspace.experiment_id, "finish", time.time(), serve="leader"
    )

    bodies = [
        api.content(workspace.token, workspace.experiment_id, recipient=f"u-{i}", dispatch="d").json()
        for i in range(5)
    ]
    for body in bodies:
        api.client.get(body["pixel_url"].removeprefix("https://cl.example.test"))
    posted = api.events(workspace.token, {"events": [braze_event("Click", "u-0", "d", url="https://x.test")]})

    assert {b["variant_id"] for b in bodies} == {"v2"}
    assert all(not b["pixel_url"].endswith("/-.gif") for b in bodies)
    assert posted.json()["accepted"] == 1
    v2 = _variant(workspace, "v2")
    assert (v2.sends, v2.opens, v2.clicks) == (5, 5, 1)


def test_a_finished_per_recipient_experiment_serves_the_chosen_variant_to_a_new_dispatch(
    api: Api, store: Store
) -> None:
    workspace = make_workspace(store, "sticky", sticky="recipient")
    first = api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d1").json()
    chosen = next(v for v in ("control", "v1", "v2") if v != first["variant_id"])
    experiment_service.change_status(
        workspace.store, workspace.experiment_id, "finish", time.time(), serve=chosen
    )
    time.sleep(0.3)  # past the server's cache refresh

    again = api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d1").json()
    later = api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d2").json()

    assert again["variant_id"] == first["variant_id"], "the renders of an email already sent still agree"
    assert later["variant_id"] == chosen
