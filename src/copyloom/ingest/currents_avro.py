"""Braze Currents Avro files → batches of `CountedEvent`s, streamed, with PII never decoded.

The schema is read from each file (Avro object container), so fields added later are ignored and
missing optional fields are fine. Any codec fastavro supports is read: null (Braze's own), deflate,
snappy, zstandard, and others. The event type comes from the record schema's name
(`dataexport.S3.inner.users.messages.email.Click`), falling back to the `event_type=` folder of the key.

Records are decoded through a reader schema that keeps only the fields copyloom reads (`READ_FIELDS`):
the email address, user agent and every other field are skipped inside the decoder and never become
Python objects. When the file declares those fields with Braze's own types, each value's type is known
from the schema and the per-record checks reduce to the ones the schema cannot make (an empty id).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable
from typing import Any, BinaryIO, cast

import fastavro

from copyloom.domain.events import CountedEvent, EventKind, engagement_kind
from copyloom.domain.text import TEXT_LIMITS
from copyloom.domain.values import RecipientKey
from copyloom.errors import CorruptFile, InvalidInput
from copyloom.ingest.fields import (
    READ_FIELDS,
    REDACTED,
    Pseudonymise,
    email_event_from_fields,
    event_kind_from_type,
)

_EVENT_TYPE = re.compile(r"(users\.[A-Za-z0-9_.]+)$")
_EVENT_TYPE_FOLDER = re.compile(r"event_type=([A-Za-z0-9_.]+)")
_MAX_REASON_CHARS = 300
_TEXT = ("string", ("null", "string"), ("string", "null"))
_FLAG = ("boolean", ("null", "boolean"), ("boolean", "null"))
_STRINGS = {"type": "array", "items": "string"}
_TEXTS = (_STRINGS, ("null", _STRINGS), (_STRINGS, "null"))
_REASONS = "suspected_bot_click_reason"
_PLAIN_TYPES: dict[str, tuple[object, ...]] = {
    "id": ("string",),
    "time": ("int", "long"),
    "user_id": _TEXT,
    "external_user_id": _TEXT,
    "dispatch_id": _TEXT,
    "campaign_id": _TEXT,
    "canvas_step_id": _TEXT,
    "machine_open": _TEXT,
    "is_suspected_bot_click": _FLAG,
    _REASONS: _TEXTS,
    "link_alias": _TEXT,
}
"""Braze's declared type of each field read: a file declaring these needs no per-record type checks."""

_Record = dict[str, Any]


def read_currents_file(
    stream: BinaryIO, key: str, pseudonymise_id: Pseudonymise, *, chunk_events: int = 5000
) -> Generator[list[CountedEvent], None, None]:
    """Yield the file's events in chunks of at most `chunk_events`, reading the stream as it goes.

    Args:
        stream: the file's bytes, read sequentially (a local file or an S3 streaming body).
        key: the object key, used for the event-type fallback and in error messages.
        pseudonymise_id: the tenant's keyed hash for raw user ids (called once per distinct id in a
            chunk).
        chunk_events: the most events held in memory at once.

    Raises:
        CorruptFile: not Avro, truncated, a corrupt block, or a record without a valid id or time.
    """
    try:
        header = _RecordingStream(stream)
        writer_schema = fastavro.reader(cast(BinaryIO, header)).writer_schema  # fastavro only calls read
        projection = _projection(writer_schema)
        replayed = cast(BinaryIO, _ReplayedStream(header.recorded, stream))
        reader = fastavro.reader(replayed, reader_schema=projection)
        event_type = _event_type(writer_schema, key)
        if projection is not None and _is_plain(projection):
            records = cast(Iterable[_Record], reader)  # a record schema decodes to dicts
            yield from _plain_chunks(records, event_type, pseudonymise_id, chunk_events)
        else:
            yield from _checked_chunks(reader, event_type, pseudonymise_id, chunk_events)
    except CorruptFile:
        raise
    except InvalidInput as exc:
        raise CorruptFile(exc.message) from None
    except Exception as exc:  # fastavro, codec and IO errors all mean the same: the file is unreadable
        raise CorruptFile(unreadable_reason(exc)) from None


def _checked_chunks(
    records: Iterable[object], event_type: str, pseudonymise_id: Pseudonymise, chunk_events: int
) -> Generator[list[CountedEvent], None, None]:
    """Any schema: every field's value is checked, with the shared field rules and messages."""
    chunk: list[CountedEvent] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise CorruptFile(f"record {index}: expected an Avro record")
        chunk.append(_checked_event(record, index, event_type, pseudonymise_id))
        if len(chunk) >= chunk_events:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _checked_event(
    record: _Record, index: int, event_type: str, pseudonymise_id: Pseudonymise
) -> CountedEvent:
    return email_event_from_fields(record.get, event_type, pseudonymise_id, f"record {index}").counted()


def _plain_chunks(
    records: Iterable[_Record], event_type: str, pseudonymise_id: Pseudonymise, chunk_events: int
) -> Generator[list[CountedEvent], None, None]:
    """Braze's own types: the schema guarantees them, so only what it cannot is checked per record.

    The hot loop of the ingest, one pass per event: written flat, each recipient id hashed once per
    chunk.
    """
    kind: EventKind = event_kind_from_type(event_type)
    plain_engagement = engagement_kind(kind, False, False)
    chunk: list[CountedEvent] = []
    keys: dict[str | None, RecipientKey | None] = {None: None, "": None, REDACTED: None}
    for index, record in enumerate(records):
        get = record.get
        event_id = record["id"]
        if not event_id or not _looks_clean(get):
            # raises with the shared message (an empty id, a control character, a lone surrogate, too
            # long), or returns the event when the quick look was only wary (e.g. a no-break space)
            chunk.append(_checked_event(record, index, event_type, pseudonymise_id))
            if len(chunk) >= chunk_events:
                yield chunk
                chunk = []
            continue
        user_id, external_user_id = get("user_id"), get("external_user_id")
        user_key = (
            keys[user_id] if user_id in keys else keys.setdefault(user_id, pseudonymise_id(str(user_id)))
        )
        external_user_key = (
            keys[external_user_id]
            if external_user_id in keys
            else keys.setdefault(external_user_id, pseudonymise_id(str(external_user_id)))
        )
        is_bot, machine_open, reasons = get("is_suspected_bot_click"), get("machine_open"), get(_REASONS)
        chunk.append(
            CountedEvent(
                event_id,
                kind,
                record["time"],
                user_key,
                external_user_key,
                get("dispatch_id") or None,
                get("canvas_step_id") or get("campaign_id") or "",
                plain_engagement
                if is_bot is None and machine_open is None
                else engagement_kind(kind, is_bot is True, (machine_open or "").lower() == "true"),
                any(reasons) if reasons else False,
                get("link_alias") or None,
            )
        )
        if len(chunk) >= chunk_events:
            yield chunk
            chunk = []
            keys = {None: None, "": None, REDACTED: None}
    if chunk:
        yield chunk


_LIMITS = tuple((name, TEXT_LIMITS[name]) for name in sorted(READ_FIELDS & set(TEXT_LIMITS) - {_REASONS}))
_REASON_LIMIT = TEXT_LIMITS[_REASONS]


def _looks_clean(get: Callable[[str], Any]) -> bool:
    """A quick look at a record's text fields: within their limits and printable (no control character
    or lone surrogate). `str.isprintable` also refuses some harmless characters, which the shared rules
    (`checked_text`) then accept: False only sends the record the slow way."""
    for name, limit in _LIMITS:
        value = get(name)
        if value is not None and (len(value) > limit or not value.isprintable()):
            return False
    reasons = get(_REASONS)
    return not reasons or all(len(r) <= _REASON_LIMIT and r.isprintable() for r in reasons)


def _projection(writer_schema: object) -> dict[str, Any] | None:
    """The writer's record schema with only the fields read, or None for a schema that is no record."""
    if not isinstance(writer_schema, dict) or writer_schema.get("type") != "record":
        return None
    fields = writer_schema.get("fields")
    if not isinstance(fields, list):
        return None
    kept = [f for f in fields if isinstance(f, dict) and f.get("name") in READ_FIELDS]
    schema = {k: v for k, v in writer_schema.items() if not k.startswith("__")} | {"fields": kept}
    try:
        fastavro.parse_schema(schema)
    except Exception:  # e.g. a kept field naming a type defined in a dropped one: read every field
        return None
    return schema


def _is_plain(schema: dict[str, Any]) -> bool:
    declared = {f["name"]: f["type"] for f in schema["fields"]}
    if "id" not in declared or "time" not in declared:
        return False
    return all((tuple(t) if isinstance(t, list) else t) in _PLAIN_TYPES[name] for name, t in declared.items())


class _RecordingStream:
    """A stream that keeps a copy of what was read from it: the header, read once to learn the schema."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.recorded = bytearray()

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.recorded += data
        return data


class _ReplayedStream:
    """The recorded bytes again, then the rest of the stream."""

    def __init__(self, recorded: bytearray, stream: BinaryIO) -> None:
        self._recorded = bytes(recorded)
        self._position = 0
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._position >= len(self._recorded):
            return self._stream.read(size)
        if size < 0:
            head = self._recorded[self._position :]
            self._position = len(self._recorded)
            return head + self._stream.read()
        head = self._recorded[self._position : self._position + size]
        self._position += len(head)
        return head if len(head) == size else head + self._stream.read(size - len(head))


def _event_type(schema: object, key: str) -> str:
    name = schema.get("name") if isinstance(schema, dict) else None
    if isinstance(name, str):
        namespace = schema.get("namespace") if isinstance(schema, dict) else None
        full = f"{namespace}.{name}" if isinstance(namespace, str) and "." not in name else name
        found = _EVENT_TYPE.search(full.replace(".inner.", "."))
        if found:
            return found.group(1)
    folder = _EVENT_TYPE_FOLDER.search(key)
    return folder.group(1) if folder else "unknown"


def unreadable_reason(exc: Exception) -> str:
    """Why a file could not be read, for its quarantine record: the error type and message, cut short."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:_MAX_REASON_CHARS]
