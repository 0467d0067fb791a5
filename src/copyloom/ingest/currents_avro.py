"""Braze Currents Avro files → batches of `EmailEvent`s, streamed, with PII dropped at once.

The schema is read from each file (Avro object container), so fields added later are ignored and
missing optional fields are fine. Any codec fastavro supports is read: null (Braze's own), deflate,
snappy, zstandard, and others. The event type comes from the record schema's name
(`dataexport.S3.inner.users.messages.email.Click`), falling back to the `event_type=` folder of the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

import fastavro

from copyloom.domain import EmailEvent
from copyloom.errors import CorruptFile, InvalidInput
from copyloom.ingest.fields import Pseudonymise, email_event_from_fields

_EVENT_TYPE = re.compile(r"(users\.[A-Za-z0-9_.]+)$")
_EVENT_TYPE_FOLDER = re.compile(r"event_type=([A-Za-z0-9_.]+)")
_MAX_REASON_CHARS = 300


def read_currents_file(
    stream: BinaryIO, key: str, pseudonymise_id: Pseudonymise, *, chunk_events: int = 5000
) -> Iterator[list[EmailEvent]]:
    """Yield the file's events in chunks of at most `chunk_events`, reading the stream as it goes.

    Args:
        stream: the file's bytes, read sequentially (a local file or an S3 streaming body).
        key: the object key, used for the event-type fallback and in error messages.
        pseudonymise_id: the tenant's keyed hash for raw user ids.
        chunk_events: the most events held in memory at once.

    Raises:
        CorruptFile: not Avro, truncated, a corrupt block, or a record without a valid id or time.
    """
    try:
        reader = fastavro.reader(stream)
        event_type = _event_type(reader.writer_schema, key)
        chunk: list[EmailEvent] = []
        for index, record in enumerate(reader):
            if not isinstance(record, dict):
                raise CorruptFile(f"record {index}: expected an Avro record")
            chunk.append(email_event_from_fields(record.get, event_type, pseudonymise_id, f"record {index}"))
            if len(chunk) >= chunk_events:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
    except CorruptFile:
        raise
    except InvalidInput as exc:
        raise CorruptFile(exc.message) from None
    except Exception as exc:  # fastavro, codec and IO errors all mean the same: the file is unreadable
        raise CorruptFile(_reason(exc)) from None


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


def _reason(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:_MAX_REASON_CHARS]
