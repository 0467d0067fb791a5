"""Braze email event fields → `EmailEvent`, shared by the Custom HTTP (JSON) and S3 (Avro) readers.

Only the fields the optimiser needs are read: ids, time, dispatch and campaign or step, the bot and
machine-open flags, whether a bot-click reason is given (never its text) and the clicked link's alias.
Everything else Braze sends (email address, user agent, URL, time zone, message
extras, bounce, abort and deferral texts, IP pool, device details) is never read into the event.
Error messages name field paths and types, never values: a value may be personal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from copyloom.domain.events import EVENT_KINDS, EmailEvent, EventKind
from copyloom.domain.text import field_text
from copyloom.domain.values import RecipientKey
from copyloom.errors import InvalidInput

EMAIL_EVENT_PREFIX = "users.messages.email."
REDACTED = "[REDACTED]"  # what Braze's "Remove" field transformation writes
SECTION_OF_FIELD: Mapping[str, str] = {
    "user_id": "user",
    "external_user_id": "user",
    "dispatch_id": "properties",
    "campaign_id": "properties",
    "canvas_step_id": "properties",
    "is_suspected_bot_click": "properties",
    "machine_open": "properties",
    "suspected_bot_click_reason": "properties",
    "link_alias": "properties",
}
"""Where Braze's Custom HTTP layout nests each field; the S3 Avro layout has them all at the top level."""

_OPTIONAL_TEXT = (
    "user_id",
    "external_user_id",
    "dispatch_id",
    "campaign_id",
    "canvas_step_id",
    "machine_open",
    "link_alias",
)
READ_FIELDS = frozenset(
    ("id", "time", "is_suspected_bot_click", "suspected_bot_click_reason", *_OPTIONAL_TEXT)
)
"""Every field of a Braze email event that copyloom reads; the others are never decoded or kept."""
_INT64 = range(-(2**63), 2**63)
_JSON_TYPE_NAMES = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}

Pseudonymise = Callable[[str], RecipientKey]
FieldLookup = Callable[[str], object]
"""`fields(name)` is the field's value, or None when it is missing."""


def event_kind_from_type(event_type: str) -> EventKind:
    """Map a Braze event type to the kind of email event it records.

    Args:
        event_type: Braze's type, e.g. ``users.messages.email.Click``.

    Returns:
        The kind (``Click``), or ``Other`` for anything that is not a known email event type.
    """
    short = event_type.removeprefix(EMAIL_EVENT_PREFIX)
    if short != event_type:
        for kind in EVENT_KINDS:
            if kind == short and kind != "Other":
                return kind
    return "Other"


def email_event_from_record(
    record: Mapping[str, object], event_type: str, pseudonymise_id: Pseudonymise, where: str
) -> EmailEvent:
    """Build an event from one decoded record, nested (Custom HTTP) or flat (S3 Avro).

    Each field is looked up in its Braze section (`user` or `properties`, see `SECTION_OF_FIELD`) and,
    when missing or null there, at the top level; `id` and `time` are top-level fields.

    Args:
        record: the decoded event.
        event_type: Braze's event type, already read from the record or the file's schema.
        pseudonymise_id: the tenant's keyed hash for raw user ids.
        where: the record's place for error messages, e.g. ``events[3]``.

    Returns:
        The event, without any personal field and with user ids pseudonymised.

    Raises:
        InvalidInput: a section that is not an object, a required field missing or a field of the
            wrong type, named by its path (``events[3].properties.dispatch_id``).
    """
    sections = {name: _section(record, name, where) for name in ("user", "properties")}

    def located(name: str) -> tuple[object, str]:
        section = SECTION_OF_FIELD.get(name)
        if section is not None and sections[section].get(name) is not None:
            return sections[section][name], f"{where}.{section}.{name}"
        return record.get(name), f"{where}.{name}"

    return email_event_from_fields(
        lambda name: located(name)[0],
        event_type,
        pseudonymise_id,
        where,
        path_of=lambda name: located(name)[1],
    )


def email_event_from_fields(
    fields: FieldLookup,
    event_type: str,
    pseudonymise_id: Pseudonymise,
    where: str,
    *,
    path_of: Callable[[str], str] | None = None,
) -> EmailEvent:
    """Build an event from a field lookup, e.g. a flat Avro record's `get`.

    Args:
        fields: returns a field's value, or None when it is missing.
        event_type: Braze's event type.
        pseudonymise_id: the tenant's keyed hash for raw user ids.
        where: the record's place for error messages, e.g. ``record 12``.
        path_of: a field's path for error messages; ``{where}.{name}`` by default.

    Returns:
        The event, without any personal field and with user ids pseudonymised.

    Raises:
        InvalidInput: a required field missing or a field of the wrong type, named by its path.
    """

    def path(name: str) -> str:
        return path_of(name) if path_of is not None else f"{where}.{name}"

    event_id = fields("id")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidInput(f"{path('id')}: required, a non-empty string")
    field_text(path("id"), "id", event_id)
    time_s = _time_s(fields("time"), path("time"))
    text = {name: _optional_text(fields(name), name, path(name)) for name in _OPTIONAL_TEXT}
    is_bot = _optional_flag(fields("is_suspected_bot_click"), path("is_suspected_bot_click"))
    reasons = _optional_texts(fields("suspected_bot_click_reason"), "suspected_bot_click_reason", path)
    return EmailEvent(
        event_id=event_id,
        kind=event_kind_from_type(event_type),
        time_s=time_s,
        user_key=_pseudonymised(text["user_id"], pseudonymise_id),
        external_user_key=_pseudonymised(text["external_user_id"], pseudonymise_id),
        dispatch_id=text["dispatch_id"] or None,
        campaign_id=text["campaign_id"] or None,
        canvas_step_id=text["canvas_step_id"] or None,
        is_suspected_bot_click=is_bot,
        # a string, "true" or null, whose "value may change over time to provide more granularity" (Braze)
        is_machine_open=(text["machine_open"] or "").lower() == "true",
        has_bot_click_reason=any(reasons),
        link_alias=text["link_alias"] or None,
    )


def type_name(value: object) -> str:
    """The JSON name of a value's type (``string``, ``number``, ``object``...), for error messages."""
    if value is None:
        return "null"
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _section(record: Mapping[str, object], name: str, where: str) -> Mapping[str, object]:
    value = record.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where}.{name}: expected an object, got {type_name(value)}")
    return value


def _time_s(value: object, path: str) -> int:
    # bool is a subclass of int in Python, but `true` is no timestamp
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{path}: required, an integer (UNIX seconds)")
    if value not in _INT64:
        raise InvalidInput(f"{path}: out of range for a 64-bit integer")
    return int(value)


def _optional_text(value: object, name: str, path: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return field_text(path, name, value)
    raise InvalidInput(f"{path}: expected a string or null, got {type_name(value)}")


def _optional_texts(value: object, name: str, path: Callable[[str], str]) -> list[str]:
    """A list of strings or null (Braze's `array<string>?`), each passing the text rule."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{path(name)}: expected a list of strings or null, got {type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidInput(f"{path(name)}[{i}]: expected a string, got {type_name(item)}")
        field_text(f"{path(name)}[{i}]", name, item)
    return value


def _optional_flag(value: object, path: str) -> bool:
    if value is None or isinstance(value, bool):
        return value is True
    raise InvalidInput(f"{path}: expected true, false or null, got {type_name(value)}")


def _pseudonymised(raw: str | None, pseudonymise_id: Pseudonymise) -> RecipientKey | None:
    if not raw or raw == REDACTED:
        return None
    return pseudonymise_id(raw)
