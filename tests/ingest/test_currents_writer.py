"""Writing Currents data as Braze does: records, Avro files, Braze's key layout, Custom HTTP events."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import fastavro
import pytest

from copyloom.domain.values import RecipientKey
from copyloom.ingest.currents_avro import read_currents_file
from copyloom.ingest.currents_http import parse_currents_batch
from copyloom.ingest.currents_schemas import EMAIL_EVENT_KINDS, HTTP_USER_FIELDS, currents_fields
from copyloom.ingest.currents_writer import (
    DEFAULT_TIME_S,
    full_record,
    http_event,
    key_for,
    record,
    to_bytes,
    write,
)

# Braze's documented layout: <folder>/<integration>/event_type=<type>/date=<hour>/<schema id>/<zone>/
# <integration>+<partition>+<offset>.avro, the integration being dataexport.<cluster>.S3.integration.<id>
BRAZE_KEY = re.compile(
    r"^currents/(?P<integration>dataexport\.prod-\d+\.S3\.integration\.[0-9a-f]+)"
    r"/event_type=users\.messages\.email\.(?P<kind>\w+)/date=\d{4}-\d{2}-\d{2}-\d{2}/(?P<schema>\d+)/[\w-]+/"
    r"(?P=integration)\+(?P<partition>\d+)\+(?P<offset>\d{10})\.avro$"
)


def key_of(raw: str) -> RecipientKey:
    return RecipientKey(f"key-of-{raw}")


def test_keys_follow_braze_s_layout() -> None:
    match = BRAZE_KEY.match(key_for("Open", partition=2, offset=35465, schema_id=14))

    assert match is not None
    assert match.group("kind", "schema", "partition", "offset") == ("Open", "14", "2", "0000035465")


@pytest.mark.parametrize("kind", EMAIL_EVENT_KINDS)
def test_a_record_sets_the_required_fields_and_leaves_the_optional_ones_null(kind: str) -> None:
    values = record(kind, "u1", "d1")

    assert list(values) == [field.name for field in currents_fields(kind)]
    assert (values["user_id"], values["dispatch_id"], values["time"]) == ("u1", "d1", DEFAULT_TIME_S)
    assert values["email_address"] == "[REDACTED]"
    assert values["id"]
    assert [f.name for f in currents_fields(kind) if f.is_optional and values[f.name] is not None] == [
        "dispatch_id"
    ]


def test_given_fields_override_and_ids_are_new_each_time() -> None:
    first = record("Click", "u1", "d1", url="https://shop.example/", id="e-1", time_s=5)
    second, third = record("Click", "u1", "d1"), record("Click", "u1", "d1")

    assert (first["url"], first["id"], first["time"]) == ("https://shop.example/", "e-1", 5)
    assert second["id"] != third["id"]


@pytest.mark.parametrize("kind", EMAIL_EVENT_KINDS)
def test_a_full_record_sets_every_field(kind: str) -> None:
    values = full_record(kind, "u1", "d1")

    assert list(values) == [field.name for field in currents_fields(kind)]
    assert [name for name, value in values.items() if value is None] == []


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy", "zstandard"])
@pytest.mark.parametrize("kind", EMAIL_EVENT_KINDS)
def test_written_files_hold_the_records_and_the_codec(kind: str, codec: str) -> None:
    records = [full_record(kind, "u1", "d1"), record(kind, "u2", None)]

    reader = fastavro.reader(io.BytesIO(to_bytes(kind, records, codec=codec)))

    assert list(reader) == records
    assert reader.codec == codec


def test_a_path_is_written_with_its_folders(tmp_path: Path) -> None:
    target = tmp_path / key_for("Send")
    write(target, "Send", [record("Send", "u1", "d1")])

    with target.open("rb") as stream:
        assert [r["user_id"] for r in fastavro.reader(stream)] == ["u1"]


@pytest.mark.parametrize("kind", EMAIL_EVENT_KINDS)
def test_an_http_event_nests_user_fields_and_puts_the_rest_under_properties(kind: str) -> None:
    values = full_record(kind, "u1", "d1")

    event = http_event(kind, values, device_id="phone-1")

    assert (event["event_type"], event["id"], event["time"]) == (
        f"users.messages.email.{kind}",
        values["id"],
        values["time"],
    )
    assert event["user"]["device_id"] == "phone-1"
    assert {k: v for k, v in event["user"].items() if k != "device_id"} == {
        k: values[k] for k in HTTP_USER_FIELDS if k in values and k != "device_id"
    }
    assert list(event["properties"]) == sorted(set(values) - set(HTTP_USER_FIELDS) - {"id", "time"})
    assert json.loads(json.dumps(event)) == event


@pytest.mark.parametrize("kind", EMAIL_EVENT_KINDS)
def test_one_record_reads_the_same_from_avro_and_from_http(kind: str) -> None:
    values = full_record(kind, "u1", "d1", external_user_id="x1")

    (from_avro,) = next(read_currents_file(io.BytesIO(to_bytes(kind, [values])), "k.avro", key_of))
    (from_http,) = parse_currents_batch(json.dumps({"events": [http_event(kind, values)]}).encode(), key_of)

    assert from_http.counted() == from_avro
