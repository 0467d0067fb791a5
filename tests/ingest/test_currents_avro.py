"""Reading Currents Avro files: every sample, every codec, schema evolution, bad files, streaming."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from copyloom.domain import RecipientKey
from copyloom.errors import CorruptFile
from copyloom.ingest.currents_avro import read_currents_file
from tests.currents_files import KINDS, SAMPLES, record, schema, to_bytes, write


def fake_key(raw: str) -> RecipientKey:
    return RecipientKey(f"key-of-{raw}")


def read_all(data: bytes, key: str = "k.avro") -> list[object]:
    return [event for chunk in read_currents_file(io.BytesIO(data), key, fake_key) for event in chunk]


@pytest.mark.parametrize("kind", KINDS)
def test_every_real_sample_file_reads(kind: str) -> None:
    data = (SAMPLES / f"users.messages.email.{kind}.avro").read_bytes()

    (event,) = read_all(data)

    assert event.kind == kind  # type: ignore[attr-defined]
    assert event.dispatch_id == "639a35d192b0df004d06514c"  # type: ignore[attr-defined]
    assert event.user_key == "key-of-639a35d192b0df004d06514c"  # type: ignore[attr-defined]
    assert "example@braze.com" not in repr(event)


def test_flags_of_the_click_and_open_samples() -> None:
    click = read_all((SAMPLES / "users.messages.email.Click.avro").read_bytes())[0]
    opened = read_all((SAMPLES / "users.messages.email.Open.avro").read_bytes())[0]

    assert click.is_suspected_bot_click  # type: ignore[attr-defined]
    assert opened.is_machine_open  # type: ignore[attr-defined]


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy", "zstandard"])
def test_every_codec_reads(codec: str) -> None:
    records = [record("Click", f"u{i}", "d1") for i in range(50)]

    events = read_all(to_bytes("Click", records, codec=codec))

    assert [e.user_key for e in events] == [f"key-of-u{i}" for i in range(50)]  # type: ignore[attr-defined]


def test_fields_added_later_are_ignored_and_missing_optional_fields_are_fine() -> None:
    evolved = schema("Click") | {
        "fields": [
            *[
                f
                for f in schema("Click")["fields"]
                if f["name"] not in {"external_user_id", "is_suspected_bot_click"}
            ],
            {"name": "brand_new_field", "type": ["null", "string"], "default": None},
        ]
    }
    row = {
        k: v
        for k, v in record("Click", "u1", "d1").items()
        if k not in {"external_user_id", "is_suspected_bot_click"}
    }
    buffer = io.BytesIO()
    write(buffer, "Click", [row | {"brand_new_field": "x"}], schema_override=evolved)

    (event,) = read_all(buffer.getvalue())

    assert (event.kind, event.external_user_key, event.is_suspected_bot_click) == ("Click", None, False)  # type: ignore[attr-defined]


def test_event_type_falls_back_to_the_key_folder() -> None:
    renamed = schema("Click") | {"name": "SomethingElse", "namespace": "vendor"}
    buffer = io.BytesIO()
    write(buffer, "Click", [record("Click", "u1", "d1")], schema_override=renamed)

    (event,) = read_all(
        buffer.getvalue(), key="x/event_type=users.messages.email.Click/date=2026-11-28-10/1.avro"
    )

    assert event.kind == "Click"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "cannot read header"),
        (b"PK\x03\x04 a zip file", "cannot read header"),
        (to_bytes("Click", [record("Click", f"u{i}", "d") for i in range(200)])[:-300], "Error"),
    ],
    ids=["empty", "not-avro", "truncated"],
)
def test_unreadable_files_raise_corrupt_file_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(CorruptFile) as caught:
        read_all(data)
    assert reason in caught.value.message


def test_a_record_whose_time_is_not_an_integer_makes_a_corrupt_file() -> None:
    bad_schema = schema("Click") | {
        "fields": [
            f if f["name"] != "time" else {"name": "time", "type": "string"}
            for f in schema("Click")["fields"]
        ]
    }
    buffer = io.BytesIO()
    write(buffer, "Click", [record("Click", "u1", "d1") | {"time": "yesterday"}], schema_override=bad_schema)

    with pytest.raises(CorruptFile, match=r"record 0\.time: required, an integer"):
        read_all(buffer.getvalue())


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_files_are_streamed_in_chunks_not_read_whole(tmp_path: Path) -> None:
    data = to_bytes("Click", [record("Click", f"u{i}", "d") for i in range(20_000)])
    stream = CountingStream(data)

    chunks = read_currents_file(stream, "k", fake_key, chunk_events=1000)
    first = next(chunks)

    assert len(first) == 1000
    assert stream.bytes_read < len(data) / 4, "the first chunk must not need the whole file"
    assert sum(len(c) for c in chunks) == 19_000
