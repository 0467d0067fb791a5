"""Writing Braze Currents data as Braze does: Avro files under Braze's key layout, Custom HTTP events.

For tests, benchmarks and demonstrations: the records follow `currents_schemas`, so a file written here
is laid out as one Braze writes (any codec fastavro has; Braze's own is null), and an HTTP event has the
Custom HTTP connector's shape (`event_type`, `id`, `time`, `user{…}`, `properties{…}`). Nothing here is
read by the ingest path itself.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import fastavro

from copyloom.domain.events import EventKind
from copyloom.ingest.currents_schemas import (
    HTTP_USER_FIELDS,
    CurrentsField,
    currents_fields,
    currents_schema,
    event_type_of,
)
from copyloom.ingest.fields import REDACTED

DEFAULT_TIME_S = 1_764_338_400  # 2025-11-28 14:00 UTC
_SYNC_INTERVAL_BYTES = 64_000
_PLACEHOLDERS: dict[str, object] = {
    "email_address": "recipient@example.com",
    "user_agent": "Mozilla/5.0 (placeholder agent)",
    "timezone": "Europe/London",
    "machine_open": "true",  # a string in Braze's schema, not a boolean
}
_PLACEHOLDER_OF_TYPE: dict[str, object] = {"int": 1, "boolean": True}


def record(
    kind: EventKind, user_id: str, dispatch_id: str | None, *, time_s: int = DEFAULT_TIME_S, **fields: Any
) -> dict[str, Any]:
    """A record with every required field set and every optional one null unless given.

    Args:
        kind: the email event type.
        user_id: Braze's user id.
        dispatch_id: the dispatch (None for a record without one).
        time_s: the event's UNIX time.
        fields: values for any other field (`id` defaults to a new UUID, `email_address` to
            ``[REDACTED]``, as Braze's "Remove" transformation writes it).
    """
    values = {
        field.name: _required_value(field) if not field.is_optional else None
        for field in currents_fields(kind)
    }
    values |= {"id": str(uuid.uuid4()), "user_id": user_id, "dispatch_id": dispatch_id, "time": time_s}
    values["email_address"] = REDACTED
    return values | fields


def full_record(
    kind: EventKind, user_id: str, dispatch_id: str, *, time_s: int = DEFAULT_TIME_S, **fields: Any
) -> dict[str, Any]:
    """A record with every field set, like Braze's test events: a placeholder value unless given.

    Placeholders are `<name>-value` for text, ``true`` for flags (``"true"`` for `machine_open`), 1 for
    numbers and a one-item list for lists; the email address and user agent look like real ones.
    """
    values = {field.name: _placeholder(field) for field in currents_fields(kind)}
    values |= {"id": str(uuid.uuid4()), "user_id": user_id, "dispatch_id": dispatch_id, "time": time_s}
    return values | fields


def _required_value(field: CurrentsField) -> object:
    return DEFAULT_TIME_S if field.value_type == "int" else f"{field.name}-value"


def _placeholder(field: CurrentsField) -> object:
    if field.name in _PLACEHOLDERS:
        return _PLACEHOLDERS[field.name]
    if field.value_type == "array<string>":
        return [f"{field.name}-value"]
    return _PLACEHOLDER_OF_TYPE.get(field.value_type, f"{field.name}-value")


def write(
    target: Path | BinaryIO,
    kind: EventKind,
    records: list[dict[str, Any]],
    *,
    codec: str = "null",
    schema_override: dict[str, Any] | None = None,
) -> None:
    """Write one Currents file of `kind`.

    Args:
        target: a path (created with its folders) or a binary stream.
        kind: the email event type, whose schema is embedded unless `schema_override` is given.
        records: the records, e.g. from `record` or `full_record`.
        codec: any codec fastavro writes (null, deflate, snappy, zstandard, ...).
        schema_override: another record schema, e.g. one a future Braze version might write.
    """
    parsed = fastavro.parse_schema(schema_override or currents_schema(kind))
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as stream:
            fastavro.writer(stream, parsed, records, codec=codec, sync_interval=_SYNC_INTERVAL_BYTES)
    else:
        fastavro.writer(target, parsed, records, codec=codec, sync_interval=_SYNC_INTERVAL_BYTES)


def to_bytes(kind: EventKind, records: list[dict[str, Any]], *, codec: str = "null") -> bytes:
    """The bytes of one Currents file of `kind` (see `write`)."""
    buffer = io.BytesIO()
    write(buffer, kind, records, codec=codec)
    return buffer.getvalue()


def key_for(
    kind: EventKind, hour: str = "2026-11-28-10", partition: int = 0, offset: int = 0, schema_id: int = 12
) -> str:
    """A key laid out as Braze writes them under the Current's folder path (default `currents`).

    Args:
        kind: the email event type (its `event_type=` folder).
        hour: the UTC hour Braze queued the events, ``YYYY-MM-DD-HH``.
        partition: Braze's partition number.
        offset: Braze's offset, which tells files of one hour apart.
        schema_id: the schema version folder.
    """
    integration = "dataexport.prod-03.S3.integration.65b3f2a1c9d8e70042a1b2c3"
    return (
        f"currents/{integration}/event_type={event_type_of(kind)}/date={hour}/{schema_id}/zone-a/"
        f"{integration}+{partition}+{offset:010d}.avro"
    )


def http_event(kind: EventKind, values: Mapping[str, Any], *, device_id: str | None = None) -> dict[str, Any]:
    """One event as the Custom HTTP connector posts it, from a record of `kind`.

    Args:
        kind: the email event type.
        values: the record (e.g. from `record` or `full_record`).
        device_id: the user's device, which Braze adds under `user` even to events whose Avro record
            has no such field.

    Returns:
        ``{"event_type", "id", "time", "user": {…}, "properties": {…}}``, with the user fields under
        `user` and every other field under `properties`, sorted by name as Braze's samples are.
    """
    user = {name: values[name] for name in HTTP_USER_FIELDS if name in values}
    if device_id is not None:
        user["device_id"] = device_id
    properties = {
        name: values[name]
        for name in sorted(values)
        if name not in HTTP_USER_FIELDS and name not in ("id", "time")
    }
    return {
        "event_type": event_type_of(kind),
        "id": values["id"],
        "time": values["time"],
        "user": user,
        "properties": properties,
    }
