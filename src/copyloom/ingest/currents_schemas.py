"""The Avro records of Braze's Currents email events, as Braze documents them, written down by us.

Each email event type is one Avro record named after the type (`Click`) in the namespace
`dataexport.S3.inner.users.messages.email`, embedded in the header of every file Braze writes. This
module states each record's fields in Braze's order with their types: a plain type is required, an
optional field is the union `["null", type]` with default null (every field Braze has added since the
first version is optional, so readers of older files resolve it). Field meanings are in Braze's Currents
event glossary; `docs/ingestion.md` says which fields copyloom reads.

These are facts of the format, checked field by field against the schemas embedded in Braze's own sample
files by `tests/ingest/test_currents_schemas.py` when `COPYLOOM_BRAZE_SAMPLES` names a folder of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from copyloom.domain.events import EVENT_KINDS, EventKind
from copyloom.ingest.fields import EMAIL_EVENT_PREFIX

NAMESPACE = "dataexport.S3.inner.users.messages.email"
EMAIL_EVENT_KINDS: tuple[EventKind, ...] = tuple(kind for kind in EVENT_KINDS if kind != "Other")
"""The Braze email event types, each with its own record."""
HTTP_USER_FIELDS = ("user_id", "external_user_id", "device_id", "timezone")
"""The fields the Custom HTTP connector nests under `user`; all others but `id` and `time` go under
`properties` (the Avro files have every field at the top level)."""

_AVRO_TYPES: dict[str, object] = {
    "string": "string",
    "int": "int",
    "boolean": "boolean",
    "array<string>": {"type": "array", "items": "string"},
}

# The field lists below use a compact notation: `name` is a required string, `name?` an optional
# string, `name:type` and `name:type?` another type (a key of `_AVRO_TYPES`).
_HEAD = (
    "id user_id dispatch_id? external_user_id? time:int timezone? campaign_id? campaign_name?"
    " message_variation_id? message_variation_name? email_address"
)
"""The fields every engagement and delivery event starts with (Braze's original layout)."""
_CANVAS = (
    "canvas_id? canvas_name? canvas_variation_id? canvas_variation_name? canvas_step_id? canvas_step_name?"
)
_DEVICE = "device_class? device_os? device_model? browser? mailbox_provider?"
_FIELDS: dict[EventKind, str] = {
    "Send": f"{_HEAD} {_CANVAS} send_id? ip_pool? message_extras? app_group_id? from_domain?",
    "Delivery": f"{_HEAD} {_CANVAS} send_id? sending_ip? ip_pool? esp? from_domain? app_group_id?",
    "Open": (
        f"{_HEAD} {_CANVAS} send_id? user_agent? ip_pool? machine_open? esp? from_domain? is_amp:boolean?"
        f" app_group_id? {_DEVICE}"
    ),
    "Click": (
        f"{_HEAD} url? {_CANVAS} send_id? user_agent? ip_pool? link_id? link_alias? esp? from_domain?"
        f" is_amp:boolean? app_group_id? {_DEVICE} is_suspected_bot_click:boolean?"
        " suspected_bot_click_reason:array<string>?"
    ),
    "Bounce": (
        f"{_HEAD} {_CANVAS} send_id? sending_ip? ip_pool? bounce_reason? esp? from_domain? is_drop:boolean?"
        " app_group_id?"
    ),
    "SoftBounce": (
        f"{_HEAD} {_CANVAS} send_id? sending_ip? ip_pool? bounce_reason? esp? from_domain? app_group_id?"
    ),
    "MarkAsSpam": f"{_HEAD} {_CANVAS} send_id? user_agent? ip_pool? esp? from_domain? app_group_id?",
    "Unsubscribe": f"{_HEAD} {_CANVAS} send_id? ip_pool? app_group_id?",
    # The three newer records have orders of their own (Abort's is alphabetical).
    "Abort": (
        "abort_log? abort_type? app_group_id? campaign_id? campaign_name? canvas_id? canvas_name?"
        " canvas_step_id? canvas_step_message_variation_id? canvas_step_name? canvas_variation_id?"
        " canvas_variation_name? device_id? dispatch_id? email_address external_user_id? id ip_pool?"
        " message_variation_id? message_variation_name? send_id? time:int timezone? user_id"
    ),
    "Deferral": (
        "id time:int user_id external_user_id? app_group_id? send_id? campaign_id? message_variation_id?"
        " canvas_id? canvas_variation_id? canvas_step_id? canvas_step_message_variation_id? dispatch_id?"
        " email_address recipient_domain? esp? from_domain? ip_pool? sending_ip? timezone? deferral_reason?"
        " attempt_count:int? campaign_name? message_variation_name? canvas_name? canvas_variation_name?"
        " canvas_step_name?"
    ),
    "Retry": (
        "app_group_id? external_user_id? id time:int user_id retry_type? retry_log? send_id? dispatch_id?"
        " campaign_id? message_variation_id? canvas_id? canvas_variation_id? canvas_step_id?"
        " canvas_step_message_variation_id? gender? country? timezone? language? email_address ip_pool?"
        " campaign_name? message_variation_name? canvas_name? canvas_variation_name? canvas_step_name?"
        " device_id?"
    ),
}


@dataclass(frozen=True)
class CurrentsField:
    """One field of a Currents record: its name, its value type and whether it may be null."""

    name: str
    value_type: str
    """A key of `_AVRO_TYPES`: `string`, `int`, `boolean` or `array<string>`."""
    is_optional: bool

    def avro(self) -> dict[str, Any]:
        """The field as Avro declares it: optional fields are `["null", type]` with default null."""
        value_type = _AVRO_TYPES[self.value_type]
        if self.is_optional:
            return {"name": self.name, "type": ["null", value_type], "default": None}
        return {"name": self.name, "type": value_type}


def _parse_field(token: str) -> CurrentsField:
    is_optional = token.endswith("?")
    name, _, value_type = token.removesuffix("?").partition(":")
    return CurrentsField(name, value_type or "string", is_optional)


_RECORDS: dict[EventKind, tuple[CurrentsField, ...]] = {
    kind: tuple(_parse_field(token) for token in spec.split()) for kind, spec in _FIELDS.items()
}


def currents_fields(kind: EventKind) -> tuple[CurrentsField, ...]:
    """The fields of one email event type's record, in Braze's order.

    Args:
        kind: an email event type (any of `EMAIL_EVENT_KINDS`).

    Raises:
        KeyError: `kind` is not an email event type (e.g. ``Other``).
    """
    return _RECORDS[kind]


def currents_schema(kind: EventKind) -> dict[str, Any]:
    """The Avro record schema of one email event type, as Braze embeds it in its files (less the docs).

    Args:
        kind: an email event type (any of `EMAIL_EVENT_KINDS`).

    Returns:
        A new JSON-like dict each call, so a caller may change its copy.

    Raises:
        KeyError: `kind` is not an email event type (e.g. ``Other``).
    """
    return {
        "type": "record",
        "name": kind,
        "namespace": NAMESPACE,
        "fields": [field.avro() for field in _RECORDS[kind]],
    }


def event_type_of(kind: EventKind) -> str:
    """Braze's full event type, e.g. ``users.messages.email.Click``."""
    return EMAIL_EVENT_PREFIX + kind
