"""The Currents webhook over real HTTP: attribution, uniqueness, duplicates, bots, errors."""

from __future__ import annotations

import json
import uuid
from typing import Any

from copyloom.services.experiments import experiment_report
from copyloom.services.learning import cohorts_for
from copyloom.services.tenants import set_bot_clicks
from copyloom.storage.assignments import cohort_counts
from copyloom.storage.db import Store
from copyloom.storage.experiments import load_experiment
from tests.helpers import Api, Workspace, make_workspace


def braze_event(kind: str, user_id: str, dispatch_id: str, **properties: Any) -> dict[str, Any]:
    """One event as Braze's Custom HTTP Currents connector posts it."""
    return {
        "event_type": f"users.messages.email.{kind}",
        "id": str(uuid.uuid4()),
        "time": 1764338400,
        "user": {"user_id": user_id, "external_user_id": f"ext-{user_id}", "timezone": "Europe/London"},
        "properties": {
            "campaign_id": "camp-1",
            "dispatch_id": dispatch_id,
            "email_address": f"{user_id}@example.com",
            "user_agent": "Mozilla/5.0 (test)",
            **properties,
        },
    }


def served_variant(api: Api, workspace: Workspace, user_id: str, dispatch_id: str = "d-1") -> str:
    body = api.content(
        workspace.token, workspace.experiment_id, recipient=user_id, dispatch=dispatch_id
    ).json()
    return str(body["variant_id"])


def counts(workspace: Workspace) -> dict[str, tuple[int, int]]:
    report = experiment_report(workspace.store, workspace.experiment_id)
    return {v.variant_id: (v.clicks, v.opens) for v in report.variants}


def test_click_is_attributed_to_the_served_variant(api: Api, workspace: Workspace) -> None:
    variant = served_variant(api, workspace, "u-1")

    response = api.events(workspace.token, {"events": [braze_event("Click", "u-1", "d-1")]})

    assert response.status_code == 200
    assert response.json() == {"received": 1, "accepted": 1, "duplicate": 0, "ignored": 0, "unattributed": 0}
    assert counts(workspace)[variant] == (1, 0)


def test_clicks_are_unique_per_recipient_and_dispatch(api: Api, workspace: Workspace) -> None:
    variant = served_variant(api, workspace, "u-1")
    clicks = [braze_event("Click", "u-1", "d-1", url=f"https://shop.example/{i}") for i in range(3)]

    api.events(workspace.token, {"events": clicks})

    assert counts(workspace)[variant] == (1, 0)


def test_same_event_id_counts_once_across_batches(api: Api, workspace: Workspace) -> None:
    variant = served_variant(api, workspace, "u-1")
    click = braze_event("Click", "u-1", "d-1")

    first = api.events(workspace.token, {"events": [click]}).json()
    second = api.events(workspace.token, {"events": [click, click]}).json()

    assert first["accepted"] == 1
    assert second == {"received": 2, "accepted": 0, "duplicate": 2, "ignored": 0, "unattributed": 0}
    assert counts(workspace)[variant] == (1, 0)


def test_bot_clicks_and_machine_opens_stay_out_of_the_optimisation_counts(
    api: Api, workspace: Workspace
) -> None:
    variant = served_variant(api, workspace, "u-1")
    events = [
        braze_event("Click", "u-1", "d-1", is_suspected_bot_click=True),
        braze_event("Open", "u-1", "d-1", machine_open="true"),
    ]

    api.events(workspace.token, {"events": events})

    report = experiment_report(workspace.store, workspace.experiment_id)
    row = next(v for v in report.variants if v.variant_id == variant)
    assert (row.clicks, row.opens, row.bot_clicks, row.machine_opens) == (0, 0, 1, 1)


def test_outcomes_are_counted_other_types_ignored_and_unknown_recipients_unattributed(
    api: Api, workspace: Workspace
) -> None:
    served_variant(api, workspace, "u-1")
    events = [
        braze_event("Send", "u-1", "d-1"),
        braze_event("Delivery", "u-1", "d-1"),
        {**braze_event("Click", "u-1", "d-1"), "event_type": "users.messages.pushnotification.Open"},
        braze_event("Click", "stranger", "d-1"),
        braze_event("Click", "u-1", "another-dispatch"),
    ]

    body = api.events(workspace.token, {"events": events}).json()

    assert body == {"received": 5, "accepted": 2, "duplicate": 0, "ignored": 1, "unattributed": 2}


def test_external_user_id_experiments_join_on_external_id(api: Api, workspace: Workspace) -> None:
    external = make_workspace(workspace.store, "initech", recipient_field="external_user_id")
    variant = served_variant(api, external, "ext-u-5")

    body = api.events(external.token, {"events": [braze_event("Click", "u-5", "d-1")]}).json()

    assert body["accepted"] == 1
    assert counts(external)[variant] == (1, 0)


def test_an_empty_batch_is_a_no_op_that_still_checks_the_token(api: Api, workspace: Workspace) -> None:
    assert api.events(workspace.token, {"events": []}).json()["received"] == 0
    assert api.events("cl_wrong", {"events": []}).status_code == 401


def test_events_of_another_tenant_never_touch_this_tenants_counts(api: Api, workspace: Workspace) -> None:
    variant = served_variant(api, workspace, "u-1")
    other = make_workspace(workspace.store, "globex")

    body = api.events(other.token, {"events": [braze_event("Click", "u-1", "d-1")]}).json()

    assert body["unattributed"] == 1
    assert counts(workspace)[variant] == (0, 0)


def test_malformed_json_is_400_with_a_message(api: Api, workspace: Workspace) -> None:
    response = api.client.post(
        "/v1/events", content=b"{not json", headers={"Authorization": f"Bearer {workspace.token}"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert response.json()["error"]["message"].startswith("body: not valid JSON")


def test_malformed_event_is_400_naming_it_and_nothing_is_counted(api: Api, workspace: Workspace) -> None:
    variant = served_variant(api, workspace, "u-1")
    broken = braze_event("Click", "u-1", "d-1")
    del broken["id"]

    response = api.events(workspace.token, {"events": [braze_event("Click", "u-1", "d-1"), broken]})

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("events[1].id")
    assert counts(workspace)[variant] == (0, 0)


def test_body_over_the_limit_is_413(api: Api, workspace: Workspace) -> None:
    huge = json.dumps({"events": [braze_event("Click", f"u-{i}", "d") for i in range(400)]})

    response = api.client.post(
        "/v1/events", content=huge.encode(), headers={"Authorization": f"Bearer {workspace.token}"}
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_click_with_only_a_bot_click_reason_is_a_bot_click(api: Api, workspace: Workspace) -> None:
    """Braze fills `is_suspected_bot_click` only with Bot Filtering on, the reason always."""
    variant = served_variant(api, workspace, "u-1")
    reason = braze_event("Click", "u-1", "d-1", suspected_bot_click_reason=["prefetch"])

    api.events(workspace.token, {"events": [reason]})

    report = experiment_report(workspace.store, workspace.experiment_id)
    row = next(v for v in report.variants if v.variant_id == variant)
    assert (row.clicks, row.bot_clicks) == (0, 1)


def test_with_the_flag_rule_a_click_with_only_a_reason_is_a_click(api: Api, workspace: Workspace) -> None:
    set_bot_clicks(workspace.store, workspace.tenant.name, "flag")
    variant = served_variant(api, workspace, "u-1")
    reason = braze_event(
        "Click", "u-1", "d-1", suspected_bot_click_reason=["prefetch"], is_suspected_bot_click=None
    )
    flagged = braze_event("Click", "u-2", "d-1", is_suspected_bot_click=True)
    served_variant(api, workspace, "u-2")

    api.events(workspace.token, {"events": [reason, flagged]})

    report = experiment_report(workspace.store, workspace.experiment_id)
    assert report.variants[[v.variant_id for v in report.variants].index(variant)].clicks == 1
    assert sum(v.bot_clicks for v in report.variants) == 1


def test_an_empty_reason_list_is_no_reason(api: Api, workspace: Workspace) -> None:
    variant = served_variant(api, workspace, "u-1")

    api.events(
        workspace.token, {"events": [braze_event("Click", "u-1", "d-1", suspected_bot_click_reason=[])]}
    )

    assert counts(workspace)[variant] == (1, 0)


def test_a_bot_click_reason_must_be_a_list_of_clean_strings(api: Api, workspace: Workspace) -> None:
    for value, message in (
        (
            "prefetch",
            "events[0].properties.suspected_bot_click_reason: expected a list of strings or null, got string",
        ),
        ([3], "events[0].properties.suspected_bot_click_reason[0]: expected a string, got number"),
        (
            ["a\x00"],
            "events[0].properties.suspected_bot_click_reason[0]: "
            "control character U+0000 is not allowed at character 2",
        ),
    ):
        response = api.events(
            workspace.token,
            {"events": [braze_event("Click", "u-1", "d-1", suspected_bot_click_reason=value)]},
        )
        assert response.status_code == 400
        assert response.json()["error"]["message"] == message


def test_events_of_braze_test_sends_are_ignored(api: Api, workspace: Workspace) -> None:
    served_variant(api, workspace, "u-1")
    events = [
        braze_event("Click", "u-1", "dispatch_id_for_unsent_campaign"),
        braze_event("Open", "u-1", "dispatch_id_for_unsent_campaign"),
    ]

    tally = api.events(workspace.token, {"events": events}).json()

    assert (tally["ignored"], tally["unattributed"], tally["accepted"]) == (2, 0, 0)
    assert set(counts(workspace).values()) == {(0, 0)}


def load_pixel(api: Api, workspace: Workspace, user_id: str) -> None:
    pixel_url = api.content(
        workspace.token, workspace.experiment_id, recipient=user_id, dispatch="d-1"
    ).json()["pixel_url"]
    assert api.client.get(pixel_url.removeprefix("https://cl.example.test")).status_code == 200


def test_a_pixel_open_with_a_machine_open_is_no_real_open_in_either_order(
    api: Api, workspace: Workspace
) -> None:
    """Apple Mail Privacy Protection loads the pixel and Braze reports the same open as a machine open."""
    load_pixel(api, workspace, "u-1")  # the pixel first
    api.events(workspace.token, {"events": [braze_event("Open", "u-1", "d-1", machine_open="true")]})
    api.content(workspace.token, workspace.experiment_id, recipient="u-2", dispatch="d-1")
    api.events(workspace.token, {"events": [braze_event("Open", "u-2", "d-1", machine_open="true")]})
    load_pixel(api, workspace, "u-2")  # the pixel last

    report = experiment_report(workspace.store, workspace.experiment_id)
    assert sum(v.opens for v in report.variants) == 0
    assert sum(v.machine_opens for v in report.variants) == 2


def test_a_pixel_open_alone_or_beside_a_real_currents_open_is_one_real_open(
    api: Api, workspace: Workspace
) -> None:
    load_pixel(api, workspace, "u-1")
    load_pixel(api, workspace, "u-2")
    api.events(workspace.token, {"events": [braze_event("Open", "u-2", "d-1")]})

    report = experiment_report(workspace.store, workspace.experiment_id)
    assert sum(v.opens for v in report.variants) == 2


def test_cta_click_counts_only_clicks_on_the_named_link_aliases(api: Api, store: Store) -> None:
    workspace = make_workspace(store, "cta-tenant", metric="cta_click", cta_links=["shop-now", "hero"])
    variants = {user: served_variant(api, workspace, user) for user in ("u-1", "u-2", "u-3", "u-4")}
    events = [
        braze_event("Click", "u-1", "d-1", link_alias="shop-now"),
        braze_event("Click", "u-2", "d-1", link_alias="footer-unsubscribe"),
        braze_event("Click", "u-3", "d-1"),  # a link without an alias
        braze_event("Click", "u-4", "d-1", link_alias="hero", is_suspected_bot_click=True),
    ]

    api.events(workspace.token, {"events": events})

    report = experiment_report(workspace.store, workspace.experiment_id)
    by_variant = {v.variant_id: v for v in report.variants}
    assert sum(v.cta_clicks for v in report.variants) == 1
    assert by_variant[variants["u-1"]].cta_clicks == 1
    assert sum(v.clicks for v in report.variants) == 3  # the click metric counts any tracked link
    assert workspace_metric_counts(workspace) == 1


def workspace_metric_counts(workspace: Workspace) -> int:
    """What the learner counts for the experiment's metric."""
    with workspace.store.read() as conn:
        experiment = load_experiment(conn, workspace.experiment_id)
        assert experiment is not None
        return sum(c.clicks for c in cohorts_for(experiment, cohort_counts(conn, workspace.experiment_id)))


def test_an_open_experiment_learns_from_real_opens_only(api: Api, store: Store) -> None:
    workspace = make_workspace(store, "open-tenant", metric="open")
    load_pixel(api, workspace, "u-1")
    api.events(workspace.token, {"events": [braze_event("Open", "u-1", "d-1", machine_open="true")]})
    api.content(workspace.token, workspace.experiment_id, recipient="u-2", dispatch="d-1")
    api.events(workspace.token, {"events": [braze_event("Open", "u-2", "d-1", machine_open="true")]})
    load_pixel(api, workspace, "u-2")
    load_pixel(api, workspace, "u-3")  # a pixel open without a machine open: real

    assert workspace_metric_counts(workspace) == 1
