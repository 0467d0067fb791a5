"""The public HTTP API as an OpenAPI 3.1 document, served at `GET /v1/openapi.json`.

Data only: the limits come from the same constants and settings as the validators, so the document and the
answers cannot drift apart. The fuzz suite (`tests/system/test_fuzz.py`) generates requests from it and
fails on any answer that breaks it. The dashboard is not part of it (HTML pages behind a session cookie).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from copyloom.domain.text import TEXT_LIMITS
from copyloom.web.management import OPERATIONS, Operation
from copyloom.web.management_bodies import text_schema as _text

OPENAPI_PATH = "/v1/openapi.json"

_INT64 = 2**63

_ERROR_CODES = [
    "invalid_input",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "payload_too_large",
    "rate_limited",
    "store_unavailable",
    "internal_error",
]


def _error(description: str, **headers: str) -> dict[str, object]:
    response: dict[str, object] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        response["headers"] = {
            name: {"schema": {"type": "string"}, "description": text} for name, text in headers.items()
        }
    return response


_ERRORS: dict[str, dict[str, object]] = {
    "400": _error("a missing or malformed parameter or body; the message names the field"),
    "401": _error(
        "no bearer token, or an unknown or revoked one", **{"WWW-Authenticate": 'Bearer realm="copyloom"'}
    ),
    "403": _error("a token of the other scope: the serving token on a management route, or the reverse"),
    "404": _error("no such experiment, or one of another tenant"),
    "409": _error("a status change the experiment's status does not allow, or no winner to finish with"),
    "405": _error("a method the route does not take"),
    "413": _error("a body over COPYLOOM_MAX_BODY_BYTES"),
    "429": _error("the tenant is over its rate limit", **{"Retry-After": "seconds to wait"}),
    "503": _error("the database cannot be reached"),
}


def _errors(*statuses: str) -> dict[str, dict[str, object]]:
    return {status: _ERRORS[status] for status in statuses}


_CONTENT_FIELDS: dict[str, dict[str, object]] = {
    "recipient": _text(
        TEXT_LIMITS["recipient"], description="the Braze user id or external id; pseudonymised at once"
    ),
    "dispatch": _text(
        TEXT_LIMITS["dispatch"], description="the Braze dispatch id; clicks and opens are attributed by it"
    ),
    "source": _text(
        TEXT_LIMITS["source"],
        description="the Braze campaign or Canvas step API id; from one the experiment does not name, "
        "the answer is the control, unassigned",
    ),
    "format": {"type": "string", "enum": ["json", "text"], "default": "json"},
    "placement": _text(
        TEXT_LIMITS["placement"], description="with format=text: the placement whose text to return"
    ),
}

_CONTENT_PARAMETERS: list[dict[str, object]] = [
    {
        "name": "experiment_id",
        "in": "path",
        "required": True,
        "schema": _text(TEXT_LIMITS["experiment_id"], min_chars=1),
    },
    *(
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in _CONTENT_FIELDS.items()
    ),
]

_CONTENT_RESPONSES: dict[str, object] = {
    "200": {
        "description": "the variant texts for the recipient, one key per placement",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Content"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    },
    **_errors("400", "401", "403", "404", "413", "429", "503"),
}

_CONTENT_BODY = {"type": "object", "properties": _CONTENT_FIELDS}


def _content_get() -> dict[str, object]:
    return {
        "operationId": "getContent",
        "summary": "The variant texts for one recipient (Braze Connected Content, GET mode)",
        "description": "recipient is required, in the query.",
        "security": [{"bearer": []}],
        "parameters": _CONTENT_PARAMETERS,
        "responses": _CONTENT_RESPONSES,
    }


def _content_post() -> dict[str, object]:
    return {
        "operationId": "postContent",
        "summary": "The variant texts for one recipient (Braze Connected Content, POST mode)",
        "description": "recipient is required, in the body or the query; body values win.",
        "security": [{"bearer": []}],
        "parameters": _CONTENT_PARAMETERS,
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {"schema": _CONTENT_BODY},
                "application/x-www-form-urlencoded": {"schema": _CONTENT_BODY},
            },
        },
        "responses": _CONTENT_RESPONSES,
    }


def _event() -> dict[str, object]:
    return {
        "type": "object",
        "description": "one Braze Currents event; fields other than these are accepted and dropped unread",
        "required": ["event_type", "id", "time"],
        "properties": {
            "event_type": _text(min_chars=1, description="e.g. users.messages.email.Click"),
            "id": _text(TEXT_LIMITS["id"], min_chars=1, description="Braze's event id; counted once"),
            "time": {"type": "integer", "minimum": -_INT64, "maximum": _INT64 - 1, "description": "UNIX s"},
            "user": {
                "type": ["object", "null"],
                "properties": {
                    "user_id": {"anyOf": [_text(TEXT_LIMITS["user_id"]), {"type": "null"}]},
                    "external_user_id": {"anyOf": [_text(TEXT_LIMITS["user_id"]), {"type": "null"}]},
                },
            },
            "properties": {
                "type": ["object", "null"],
                "properties": {
                    "dispatch_id": {"anyOf": [_text(TEXT_LIMITS["dispatch_id"]), {"type": "null"}]},
                    "campaign_id": {"anyOf": [_text(TEXT_LIMITS["campaign_id"]), {"type": "null"}]},
                    "canvas_step_id": {"anyOf": [_text(TEXT_LIMITS["canvas_step_id"]), {"type": "null"}]},
                    "is_suspected_bot_click": {"type": ["boolean", "null"]},
                    "machine_open": {"anyOf": [_text(TEXT_LIMITS["machine_open"]), {"type": "null"}]},
                    "suspected_bot_click_reason": {
                        "anyOf": [
                            {"type": "array", "items": _text(TEXT_LIMITS["suspected_bot_click_reason"])},
                            {"type": "null"},
                        ]
                    },
                    "link_alias": {"anyOf": [_text(TEXT_LIMITS["link_alias"]), {"type": "null"}]},
                },
            },
        },
    }


def _events(max_events: int) -> dict[str, object]:
    return {
        "operationId": "postEvents",
        "summary": "A Braze Custom HTTP Currents batch",
        "security": [{"bearer": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["events"],
                        "properties": {
                            "events": {"type": "array", "maxItems": max_events, "items": _event()}
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "the batch's tally",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Tally"}}},
            },
            **_errors("400", "401", "403", "413", "429", "503"),
        },
    }


def _pixel() -> dict[str, object]:
    return {
        "operationId": "getPixel",
        "summary": "The open pixel: always a 1x1 GIF; a valid token records one unique open",
        "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": {
                "description": "the GIF, also for a forged, truncated or unknown token",
                "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    }


def _health() -> dict[str, object]:
    return {
        "operationId": "getHealth",
        "summary": "ok, or degraded while the store is unreachable (still 200)",
        "responses": {
            "200": {
                "description": "the process's health",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
            }
        },
    }


def _document(operation_id: str, summary: str, media_type: str, type_: str) -> dict[str, object]:
    content = {media_type: {"schema": {"type": type_}}}
    return {
        "operationId": operation_id,
        "summary": summary,
        "responses": {"200": {"description": summary, "content": content}},
    }


def _metrics() -> dict[str, object]:
    """For the operator only: the metrics token, never a tenant's serving token."""
    operation = _document("getMetrics", "Prometheus metrics of this API process", "text/plain", "string")
    operation["security"] = [{"operator": []}]
    operation["responses"] = {
        **operation["responses"],  # type: ignore[dict-item]  # _document builds a dict
        "401": _error(
            "no operator token, or another one (a serving token is not one)",
            **{"WWW-Authenticate": 'Bearer realm="copyloom"'},
        ),
        "404": _error("COPYLOOM_METRICS_TOKEN is not set: there is no metrics page"),
    }
    return operation


_TALLY = ("received", "accepted", "duplicate", "ignored", "unattributed")


def _components() -> dict[str, object]:
    count = {"type": "integer", "minimum": 0}
    return {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "a tenant's serving token"},
            "management": {"type": "http", "scheme": "bearer", "description": "a tenant's management token"},
            "operator": {"type": "http", "scheme": "bearer", "description": "the COPYLOOM_METRICS_TOKEN"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "additionalProperties": False,
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "additionalProperties": False,
                        "properties": {
                            "code": {"type": "string", "enum": _ERROR_CODES},
                            "message": {"type": "string"},
                        },
                    }
                },
            },
            "Content": {
                "type": "object",
                "required": ["experiment_id", "variant_id", "pixel_url"],
                "properties": {"pixel_url": {"type": "string", "format": "uri"}},
                "additionalProperties": {"type": "string"},
            },
            "Tally": {
                "type": "object",
                "required": list(_TALLY),
                "additionalProperties": False,
                "properties": dict.fromkeys(_TALLY, count),
            },
            "Health": {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {"type": "string", "enum": ["ok", "degraded"]},
                    "store": {"type": "string"},
                    "journal_depth": count,
                    "degraded_since": {"type": "number"},
                },
            },
        },
    }


def _management_paths() -> dict[str, dict[str, object]]:
    """The management API's operations, from the table its routes are built from (`web/management.py`)."""
    paths: dict[str, dict[str, object]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _management_operation(operation)
    return paths


def _management_operation(operation: Operation) -> dict[str, object]:
    described: dict[str, object] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "security": [{"management": []}],
        "responses": {**operation.success, **_errors(*operation.errors)},
    }
    if operation.description:
        described["description"] = operation.description
    if operation.parameters:
        described["parameters"] = [dict(parameter) for parameter in operation.parameters]
    if operation.request_body is not None:
        described["requestBody"] = dict(operation.request_body)
    return described


def openapi_document(*, max_events_per_post: int) -> dict[str, object]:
    """The OpenAPI 3.1 document of the public routes, with this process's configured limits.

    Args:
        max_events_per_post: `COPYLOOM_MAX_EVENTS_PER_POST`, the most events in one batch.

    Returns:
        The document as JSON-ready data.
    """
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "copyloom public API",
            "version": "1",
            "description": "Connected Content, the open pixel, the Currents webhook, health, and the "
            "management API (docs/http-api.md).",
        },
        "paths": {
            "/v1/content/{experiment_id}": {"get": _content_get(), "post": _content_post()},
            "/v1/pixel/{token}.gif": {"get": _pixel()},
            "/v1/events": {"post": _events(max_events_per_post)},
            "/healthz": {"get": _health()},
            "/metrics": {"get": _metrics()},
            OPENAPI_PATH: {"get": _document("getOpenapi", "This document", "application/json", "object")},
            **_management_paths(),
        },
        "components": _components(),
    }


def openapi_endpoint(*, max_events_per_post: int) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint serving the document, rendered once; it needs no token."""
    body = json.dumps(openapi_document(max_events_per_post=max_events_per_post)).encode()

    async def openapi(_request: Request) -> Response:
        return Response(body, media_type="application/json")

    return openapi
