"""GET /v1/openapi.json: a valid OpenAPI document of every public route, served without a token."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate
from starlette.routing import Route

from copyloom.domain.text import TEXT_LIMITS
from copyloom.server import build_app
from copyloom.settings import Settings, load_settings
from copyloom.storage.db import Store
from copyloom.web.management import OPERATIONS
from copyloom.web.openapi import openapi_document
from tests.helpers import Api

_DOCUMENT: dict[str, Any] = openapi_document(max_events_per_post=load_settings({}).max_events_per_post)


def _operations(document: dict[str, object]) -> set[tuple[str, str]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {(method.upper(), path) for path, item in paths.items() for method in item}


def test_the_document_is_valid_openapi() -> None:
    validate(_DOCUMENT)  # raises on any violation of the OpenAPI 3.1 specification


def _max_events(document: dict[str, Any]) -> object:
    body = document["paths"]["/v1/events"]["post"]["requestBody"]
    return body["content"]["application/json"]["schema"]["properties"]["events"]["maxItems"]


def test_the_document_carries_the_validators_limits() -> None:
    content = _DOCUMENT["paths"]["/v1/content/{experiment_id}"]["get"]
    limits = {p["name"]: p["schema"].get("maxLength") for p in content["parameters"]}
    event = _DOCUMENT["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    event_id = event["properties"]["events"]["items"]["properties"]["id"]

    assert {name: limits[name] for name in ("recipient", "dispatch", "placement", "experiment_id")} == {
        name: TEXT_LIMITS[name] for name in ("recipient", "dispatch", "placement", "experiment_id")
    }
    assert event_id["maxLength"] == TEXT_LIMITS["id"]
    assert _max_events(_DOCUMENT) == load_settings({}).max_events_per_post
    assert _max_events(openapi_document(max_events_per_post=7)) == 7


def test_every_public_route_is_in_the_document(settings: Settings, store: Store) -> None:
    app = build_app(settings, store, with_learner=False)
    public = {
        (method, route.path)
        for route in app.routes
        # The root only redirects to the dashboard: both are in docs/dashboard.md, not the API's document.
        if isinstance(route, Route) and route.path != "/" and not route.path.startswith("/dashboard")
        for method in route.methods or ()
        if method != "HEAD"  # Starlette adds HEAD to every GET route
    }

    assert public == _operations(_DOCUMENT)


def test_the_document_is_served_without_a_token(api: Api) -> None:
    response = api.client.get("/v1/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == openapi_document(max_events_per_post=load_settings({}).max_events_per_post)


def test_each_operation_names_the_token_it_takes() -> None:
    schemes = {
        (method.upper(), path): next(iter(operation["security"][0]), None)
        if "security" in operation
        else None
        for path, item in _DOCUMENT["paths"].items()
        for method, operation in item.items()
    }

    assert schemes[("GET", "/v1/content/{experiment_id}")] == "bearer"
    assert schemes[("POST", "/v1/events")] == "bearer"
    assert schemes[("GET", "/metrics")] == "operator"
    assert schemes[("GET", "/v1/pixel/{token}.gif")] is None
    management = {key: scheme for key, scheme in schemes.items() if key[1].startswith("/v1/experiments")}
    assert {(op.method, op.path) for op in OPERATIONS} == set(management)
    assert set(management.values()) == {"management"}
    assert (
        "forbidden"
        in _DOCUMENT["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    )
