"""The management API over real HTTP, on SQLite and PostgreSQL: experiments created, changed and read
with the tenant's management token behave as the CLI's; scopes are enforced on every route."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from copyloom.server import ThreadedServer, build_app
from copyloom.services import experiments, learning, tenants
from copyloom.services.decisions import decision_chunks, write_csv
from copyloom.services.experiment_json import report_json
from copyloom.services.report_formats import REPORT_FORMATS, ReportFormat
from copyloom.settings import Settings
from copyloom.storage.db import Store
from copyloom.web.management import DECISIONS_MEDIA_TYPES, OPERATIONS, REPORT_MEDIA_TYPES, Operation
from tests.helpers import DEFINITION, Api, Workspace, make_workspace
from tests.segment_data import STANDARD, filled_segments


def _call(api: Api, token: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return api.client.request(method, path, headers=headers, **kwargs)


NEW_VARIANT = {"id": "v9", "subject": "Black Friday starts now", "preheader": "All weekend"}


def _path(operation: Operation, experiment_id: str) -> str:
    return operation.path.format(experiment_id=experiment_id, variant_id="v1")


def _body(operation: Operation) -> dict[str, Any]:
    bodies = {"createExperiment": DEFINITION, "addVariant": NEW_VARIANT}
    return {"json": bodies[operation.operation_id]} if operation.operation_id in bodies else {}


def _error(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    return str(body["error"]["code"])


_IDS = [op.operation_id for op in OPERATIONS]


@pytest.mark.parametrize("operation", OPERATIONS, ids=_IDS)
def test_the_serving_token_is_forbidden_on_every_management_route(
    api: Api, workspace: Workspace, operation: Operation
) -> None:
    path = _path(operation, workspace.experiment_id)

    response = _call(api, workspace.token, operation.method, path, **_body(operation))

    assert response.status_code == 403
    assert _error(response) == "forbidden"
    assert "takes the tenant's management token" in response.json()["error"]["message"]


@pytest.mark.parametrize("operation", OPERATIONS, ids=_IDS)
@pytest.mark.parametrize("token", [None, "cl_unknown"])
def test_every_management_route_needs_a_known_token(
    api: Api, workspace: Workspace, operation: Operation, token: str | None
) -> None:
    response = _call(api, token, operation.method, _path(operation, workspace.experiment_id))

    assert response.status_code == 401
    assert _error(response) == "unauthorized"


@pytest.mark.parametrize("operation", OPERATIONS, ids=_IDS)
def test_the_management_token_is_accepted_on_every_management_route(
    api: Api, workspace: Workspace, operation: Operation
) -> None:
    path = _path(operation, workspace.experiment_id)

    response = _call(api, workspace.management_token, operation.method, path, **_body(operation))

    # finish without a declared winner is a 409 listing the choices: the token itself was accepted
    assert response.status_code in {*map(int, operation.success), 409}, response.text


def test_the_management_token_is_forbidden_on_content_and_events(api: Api, workspace: Workspace) -> None:
    content = api.content(workspace.management_token, workspace.experiment_id, recipient="u-1")
    events = api.events(workspace.management_token, {"events": []})

    assert (content.status_code, _error(content)) == (403, "forbidden")
    assert (events.status_code, _error(events)) == (403, "forbidden")
    assert "takes the tenant's serving token" in content.json()["error"]["message"]


def test_the_pixel_takes_no_bearer_token_and_always_answers_the_gif(api: Api, workspace: Workspace) -> None:
    for token in (workspace.token, workspace.management_token):
        response = _call(api, token, "GET", "/v1/pixel/forged.gif")

        assert response.status_code == 200
        assert response.headers["content-type"] == "image/gif"


def test_an_experiment_created_over_the_api_is_served_and_learned_like_a_cli_one(
    api: Api, workspace: Workspace
) -> None:
    token = workspace.management_token
    created = _call(api, token, "POST", "/v1/experiments", json={**DEFINITION, "name": "From the pipeline"})
    experiment_id = created.json()["experiment_id"]
    started = _call(api, token, "POST", f"/v1/experiments/{experiment_id}/start")
    served = api.content(workspace.token, experiment_id, recipient="u-1", dispatch="d-1")
    learned = learning.learn_once(workspace.store, time.time(), np.random.default_rng(1), samples=500)
    shown = _call(api, token, "GET", f"/v1/experiments/{experiment_id}")

    assert created.status_code == 201
    assert started.json() == {"experiment_id": experiment_id, "status": "live", "winner": None}
    assert served.status_code == 200
    assert served.json()["variant_id"] in {"control", "v1", "v2"}
    assert experiment_id in {outcome.experiment_id for outcome in learned}
    report = experiments.experiment_report(workspace.store, experiment_id)
    assert shown.json() == report_json(report)
    assert sum(v["sends"] for v in shown.json()["variants"]) == 1


def test_the_list_holds_the_tenants_experiments_only(api: Api, workspace: Workspace, store: Store) -> None:
    other = make_workspace(store, "globex")

    listed = _call(api, workspace.management_token, "GET", "/v1/experiments").json()

    assert listed == {
        "experiments": [
            {
                "experiment_id": workspace.experiment_id,
                "name": DEFINITION["name"],
                "status": "live",
                "mode": "broadcast",
            }
        ]
    }
    assert other.experiment_id not in str(listed)


@pytest.mark.parametrize(
    "operation", [op for op in OPERATIONS if "{experiment_id}" in op.path], ids=lambda op: op.operation_id
)
def test_another_tenants_experiment_is_not_found(
    api: Api, workspace: Workspace, store: Store, operation: Operation
) -> None:
    other = make_workspace(store, "globex")

    token, body = workspace.management_token, _body(operation)
    response = _call(api, token, operation.method, _path(operation, other.experiment_id), **body)
    unknown = _call(api, token, operation.method, _path(operation, "ex_nothing"), **body)

    assert (response.status_code, _error(response)) == (404, "not_found")
    assert (unknown.status_code, _error(unknown)) == (404, "not_found")
    assert response.json()["error"]["message"] == f"experiment: no experiment '{other.experiment_id}'"
    assert experiments.get_experiment(store, other.experiment_id).status == "live"


def test_a_pause_over_the_api_reaches_serving_within_the_cache_refresh(
    api: Api, workspace: Workspace
) -> None:
    before = api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d-1")

    paused = _call(
        api, workspace.management_token, "POST", f"/v1/experiments/{workspace.experiment_id}/pause"
    )
    time.sleep(0.5)  # the api fixture refreshes its caches every 0.05 s
    after = api.content(workspace.token, workspace.experiment_id, recipient="u-2", dispatch="d-1")

    assert "/v1/pixel/-.gif" not in before.json()["pixel_url"]
    assert paused.json()["status"] == "paused"
    assert after.json()["variant_id"] == "control"
    assert after.json()["pixel_url"].endswith("/v1/pixel/-.gif"), "a paused experiment assigns nothing"


def test_finish_serves_the_declared_winner_or_what_the_body_names(api: Api, workspace: Workspace) -> None:
    path = f"/v1/experiments/{workspace.experiment_id}/finish"

    undecided = _call(api, workspace.management_token, "POST", path)
    finished = _call(api, workspace.management_token, "POST", path, json={"serve": "v2"})
    again = _call(api, workspace.management_token, "POST", path, json={"serve": "v1"})

    assert (undecided.status_code, _error(undecided)) == (409, "conflict")
    assert "no winner was declared" in undecided.json()["error"]["message"]
    assert finished.json() == {"experiment_id": workspace.experiment_id, "status": "finished", "winner": "v2"}
    assert (again.status_code, _error(again)) == (409, "conflict")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1]", "body: expected a JSON object"),
        (b'{"winner": "v1"}', "winner: unknown field"),
        (b'{"serve": 2}', "serve: expected winner, leader, control or a variant id"),
        (b'{"serve": "v9"}', "serve: expected winner, leader, control or one of the variants"),
        (b'{"serve": "a\\u0000"}', "serve: control character U+0000"),
    ],
)
def test_a_bad_finish_body_is_refused_naming_the_field(
    api: Api, workspace: Workspace, body: bytes, message: str
) -> None:
    path = f"/v1/experiments/{workspace.experiment_id}/finish"

    response = _call(api, workspace.management_token, "POST", path, content=body)

    assert (response.status_code, _error(response)) == (400, "invalid_input")
    assert response.json()["error"]["message"].startswith(message)


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({**DEFINITION, "name": "x" * 201}, "name: longer than 200 characters"),
        ({**DEFINITION, "name": "a\u0000b"}, "name: control character U+0000 is not allowed"),
        ({**DEFINITION, "mode": "weekly"}, "mode: expected one of broadcast, triggered"),
        ({**DEFINITION, "colour": "red"}, "colour: unknown field"),
        ({**DEFINITION, "variants": DEFINITION["variants"][:1]}, "variants: expected 2 to 10 variants"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_field(
    api: Api, workspace: Workspace, definition: dict[str, Any], message: str
) -> None:
    response = _call(api, workspace.management_token, "POST", "/v1/experiments", json=definition)

    assert (response.status_code, _error(response)) == (400, "invalid_input")
    assert response.json()["error"]["message"].startswith(message)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: not valid JSON"),
        (b"[]", "body: expected an experiment definition"),
        (b'{"name": "\\ud800"}', "name: not valid Unicode (lone surrogate U+D800)"),
    ],
)
def test_a_body_that_is_no_definition_is_refused(
    api: Api, workspace: Workspace, body: bytes, message: str
) -> None:
    response = _call(api, workspace.management_token, "POST", "/v1/experiments", content=body)

    assert (response.status_code, _error(response)) == (400, "invalid_input")
    assert response.json()["error"]["message"].startswith(message)


def test_a_wording_keeps_its_newlines(api: Api, workspace: Workspace) -> None:
    variants = [{"id": "a", "control": True, "subject": "Line\nbreak"}, {"id": "b", "subject": "Tab\there"}]

    created = _call(
        api, workspace.management_token, "POST", "/v1/experiments", json={"name": "n", "variants": variants}
    )

    assert created.status_code == 201
    experiment = experiments.get_experiment(workspace.store, created.json()["experiment_id"])
    assert experiment.definition.variants[0].texts == {"subject": "Line\nbreak"}


@pytest.mark.parametrize("fmt", REPORT_FORMATS)
def test_the_report_comes_in_each_format_with_its_media_type(
    api: Api, workspace: Workspace, fmt: ReportFormat
) -> None:
    path = f"/v1/experiments/{workspace.experiment_id}/report"

    response = _call(api, workspace.management_token, "GET", path, params={"format": fmt})

    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == REPORT_MEDIA_TYPES[fmt]
    assert workspace.experiment_id in response.text


def test_the_report_is_json_by_default_and_refuses_an_unknown_format(api: Api, workspace: Workspace) -> None:
    path = f"/v1/experiments/{workspace.experiment_id}/report"

    default = _call(api, workspace.management_token, "GET", path)
    unknown = _call(api, workspace.management_token, "GET", path, params={"format": "xml"})

    assert default.headers["content-type"] == "application/json"
    assert default.json()["experiment"]["experiment_id"] == workspace.experiment_id
    assert (unknown.status_code, _error(unknown)) == (400, "invalid_input")
    assert unknown.json()["error"]["message"] == "format: expected one of md, csv, json, got 'xml'"


def test_every_report_format_has_a_media_type() -> None:
    assert set(REPORT_MEDIA_TYPES) == set(REPORT_FORMATS)


def test_a_revoked_management_token_stops_within_the_cache_refresh(api: Api, workspace: Workspace) -> None:
    assert _call(api, workspace.management_token, "GET", "/v1/experiments").status_code == 200

    tenants.revoke_tokens(workspace.store, workspace.tenant.name, time.time(), "management")
    time.sleep(0.5)

    assert _call(api, workspace.management_token, "GET", "/v1/experiments").status_code == 401
    assert api.content(workspace.token, workspace.experiment_id, recipient="u-1").status_code == 200


@pytest.fixture
def limited(settings: Settings, store: Store) -> Iterator[Api]:
    """A server allowing bursts of 3 requests per tenant, refilled at one request every 100 s."""
    tight = settings.replace(rate_limit_per_s=0.01, rate_limit_burst=3, response_budget_ms=10_000.0)
    with (
        ThreadedServer(build_app(tight, store, with_learner=False)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield Api(server.url, client)


def test_management_routes_are_rate_limited_per_tenant_apart_from_serving(
    limited: Api, workspace: Workspace
) -> None:
    answers = [
        _call(limited, workspace.management_token, "GET", "/v1/experiments").status_code for _ in range(4)
    ]
    content = limited.content(workspace.token, workspace.experiment_id, recipient="u-1")

    assert answers == [200, 200, 200, 429]
    assert content.status_code == 200, "the management bucket never spends the serving budget"


def test_variants_are_added_and_retired_over_the_api_and_serving_follows(
    api: Api, workspace: Workspace
) -> None:
    token, path = workspace.management_token, f"/v1/experiments/{workspace.experiment_id}/variants"

    added = _call(api, token, "POST", path, json=NEW_VARIANT)
    retired = _call(api, token, "DELETE", f"{path}/v1")
    control = _call(api, token, "DELETE", f"{path}/control")
    duplicate = _call(api, token, "POST", path, json=NEW_VARIANT)
    time.sleep(0.3)  # the server's cache refresh
    served = {
        api.content(workspace.token, workspace.experiment_id, recipient=f"u-{i}").json()["variant_id"]
        for i in range(120)
    }

    assert added.status_code == 201
    assert [v["variant_id"] for v in added.json()["variants"]] == ["control", "v1", "v2", "v9"]
    assert retired.status_code == 200
    assert {v["variant_id"]: v["status"] for v in retired.json()["variants"]}["v1"] == "retired"
    assert (control.status_code, _error(control)) == (409, "conflict")
    assert duplicate.json()["error"]["message"] == "variant.id: 'v9' is already a variant (retired ones too)"
    assert "v9" in served
    assert "v1" not in served


def test_the_decisions_come_as_csv_by_default_and_as_parquet(api: Api, store: Store) -> None:
    workspace = filled_segments(store)
    path = f"/v1/experiments/{workspace.experiment_id}/decisions"
    expected = io.StringIO()
    write_csv(decision_chunks(store, workspace.experiment_id), expected)

    as_csv = _call(api, workspace.management_token, "GET", path)
    as_parquet = _call(api, workspace.management_token, "GET", path, params={"format": "parquet"})

    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].split(";")[0] == DECISIONS_MEDIA_TYPES["csv"]
    assert as_csv.text == expected.getvalue()
    assert as_parquet.headers["content-type"] == DECISIONS_MEDIA_TYPES["parquet"]
    table = pq.read_table(io.BytesIO(as_parquet.content)).to_pylist()
    from_csv = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(table) == len(from_csv) == sum(p.sends for p in STANDARD)
    assert [(r["segment"], r["variant_id"], r["propensity"]) for r in table] == [
        (r["segment"], r["variant_id"], float(r["propensity"]) if r["propensity"] else None) for r in from_csv
    ]


def test_the_decisions_refuse_an_unknown_format(api: Api, workspace: Workspace) -> None:
    path = f"/v1/experiments/{workspace.experiment_id}/decisions"

    unknown = _call(api, workspace.management_token, "GET", path, params={"format": "xlsx"})

    assert (unknown.status_code, _error(unknown)) == (400, "invalid_input")
    assert unknown.json()["error"]["message"] == "format: expected one of csv, parquet, got 'xlsx'"
