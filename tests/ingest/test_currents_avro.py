"""Reading Currents Avro files: every sample, every codec, schema evolution, bad files, streaming."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from copyloom.domain.values import RecipientKey
from copyloom.errors import CorruptFile
from copyloom.ingest.currents_avro import read_currents_file
from copyloom.ingest.currents_schemas import EMAIL_EVENT_KINDS, currents_schema
from copyloom.ingest.currents_writer import record, to_bytes, write
from tests.currents_samples import Samples


def fake_key(raw: str) -> RecipientKey:
    return RecipientKey(f"key-of-{raw}")


def read_all(data: bytes, key: str = "k.avro") -> list[object]:
    return [event for chunk in read_currents_file(io.BytesIO(data), key, fake_key) for event in chunk]


@pytest.mark.parametrize("kind", EMAIL_EVENT_KINDS)
def test_every_sample_file_reads(kind: str, samples: Samples) -> None:
    (event,) = read_all(samples.avro(kind))

    assert event.kind == kind  # type: ignore[attr-defined]
    assert event.dispatch_id == samples.dispatch_id  # type: ignore[attr-defined]
    assert event.user_key == f"key-of-{samples.user_id}"  # type: ignore[attr-defined]
    assert samples.email_address not in repr(event)


def test_flags_of_the_click_and_open_samples(samples: Samples) -> None:
    click = read_all(samples.avro("Click"))[0]
    opened = read_all(samples.avro("Open"))[0]

    assert click.engagement_kind == "bot_click"  # type: ignore[attr-defined]
    assert opened.engagement_kind == "machine_open"  # type: ignore[attr-defined]


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy", "zstandard"])
def test_every_codec_reads(codec: str) -> None:
    records = [record("Click", f"u{i}", "d1") for i in range(50)]

    events = read_all(to_bytes("Click", records, codec=codec))

    assert [e.user_key for e in events] == [f"key-of-u{i}" for i in range(50)]  # type: ignore[attr-defined]


def test_fields_added_later_are_ignored_and_missing_optional_fields_are_fine() -> None:
    evolved = currents_schema("Click") | {
        "fields": [
            *[
                f
                for f in currents_schema("Click")["fields"]
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

    assert (event.kind, event.external_user_key, event.engagement_kind) == ("Click", None, "click")  # type: ignore[attr-defined]


def test_event_type_falls_back_to_the_key_folder() -> None:
    renamed = currents_schema("Click") | {"name": "SomethingElse", "namespace": "vendor"}
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
    bad_schema = currents_schema("Click") | {
        "fields": [
            f if f["name"] != "time" else {"name": "time", "type": "string"}
            for f in currents_schema("Click")["fields"]
        ]
    }
    buffer = io.BytesIO()
    write(buffer, "Click", [record("Click", "u1", "d1") | {"time": "yesterday"}], schema_override=bad_schema)

    with pytest.raises(CorruptFile, match=r"record 0\.time: required, an integer"):
        read_all(buffer.getvalue())


def test_a_file_with_other_field_types_is_read_with_every_value_checked() -> None:
    """A schema unlike Braze's (here a nullable id) is read too, each value checked by the shared rules."""
    loose = currents_schema("Click") | {
        "fields": [
            f if f["name"] != "id" else {"name": "id", "type": ["null", "string"], "default": None}
            for f in currents_schema("Click")["fields"]
        ]
    }
    good, bad = io.BytesIO(), io.BytesIO()
    write(good, "Click", [record("Click", "u1", "d1", id="e-1")], schema_override=loose)
    write(
        bad,
        "Click",
        [record("Click", "u1", "d1", id="e-1"), record("Click", "u2", "d1", id=None)],
        schema_override=loose,
    )

    (event,) = read_all(good.getvalue())
    with pytest.raises(CorruptFile, match=r"record 1\.id: required, a non-empty string"):
        read_all(bad.getvalue())

    assert (event.event_id, event.user_key, event.dispatch_id) == ("e-1", "key-of-u1", "d1")  # type: ignore[attr-defined]


def test_an_empty_id_makes_a_corrupt_file() -> None:
    data = to_bytes("Click", [record("Click", "u1", "d1"), record("Click", "u2", "d1", id="")])

    with pytest.raises(CorruptFile, match=r"record 1\.id: required, a non-empty string"):
        read_all(data)


def test_redacted_and_empty_user_ids_are_no_recipient_and_each_id_is_hashed_once_per_chunk() -> None:
    hashed: list[str] = []

    def counting_key(raw: str) -> RecipientKey:
        hashed.append(raw)
        return fake_key(raw)

    records = [record("Click", "u1", "d1"), record("Click", "u1", "d2"), record("Click", "[REDACTED]", "d1")]
    records.append(record("Click", "", "d1", external_user_id="ext-1"))
    events = [
        e for c in read_currents_file(io.BytesIO(to_bytes("Click", records)), "k", counting_key) for e in c
    ]

    assert [(e.user_key, e.external_user_key) for e in events] == [
        ("key-of-u1", None),
        ("key-of-u1", None),
        (None, None),
        (None, "key-of-ext-1"),
    ]
    assert hashed == ["u1", "ext-1"]


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


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("id", "ev\x00nt", r"record 1\.id: control character U\+0000 is not allowed at character 3"),
        ("dispatch_id", "d\x1b[31m", r"record 1\.dispatch_id: control character U\+001B"),
        ("campaign_id", "c" * 129, r"record 1\.campaign_id: longer than 128 characters"),
        ("user_id", "u\x85", r"record 1\.user_id: control character U\+0085"),
        ("id", "e" * 500_000, r"record 1\.id: longer than 128 characters"),
    ],
)
def test_text_the_store_could_not_keep_makes_a_corrupt_file_naming_the_record(
    field: str, value: str, reason: str
) -> None:
    """Braze's own types take the fast path; its text still passes the one rule for text at the edge,
    so a NUL never reaches a batch insert (PostgreSQL refuses it) and the file is quarantined instead."""
    bad = record("Click", "u-2", "d-2") | {field: value}
    data = to_bytes("Click", [record("Click", "u-1", "d-1"), bad])

    with pytest.raises(CorruptFile, match=reason):
        read_all(data)


def test_harmless_text_the_quick_look_is_wary_of_is_read_by_the_shared_rules() -> None:
    data = to_bytes("Click", [record("Click", "Zoë\u00a0Smith", "d\u2028-1")])

    (event,) = read_all(data)

    assert (event.user_key, event.dispatch_id) == (fake_key("Zoë\u00a0Smith"), "d\u2028-1")  # type: ignore[attr-defined]


@pytest.mark.parametrize("checked", [False, True], ids=["fast path", "checked path"])
def test_the_bot_click_reason_is_carried_as_a_flag_and_the_link_alias_as_given(checked: bool) -> None:
    schema = currents_schema("Click")
    if checked:  # a nullable id: not Braze's own types, so every value is checked
        schema = schema | {
            "fields": [
                f if f["name"] != "id" else {"name": "id", "type": ["null", "string"], "default": None}
                for f in schema["fields"]
            ]
        }
    rows = [
        record("Click", "u1", "d1", suspected_bot_click_reason=["prefetch"], link_alias="cta", id="e-1"),
        record("Click", "u2", "d1", suspected_bot_click_reason=[], link_alias=None, id="e-2"),
        record("Click", "u3", "d1", suspected_bot_click_reason=None, id="e-3"),
    ]
    buffer = io.BytesIO()
    write(buffer, "Click", [r | {"is_suspected_bot_click": None} for r in rows], schema_override=schema)

    events = read_all(buffer.getvalue())

    assert [e.has_bot_click_reason for e in events] == [True, False, False]  # type: ignore[attr-defined]
    assert events[0].link_alias == "cta"  # type: ignore[attr-defined]
    assert events[1].link_alias is None  # type: ignore[attr-defined]
    assert "prefetch" not in repr(events)


def test_a_bot_click_reason_with_a_control_character_makes_a_corrupt_file() -> None:
    buffer = io.BytesIO()
    write(buffer, "Click", [record("Click", "u1", "d1", suspected_bot_click_reason=["ok", "a\x07"])])

    with pytest.raises(
        CorruptFile, match=r"record 0\.suspected_bot_click_reason\[1\]: control character U\+0007"
    ):
        read_all(buffer.getvalue())
