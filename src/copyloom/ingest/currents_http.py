"""Braze Custom HTTP Currents: `{"events": [...]}` bodies → `EmailEvent`s, with PII dropped at once."""

from __future__ import annotations

import json
from collections.abc import Mapping

from copyloom.domain import EmailEvent
from copyloom.errors import InvalidInput
from copyloom.ingest.fields import Pseudonymise, email_event_from_fields


def parse_currents_batch(
    body: bytes, pseudonymise_id: Pseudonymise, max_events: int = 1000
) -> list[EmailEvent]:
    """Parse and validate one Custom HTTP Currents batch.

    Fields are looked up under `user` and `properties` (Braze's layout), then at the top level (the flat
    layout of the S3 Avro records, which some relays forward as JSON).

    Args:
        body: the raw request body.
        pseudonymise_id: the tenant's keyed hash for raw user ids.
        max_events: the most events accepted in one batch.

    Returns:
        The events in body order; event types other than email events have kind "Other".

    Raises:
        InvalidInput: the body or an event is malformed; the message names where, never a value.
    """
    try:
        decoded = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"body: not valid JSON ({type(exc).__name__})") from None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("events"), list):
        raise InvalidInput("body: expected an object with an 'events' list")
    events: list[object] = decoded["events"]
    if len(events) > max_events:
        raise InvalidInput(f"events: {len(events)} events is over the limit of {max_events} per request")
    return [_parse_event(raw, pseudonymise_id, f"events[{i}]") for i, raw in enumerate(events)]


def _parse_event(raw: object, pseudonymise_id: Pseudonymise, where: str) -> EmailEvent:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: expected an object")
    event_type = raw.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidInput(f"{where}.event_type: required, a non-empty string")
    sections = [_section(raw, "user", where), _section(raw, "properties", where), raw]

    def lookup(name: str) -> object:
        for section in sections:
            if section.get(name) is not None:
                return section[name]
        return None

    return email_event_from_fields(lookup, event_type, pseudonymise_id, where)


def _section(raw: Mapping[str, object], name: str, where: str) -> Mapping[str, object]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}.{name}: expected an object")
    return value
