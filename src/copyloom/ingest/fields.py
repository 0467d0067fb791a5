"""Braze email event fields → `EmailEvent`, shared by the Custom HTTP (JSON) and S3 (Avro) readers.

Only the fields the optimiser needs are read: ids, time, dispatch and campaign or step, and the bot and
machine-open flags. Everything else Braze sends (email address, user agent, URL, time zone, message
extras, bounce, abort and deferral texts, IP pool, device details) is never read into the event.
Error messages name field paths and types, never values: a value may be personal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from copyloom.domain import EVENT_KINDS, EmailEvent, EventKind, RecipientKey
from copyloom.errors import InvalidInput

EMAIL_EVENT_PREFIX = "users.messages.email."
REDACTED = "[REDACTED]"  # what Braze's "Remove" field transformation writes
_OPTIONAL_TEXT = ("dispatch_id", "campaign_id", "canvas_step_id", "user_id", "external_user_id")

Pseudonymise = Callable[[str], RecipientKey]
Record = Mapping[str, object]


def event_kind_from_type(event_type: str) -> EventKind:
    """`users.messages.email.Click` → `Click`; any other event type → `Other`."""
    if event_type.startswith(EMAIL_EVENT_PREFIX):
        short = event_type.removeprefix(EMAIL_EVENT_PREFIX)
        for kind in EVENT_KINDS:
            if kind == short and kind != "Other":
                return kind
    return "Other"


def email_event_from_fields(
    fields: Callable[[str], object], event_type: str, pseudonymise_id: Pseudonymise, where: str
) -> EmailEvent:
    """Build an event from a field lookup (`fields(name)` returns the value or None).

    Raises:
        InvalidInput: a required field missing or a field of the wrong type, named as `{where}.{field}`.
    """
    event_id = fields("id")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidInput(f"{where}.id: required, a non-empty string")
    time_s = fields("time")
    if not isinstance(time_s, int) or isinstance(time_s, bool):
        raise InvalidInput(f"{where}.time: required, an integer (UNIX seconds)")
    text = {name: _optional_text(fields(name), f"{where}.{name}") for name in _OPTIONAL_TEXT}
    bot = fields("is_suspected_bot_click")
    if bot is not None and not isinstance(bot, bool):
        raise InvalidInput(f"{where}.is_suspected_bot_click: expected true, false or null")
    machine_open = _optional_text(fields("machine_open"), f"{where}.machine_open")
    return EmailEvent(
        event_id=event_id,
        kind=event_kind_from_type(event_type),
        time_s=int(time_s),
        user_key=_pseudonymised(text["user_id"], pseudonymise_id),
        external_user_key=_pseudonymised(text["external_user_id"], pseudonymise_id),
        dispatch_id=text["dispatch_id"] or None,
        campaign_id=text["campaign_id"] or None,
        canvas_step_id=text["canvas_step_id"] or None,
        is_suspected_bot_click=bot is True,
        is_machine_open=(machine_open or "").lower() == "true",
    )


def _optional_text(value: object, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidInput(f"{where}: expected a string or null, got {type(value).__name__}")


def _pseudonymised(raw: str | None, pseudonymise_id: Pseudonymise) -> RecipientKey | None:
    if not raw or raw == REDACTED:
        return None
    return pseudonymise_id(raw)
