"""The Connected Content endpoint over real HTTP: answers, stickiness, status handling, errors."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from copyloom.services import experiments as experiment_service
from copyloom.storage.db import Store
from copyloom.storage.tables import assignments
from tests.helpers import Api, Workspace, make_workspace


def test_answer_carries_variant_texts_and_an_absolute_pixel_url(api: Api, workspace: Workspace) -> None:
    response = api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d-1")

    assert response.status_code == 200
    body = response.json()
    assert body["experiment_id"] == workspace.experiment_id
    assert body["variant_id"] in {"control", "v1", "v2"}
    assert set(body) == {"experiment_id", "variant_id", "subject", "preheader", "pixel_url"}
    assert body["pixel_url"].startswith("https://cl.example.test/v1/pixel/")
    assert "u-1" not in body["pixel_url"]


def test_answer_is_compact_json_with_the_texts_as_written(api: Api, store: Store) -> None:
    texts = {"subject": 'Ünïcødé "quoted" \\ back\\slash €5', "preheader": "Line\nbreak \u2014 dash"}
    variants = [{"id": "a", "control": True, **texts}, {"id": "b", **texts}]
    workspace = make_workspace(store, "texts", variants=variants)

    response = api.content(workspace.token, workspace.experiment_id, recipient="u-1")

    body = response.json()
    assert response.headers["content-type"] == "application/json"
    assert response.content == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert list(body) == ["experiment_id", "variant_id", "subject", "preheader", "pixel_url"]
    assert {key: body[key] for key in texts} == texts


def test_same_recipient_always_gets_the_same_variant(api: Api, workspace: Workspace) -> None:
    first = [
        api.content(workspace.token, workspace.experiment_id, recipient=f"u-{i}", dispatch="d")
        for i in range(40)
    ]
    again = [
        api.content(workspace.token, workspace.experiment_id, recipient=f"u-{i}", dispatch="d")
        for i in range(40)
    ]

    assert [r.json()["variant_id"] for r in first] == [r.json()["variant_id"] for r in again]
    assert len({r.json()["variant_id"] for r in first}) > 1, "40 recipients should not all share one variant"


def test_concurrent_first_calls_for_one_recipient_agree_and_store_one_row(
    api: Api, workspace: Workspace
) -> None:
    def call(_: int) -> httpx.Response:
        with httpx.Client(base_url=api.url) as client:
            return client.get(
                f"/v1/content/{workspace.experiment_id}",
                params={"recipient": "racer", "dispatch": "d-9"},
                headers={"Authorization": f"Bearer {workspace.token}"},
            )

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(call, range(48)))

    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["variant_id"] for r in responses}) == 1
    assert len({r.json()["pixel_url"] for r in responses}) == 1
    with workspace.store.read() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(assignments)).scalar()
    assert rows == 1


def test_answered_assignment_is_in_the_store(api: Api, workspace: Workspace) -> None:
    body = api.content(workspace.token, workspace.experiment_id, recipient="u-7", dispatch="d-7").json()

    with workspace.store.read() as conn:
        stored = conn.execute(sa.select(assignments.c.variant_id, assignments.c.dispatch_id)).all()
    assert stored == [(body["variant_id"], "d-7")]


def test_broadcast_keeps_one_wording_per_person_across_dispatches(api: Api, workspace: Workspace) -> None:
    variants = {
        api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch=f"d-{i}").json()[
            "variant_id"
        ]
        for i in range(10)
    }
    assert len(variants) == 1


def test_post_with_json_or_form_body_matches_get(api: Api, workspace: Workspace) -> None:
    headers = {"Authorization": f"Bearer {workspace.token}"}
    by_get = api.content(workspace.token, workspace.experiment_id, recipient="u-3", dispatch="d").json()
    by_json = api.client.post(
        f"/v1/content/{workspace.experiment_id}", json={"recipient": "u-3", "dispatch": "d"}, headers=headers
    ).json()
    by_form = api.client.post(
        f"/v1/content/{workspace.experiment_id}", data={"recipient": "u-3", "dispatch": "d"}, headers=headers
    ).json()

    assert by_get == by_json == by_form


def test_paused_experiment_serves_control_without_assigning(api: Api, workspace: Workspace) -> None:
    experiment_service.change_status(workspace.store, workspace.experiment_id, "pause", time.time())
    time.sleep(0.1)  # the API's cache refresh in the test settings is 0.05 s

    body = api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d").json()

    assert body["variant_id"] == "control"
    assert body["subject"] == "Our Black Friday sale"
    with workspace.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(assignments)).scalar() == 0


def test_finished_experiment_serves_its_winner(api: Api, workspace: Workspace) -> None:
    experiment_service.change_status(
        workspace.store, workspace.experiment_id, "finish", time.time(), serve="v2"
    )
    time.sleep(0.1)

    body = api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d").json()

    assert body["variant_id"] == "v2"
    assert body["subject"] == "Your Black Friday early access"


def test_missing_recipient_is_400(api: Api, workspace: Workspace) -> None:
    response = api.content(workspace.token, workspace.experiment_id, dispatch="d")

    assert response.status_code == 400
    assert response.json() == {"error": {"code": "invalid_input", "message": "recipient: required"}}


def test_missing_or_bad_token_is_401(api: Api, workspace: Workspace) -> None:
    no_token = api.client.get(f"/v1/content/{workspace.experiment_id}", params={"recipient": "u"})
    bad_token = api.content("cl_not-a-token", workspace.experiment_id, recipient="u")

    assert no_token.status_code == 401
    assert no_token.json() == {
        "error": {"code": "unauthorized", "message": "Authorization: missing bearer token"}
    }
    assert bad_token.status_code == 401
    assert bad_token.json()["error"]["code"] == "unauthorized"


def test_unknown_experiment_is_404(api: Api, workspace: Workspace) -> None:
    response = api.content(workspace.token, "ex_doesnotexist", recipient="u")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "experiment: no experiment 'ex_doesnotexist'"}
    }


def test_another_tenants_experiment_is_404_not_403(api: Api, workspace: Workspace) -> None:
    other = make_workspace(workspace.store, "globex")

    response = api.content(workspace.token, other.experiment_id, recipient="u")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_format_text_returns_the_bare_placement_text(api: Api, workspace: Workspace) -> None:
    as_json = api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d").json()

    response = api.content(
        workspace.token,
        workspace.experiment_id,
        recipient="u-1",
        dispatch="d",
        format="text",
        placement="preheader",
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == as_json["preheader"]


def test_format_text_needs_a_known_placement(api: Api, workspace: Workspace) -> None:
    missing = api.content(workspace.token, workspace.experiment_id, recipient="u-1", format="text")
    unknown = api.content(
        workspace.token, workspace.experiment_id, recipient="u-1", format="text", placement="cta"
    )
    bad_format = api.content(workspace.token, workspace.experiment_id, recipient="u-1", format="xml")

    assert (missing.status_code, missing.json()["error"]["message"]) == (400, "placement: required")
    assert unknown.json()["error"]["message"] == "placement: 'cta' is not one of subject, preheader"
    assert bad_format.json()["error"]["message"] == "format: expected json or text, got 'xml'"


def test_a_braze_test_send_is_answered_with_the_control_and_stores_nothing(
    api: Api, workspace: Workspace
) -> None:
    """Braze renders `dispatch_id_for_unsent_campaign` in previews and test sends of an unsent campaign."""
    for user in ("u-1", "u-2", "u-3", "u-4"):
        response = api.content(
            workspace.token,
            workspace.experiment_id,
            recipient=user,
            dispatch="dispatch_id_for_unsent_campaign",
        )
        assert response.json()["variant_id"] == "control"
        assert response.json()["pixel_url"].endswith("/-.gif")  # a pixel that records nothing
    with workspace.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(assignments)).scalar() == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("dispatch=a%00b", "dispatch: control character U+0000 is not allowed at character 2"),
        ("format=%C2%83", "format: control character U+0083 is not allowed at character 1"),
        ("format=xml", "format: expected json or text, got 'xml'"),
    ],
)
def test_a_query_value_a_post_body_overrides_is_checked_all_the_same(
    api: Api, workspace: Workspace, query: str, message: str
) -> None:
    response = api.client.post(
        f"/v1/content/{workspace.experiment_id}?{query}",
        json={"recipient": "r-1", "dispatch": "d-1", "format": "json"},
        headers={"Authorization": f"Bearer {workspace.token}"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_a_format_given_must_be_exactly_json_or_text(api: Api, workspace: Workspace) -> None:
    for given in ("", " json", "JSON"):
        response = api.content(workspace.token, workspace.experiment_id, recipient="u-1", format=given)
        assert response.status_code == 400
        assert response.json()["error"]["message"] == f"format: expected json or text, got {given!r}"
