"""The management API's bodies: how each is checked at the edge, and the JSON Schema the OpenAPI document
gives it, side by side so that the two cannot drift (the fuzz suite sends what the schemas allow and what
they refuse).

A definition is then validated by the same parser as the CLI's files (`domain/definition.py`); the edge
adds what only an HTTP body needs: text that the store can hold (no lone surrogate, no control character
but newlines and tabs in wordings) and the name's length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from copyloom.domain.context import MAX_CATEGORY_CHARS, MAX_NAME_CHARS
from copyloom.domain.text import TEXT_LIMITS, checked_text, parse_json
from copyloom.domain.values import (
    GUARDRAIL_ACTIONS,
    GUARDRAIL_METRICS,
    MAX_CONTEXT_FIELDS,
    MAX_CTA_LINKS,
    MAX_ID_CHARS,
    MAX_MIN_SENDS_PER_VARIANT,
    MAX_SEGMENTS_PER_FIELD,
    MAX_SOURCES,
    MAX_TEXT_CHARS,
    MAX_VARIANTS,
    METRICS,
    MIN_VARIANTS,
    MODES,
    RECIPIENT_FIELDS,
    STATUSES,
    STICKY_SCOPES,
    VARIANT_STATUSES,
)
from copyloom.errors import InvalidInput

NO_CONTROL = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
"""The edge's rule for text as a JSON Schema pattern (a lone surrogate is refused too; no pattern can say
so)."""
_WORDING_WHITESPACE = re.compile("[\t\n\r]")


def text_schema(max_chars: int | None = None, *, min_chars: int = 0, description: str = "") -> dict[str, Any]:
    """A text under the edge's rule, as a JSON Schema."""
    schema: dict[str, Any] = {"type": "string", "pattern": NO_CONTROL}
    if max_chars is not None:
        schema["maxLength"] = max_chars
    if min_chars:
        schema["minLength"] = min_chars
    if description:
        schema["description"] = description
    return schema


def definition_body(body: bytes) -> object:
    """A create request's decoded definition, its texts checked; the parser checks the rest.

    Raises:
        InvalidInput: not JSON, not an object, or a text the edge refuses, naming the field.
    """
    raw = parse_json(body)
    if not isinstance(raw, dict):
        raise InvalidInput("body: expected an experiment definition, a JSON object")
    _check_texts(raw, "")
    name = raw.get("name")
    if isinstance(name, str):
        checked_text("name", name, max_chars=TEXT_LIMITS["experiment_name"])
    variants = raw.get("variants")
    for i, variant in enumerate(variants if isinstance(variants, list) else ()):
        if isinstance(variant, dict) and isinstance(variant.get("id"), str):
            checked_text(f"variants[{i}].id", variant["id"], max_chars=MAX_ID_CHARS)
    return raw


def _check_texts(value: object, where: str) -> None:
    """Every key and text of a decoded body under the edge's rule (wordings may hold newlines and tabs)."""
    if isinstance(value, str):
        checked_text(where, _WORDING_WHITESPACE.sub(" ", value), max_chars=MAX_TEXT_CHARS)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_texts(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            checked_text(f"{where or 'body'}: a field name", key, max_chars=TEXT_LIMITS["placement"])
            _check_texts(item, f"{where}.{key}" if where else key)


def finish_serve(body: bytes) -> str | None:
    """What a finish request asks the experiment to serve: None (an empty body, or no `serve`) means the
    declared winner.

    Raises:
        InvalidInput: not a JSON object, an unknown field, or `serve` that is not a text.
    """
    if not body.strip():
        return None
    raw = parse_json(body)
    if not isinstance(raw, dict):
        raise InvalidInput('body: expected a JSON object, e.g. {"serve": "leader"}')
    for key in raw:
        if key != "serve":
            checked_text("body: a field name", key, max_chars=TEXT_LIMITS["placement"])
            raise InvalidInput(f"{key}: unknown field")
    serve = raw.get("serve")
    if serve is None and "serve" not in raw:
        return None
    if not isinstance(serve, str):
        raise InvalidInput("serve: expected winner, leader, control or a variant id")
    return checked_text("serve", serve, max_chars=TEXT_LIMITS["serve"])


def _enum(values: tuple[str, ...], default: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values), "default": default}


_SOURCE_IDS: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_SOURCES,
    "items": text_schema(TEXT_LIMITS["source"], min_chars=1),
}

_CONTEXT_FIELD: dict[str, Any] = {
    "type": "object",
    "description": (
        "a coarse piece of recipient context Braze fills (docs/braze-setup.md#segments-context-from-braze): "
        "its name (the URL parameter ctx_<name>), the Braze expression, and categories or buckets"
    ),
    "required": ["name", "braze"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": f"^[a-z0-9_]{{1,{MAX_NAME_CHARS}}}$"},
        "braze": {
            "type": "string",
            "description": "${language}, ${country}, ${time_zone}, ${most_recent_locale}, "
            "${random_bucket_number}, custom_attribute.${<name>} or canvas_entry_properties.${<name>}",
        },
        "categories": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_SEGMENTS_PER_FIELD - 2,
            "items": text_schema(MAX_CATEGORY_CHARS, min_chars=1),
            "description": "a closed list; other values map to `other`, none to `unknown`",
        },
        "buckets": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_SEGMENTS_PER_FIELD - 2,
            "items": {"type": "number"},
            "description": "strictly increasing edges; [1, 5, 20] gives <1, 1-5, 5-20, >=20 (and unknown)",
        },
    },
}

_VARIANT: dict[str, Any] = {
    "type": "object",
    "description": "a wording: its id, whether it is the control, and one text per placement (e.g. subject)",
    "required": ["id"],
    "properties": {
        "id": {
            "anyOf": [text_schema(MAX_ID_CHARS, min_chars=1), {"type": "integer"}],
            "description": "letters, digits, '-' or '_'",
        },
        "control": {"type": "boolean", "default": False},
    },
    "propertyNames": text_schema(TEXT_LIMITS["placement"]),
    "additionalProperties": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS},
}

DEFINITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "the experiment definition, as `copyloom experiment create` reads it from a file",
    "required": ["name", "variants"],
    "additionalProperties": False,
    "properties": {
        "name": {"anyOf": [text_schema(TEXT_LIMITS["experiment_name"], min_chars=1), {"type": "integer"}]},
        "mode": _enum(MODES, "broadcast"),
        "metric": _enum(METRICS, "click"),
        "recipient_field": _enum(RECIPIENT_FIELDS, "user_id"),
        "sticky": _enum(STICKY_SCOPES, "recipient"),
        "variants": {"type": "array", "minItems": MIN_VARIANTS, "maxItems": MAX_VARIANTS, "items": _VARIANT},
        "floor": {"type": "number", "minimum": 0},
        "control_holdout": {"type": "number", "minimum": 0},
        "min_sends_per_variant": {"type": "integer", "minimum": 0, "maximum": MAX_MIN_SENDS_PER_VARIANT},
        "cta_links": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_CTA_LINKS,
            "items": text_schema(TEXT_LIMITS["link_alias"], min_chars=1),
        },
        "campaign_ids": _SOURCE_IDS,
        "canvas_step_ids": _SOURCE_IDS,
        "auto_retire": {
            "description": "triggered mode only: retire a variant whose P(best) stayed low (true: defaults)",
            "anyOf": [
                {"type": "boolean"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "p_best_below": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5},
                        "for_hours": {"type": "number", "minimum": 1, "maximum": 2160},
                        "min_sends": {"type": "integer", "minimum": 0, "maximum": MAX_MIN_SENDS_PER_VARIANT},
                    },
                },
            ],
        },
        "context": {"type": "array", "minItems": 1, "maxItems": MAX_CONTEXT_FIELDS, "items": _CONTEXT_FIELD},
        "guardrails": {
            "description": "on by default; false turns them off (docs/reports.md#guardrails)",
            "anyOf": [
                {"type": "boolean"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "metrics": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "enum": list(GUARDRAIL_METRICS)},
                        },
                        "margin": {"type": "number", "minimum": 0, "maximum": 10},
                        "confidence": {"type": "number", "minimum": 0.5, "exclusiveMaximum": 1},
                        "action": {"type": "string", "enum": list(GUARDRAIL_ACTIONS)},
                        "min_events": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                    },
                },
            ],
        },
    },
}

VARIANT_SCHEMA: dict[str, Any] = {
    **_VARIANT,
    "description": "a wording to add: its id and one text per placement, the placements of the others",
}
VARIANT_EXAMPLE: dict[str, Any] = {"id": "v3", "subject": "Black Friday starts now"}


def variant_body(body: bytes) -> object:
    """An add-variant request's decoded wording, its texts checked; the parser checks the rest."""
    raw = parse_json(body)
    if not isinstance(raw, dict):
        raise InvalidInput("body: expected a variant, a JSON object with id and placement texts")
    _check_texts(raw, "variant")
    if isinstance(raw.get("id"), str):
        checked_text("variant.id", raw["id"], max_chars=MAX_ID_CHARS)
    return raw


DEFINITION_EXAMPLE: dict[str, Any] = {
    "name": "Black Friday subject",
    "mode": "broadcast",
    "metric": "click",
    "variants": [
        {"id": "control", "control": True, "subject": "Our Black Friday sale"},
        {"id": "v1", "subject": "Black Friday: 30% off everything"},
    ],
}
"""A valid definition: the document's example, which the fuzz suite also sends (random definitions are
almost never valid, one control and the same placements in every variant being unlikely by chance)."""

FINISH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "serve": text_schema(
            TEXT_LIMITS["serve"],
            min_chars=1,
            description="winner (the default), leader, control, or a variant id",
        )
    },
}

_ID = {"type": "string"}
_NULLABLE_ID = {"type": ["string", "null"]}
_STATUS = {"type": "string", "enum": list(STATUSES)}
_COUNT = {"type": "integer", "minimum": 0}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}

CREATED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["experiment_id"],
    "properties": {"experiment_id": _ID},
}

STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["experiment_id", "status", "winner"],
    "properties": {"experiment_id": _ID, "status": _STATUS, "winner": _NULLABLE_ID},
}

LIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["experiments"],
    "properties": {
        "experiments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["experiment_id", "name", "status", "mode"],
                "properties": {
                    "experiment_id": _ID,
                    "name": {"type": "string"},
                    "status": _STATUS,
                    "mode": {"type": "string", "enum": list(MODES)},
                },
            },
        }
    },
}

_VARIANT_FIGURES = (
    "sends", "clicks", "cta_clicks", "opens", "bot_clicks", "machine_opens", "delivered", "bounced",
    "unsubscribed", "spam",
)  # fmt: skip

SHOW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["experiment_id", "name", "status", "winner", "allocated_at", "variants"],
    "properties": {
        "experiment_id": _ID,
        "name": {"type": "string"},
        "status": _STATUS,
        "winner": _NULLABLE_ID,
        "allocated_at": {"type": ["number", "null"], "description": "when the served weights were computed"},
        "variants": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["variant_id", "control", "weight", "p_best", *_VARIANT_FIGURES],
                "properties": {
                    "variant_id": _ID,
                    "control": {"type": "boolean"},
                    **dict.fromkeys(_VARIANT_FIGURES, _COUNT),
                    "weight": _SHARE,
                    "p_best": _SHARE,
                },
            },
        },
    },
}


VARIANTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["experiment_id", "status", "variants"],
    "properties": {
        "experiment_id": _ID,
        "status": _STATUS,
        "variants": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["variant_id", "control", "status"],
                "properties": {
                    "variant_id": _ID,
                    "control": {"type": "boolean"},
                    "status": {"type": "string", "enum": list(VARIANT_STATUSES)},
                    "added_at": {"type": ["number", "null"]},
                    "retired_at": {"type": ["number", "null"]},
                    "retired_by": {"type": ["string", "null"], "enum": ["manual", "auto", None]},
                },
            },
        },
    },
}


def json_content(schema: Mapping[str, Any], example: object = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": dict(schema)}
    if example is not None:
        content["example"] = example
    return {"application/json": content}
