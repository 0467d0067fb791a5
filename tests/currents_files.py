"""Writing Braze Currents Avro files for tests and benchmarks, with the real schemas from Braze's samples."""

from __future__ import annotations

import io
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import fastavro

from copyloom.domain.events import EVENT_KINDS

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "braze" / "currents-samples"
KINDS = tuple(k for k in EVENT_KINDS if k != "Other")  # the Braze email event types


@cache
def schema(kind: str) -> dict[str, Any]:
    """The Avro schema Braze embeds in its `users.messages.email.<kind>` files."""
    path = SAMPLES / "schemas" / f"users.messages.email.{kind}.avsc"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: Braze's sample schemas are expected in shared/ beside the repo")
    return dict(json.loads(path.read_text()))


def record(
    kind: str, user_id: str, dispatch_id: str, *, time_s: int = 1764338400, **fields: Any
) -> dict[str, Any]:
    """A record with every required field set and every optional one null unless given."""
    values: dict[str, Any] = {}
    for field in schema(kind)["fields"]:
        name, kind_type = field["name"], field["type"]
        if name in fields:
            values[name] = fields[name]
        elif isinstance(kind_type, list):
            values[name] = None
        elif kind_type == "int":
            values[name] = time_s
        else:
            values[name] = {"id": str(uuid.uuid4()), "user_id": user_id}.get(name, f"{name}-value")
    values["dispatch_id"] = fields.get("dispatch_id", dispatch_id)
    values["user_id"] = user_id
    values["time"] = time_s
    if "email_address" not in fields:
        values["email_address"] = "[REDACTED]"
    return values


def write(
    target: Path | BinaryIO,
    kind: str,
    records: list[dict[str, Any]],
    *,
    codec: str = "null",
    schema_override: dict[str, Any] | None = None,
) -> None:
    """Write one Currents file of `kind` (a path is created with its folders)."""
    parsed = fastavro.parse_schema(schema_override or schema(kind))
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as stream:
            fastavro.writer(stream, parsed, records, codec=codec, sync_interval=64_000)
    else:
        fastavro.writer(target, parsed, records, codec=codec, sync_interval=64_000)


def to_bytes(kind: str, records: list[dict[str, Any]], *, codec: str = "null") -> bytes:
    buffer = io.BytesIO()
    write(buffer, kind, records, codec=codec)
    return buffer.getvalue()


def key_for(
    kind: str, hour: str = "2026-11-28-10", partition: int = 0, offset: int = 0, schema_id: int = 12
) -> str:
    """A key laid out as Braze writes them under the Current's folder path."""
    integration = "dataexport.prod-03.S3.integration.65b3f2a1c9d8e70042a1b2c3"
    return (
        f"currents/{integration}/event_type=users.messages.email.{kind}/date={hour}/{schema_id}/zone-a/"
        f"{integration}+{partition}+{offset:010d}.avro"
    )
