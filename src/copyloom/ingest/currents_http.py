"""Braze Custom HTTP Currents: `{"events": [...]}` bodies → `EmailEvent`s, with PII dropped at once."""

from __future__ import annotations

from copyloom.domain.events import EmailEvent
from copyloom.domain.text import field_text, parse_json
from copyloom.errors import InvalidInput
from copyloom.ingest.fields import Pseudonymise, email_event_from_record, type_name


def parse_currents_batch(
    body: bytes, pseudonymise_id: Pseudonymise, max_events: int = 1000
) -> list[EmailEvent]:
    """Parse and validate one Custom HTTP Currents batch.

    Fields are looked up under `user` and `properties` (Braze's layout), then at the top level (the flat
    layout of the S3 Avro records, which some relays forward as JSON).

    Args:
        body: the raw request body, UTF-8 JSON.
        pseudonymise_id: the tenant's keyed hash for raw user ids.
        max_events: the most events accepted in one batch.

    Returns:
        The events in body order (none for an empty `events` list); event types other than email
        events have kind "Other".

    Raises:
        InvalidInput: the body or an event is malformed; the message names where, never a value.
    """
    decoded = parse_json(body)
    if not isinstance(decoded, dict) or not isinstance(decoded.get("events"), list):
        raise InvalidInput("body: expected an object with an 'events' list")
    events: list[object] = decoded["events"]
    if len(events) > max_events:
        raise InvalidInput(f"events: {len(events)} events, over the limit of {max_events} per request")
    return [_parse_event(raw, pseudonymise_id, f"events[{i}]") for i, raw in enumerate(events)]


def _parse_event(raw: object, pseudonymise_id: Pseudonymise, where: str) -> EmailEvent:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: expected an object, got {type_name(raw)}")
    event_type = raw.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidInput(f"{where}.event_type: required, a non-empty string")
    field_text(f"{where}.event_type", "event_type", event_type)
    return email_event_from_record(raw, event_type, pseudonymise_id, where)
