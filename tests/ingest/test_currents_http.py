"""Parsing Custom HTTP Currents bodies: every sample, both layouts, PII dropped, every rejection."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
from typing import Any

import pytest

from copyloom.domain.events import EmailEvent
from copyloom.domain.pseudonyms import pseudonymise
from copyloom.domain.values import RecipientKey
from copyloom.errors import InvalidInput
from copyloom.ingest.currents_http import parse_currents_batch
from copyloom.ingest.currents_schemas import EMAIL_EVENT_KINDS as KINDS
from copyloom.ingest.fields import event_kind_from_type
from tests.currents_samples import Samples

KEY = b"test-pseudonym-key"
EMAIL = "jane.doe@example.com"
USER_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"
RAW_USER_ID = "5f1e2d3c4b5a69788796a5b4"
RAW_EXTERNAL_ID = "crm-customer-918273"


def pseudonymise_id(raw: str) -> RecipientKey:
    return pseudonymise(KEY, raw)


def batch(*events: object) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def parse_one(event: object) -> EmailEvent:
    (parsed,) = parse_currents_batch(batch(event), pseudonymise_id)
    return parsed


def personal_event(**changes: Any) -> dict[str, Any]:
    """A click carrying realistic personal values everywhere Braze puts them, with `changes` applied
    by dotted path (`"properties.dispatch_id"`); the value `...` deletes the field."""
    event: dict[str, Any] = {
        "event_type": "users.messages.email.Click",
        "id": "0b1c2d3e-0000-4000-8000-000000000001",
        "time": 1764338400,
        "user": {
            "user_id": RAW_USER_ID,
            "external_user_id": RAW_EXTERNAL_ID,
            "device_id": "ios-device-77",
            "timezone": "Europe/London",
        },
        "properties": {
            "campaign_id": "camp-1",
            "dispatch_id": "disp-1",
            "canvas_step_id": None,
            "email_address": EMAIL,
            "user_agent": USER_AGENT,
            "url": f"https://shop.example/welcome?email={EMAIL}",
            "is_suspected_bot_click": False,
        },
    }
    for path, value in changes.items():
        *parents, name = path.split(".")
        target = event
        for parent in parents:
            target = target[parent]
        if value is ...:
            del target[name]
        else:
            target[name] = value
    return event


PERSONAL_VALUES = (EMAIL, USER_AGENT, RAW_USER_ID, RAW_EXTERNAL_ID, "ios-device-77", "Europe/London")


def test_the_samples_are_all_here(samples: Samples) -> None:
    assert sorted(samples.http_bodies) == sorted(samples.avro_files) == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_sample_parses(kind: str, samples: Samples) -> None:
    raw = samples.http_event(kind)

    event = parse_one(raw)

    assert event.kind == kind
    assert (event.event_id, event.time_s) == (samples.event_id, samples.time_s)
    assert event.dispatch_id == samples.dispatch_id
    assert (event.campaign_id, event.canvas_step_id) == (samples.campaign_id, samples.canvas_step_id)
    assert event.user_key == pseudonymise(KEY, raw["user"]["user_id"])
    assert event.external_user_key == pseudonymise(KEY, raw["user"]["external_user_id"])
    assert event.is_suspected_bot_click is (kind == "Click")
    assert event.is_machine_open is (kind == "Open")


@pytest.mark.parametrize("kind", KINDS)
def test_no_personal_value_of_a_sample_survives_parsing(kind: str, samples: Samples) -> None:
    raw = samples.http_event(kind)
    personal = [
        raw["properties"]["email_address"],
        raw["properties"].get("user_agent", samples.user_agent),
        raw["user"]["user_id"],
        raw["user"]["external_user_id"],
    ]

    event = parse_one(raw)

    # Braze's samples reuse one id as both user_id and dispatch_id; the dispatch id is kept (it is not
    # personal), so it is blanked before looking for the user id everywhere else.
    text = repr(dataclasses.replace(event, dispatch_id=None))
    assert [value for value in personal if value in text] == []


def test_a_batch_of_every_sample_keeps_body_order(samples: Samples) -> None:
    events = parse_currents_batch(batch(*(samples.http_event(kind) for kind in KINDS)), pseudonymise_id)

    assert tuple(event.kind for event in events) == KINDS


def test_only_the_optimisers_fields_are_kept_and_user_ids_are_pseudonymised() -> None:
    event = parse_one(personal_event())

    assert event == EmailEvent(
        event_id="0b1c2d3e-0000-4000-8000-000000000001",
        kind="Click",
        time_s=1764338400,
        user_key=pseudonymise(KEY, RAW_USER_ID),
        external_user_key=pseudonymise(KEY, RAW_EXTERNAL_ID),
        dispatch_id="disp-1",
        campaign_id="camp-1",
        canvas_step_id=None,
    )
    assert [value for value in PERSONAL_VALUES if value in repr(event)] == []


@pytest.mark.parametrize("kind", KINDS)
def test_the_flat_layout_parses_like_the_nested_one(kind: str, samples: Samples) -> None:
    nested = samples.http_event(kind)
    flat = {k: v for k, v in nested.items() if k not in ("user", "properties")}
    flat |= nested["user"] | nested["properties"]

    assert parse_one(flat) == parse_one(nested)


def test_a_field_is_read_from_its_section_first_then_from_the_top_level() -> None:
    both = personal_event(dispatch_id="top-level", **{"user.user_id": None}, user_id="flat-user")
    own_section_only = personal_event(**{"properties.user_id": "misplaced", "user.user_id": ...})

    event = parse_one(both)

    assert (event.dispatch_id, event.user_key) == ("disp-1", pseudonymise(KEY, "flat-user"))
    assert parse_one(own_section_only).user_key is None


def test_null_sections_count_as_missing() -> None:
    event = parse_one(personal_event(user=None, properties=None, dispatch_id="flat-dispatch"))

    assert (event.user_key, event.external_user_key, event.dispatch_id) == (None, None, "flat-dispatch")


@pytest.mark.parametrize(
    "raw_id", [None, "", "[REDACTED]", ...], ids=["null", "empty", "redacted", "missing"]
)
def test_absent_or_redacted_user_ids_give_no_key_and_are_never_hashed(raw_id: object) -> None:
    hashed: list[str] = []

    def recording(raw: str) -> RecipientKey:
        hashed.append(raw)
        return pseudonymise(KEY, raw)

    body = batch(personal_event(**{"user.user_id": raw_id, "user.external_user_id": raw_id}))
    (event,) = parse_currents_batch(body, recording)

    assert (event.user_key, event.external_user_key) == (None, None)
    assert hashed == []


@pytest.mark.parametrize(
    ("machine_open", "is_machine_open"),
    [("true", True), ("TRUE", True), ("True", True), ("false", False), ("", False), (None, False)],
)
def test_machine_open_is_the_string_true_in_any_case(machine_open: str | None, is_machine_open: bool) -> None:
    event = parse_one(
        personal_event(event_type="users.messages.email.Open", **{"properties.machine_open": machine_open})
    )

    assert event.is_machine_open is is_machine_open


@pytest.mark.parametrize(("flag", "is_bot"), [(True, True), (False, False), (None, False), (..., False)])
def test_suspected_bot_click_flag(flag: object, is_bot: bool) -> None:
    event = parse_one(personal_event(**{"properties.is_suspected_bot_click": flag}))

    assert event.is_suspected_bot_click is is_bot


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("users.messages.email.Click", "Click"),
        ("users.messages.email.SoftBounce", "SoftBounce"),
        ("users.messages.email.MarkAsSpam", "MarkAsSpam"),
        ("users.messages.pushnotification.Send", "Other"),
        ("users.behaviors.CustomEvent", "Other"),
        ("users.messages.email.Other", "Other"),
        ("users.messages.email.click", "Other"),
        ("users.messages.email.Click.Extra", "Other"),
        ("Click", "Other"),
    ],
)
def test_event_kind_from_type(event_type: str, kind: str) -> None:
    assert event_kind_from_type(event_type) == kind


def test_other_event_types_parse_as_other_not_as_errors() -> None:
    push = personal_event(event_type="users.messages.pushnotification.Send")
    custom = {"event_type": "users.behaviors.CustomEvent", "id": "e-2", "time": 1, "properties": {"x": [1]}}

    events = parse_currents_batch(batch(push, custom), pseudonymise_id)

    assert [e.kind for e in events] == ["Other", "Other"]


def test_an_empty_batch_is_valid() -> None:
    assert parse_currents_batch(b'{"events": []}', pseudonymise_id) == []


def test_time_is_read_exactly_up_to_64_bits() -> None:
    assert parse_one(personal_event(time=2**63 - 1)).time_s == 2**63 - 1
    assert parse_one(personal_event(time=-(2**63))).time_s == -(2**63)


def test_a_batch_of_exactly_max_events_is_accepted() -> None:
    events = [personal_event(id=f"e-{i}") for i in range(3)]

    assert len(parse_currents_batch(batch(*events), pseudonymise_id, max_events=3)) == 3


def test_a_batch_over_max_events_is_rejected() -> None:
    events = [personal_event(id=f"e-{i}") for i in range(4)]

    with pytest.raises(InvalidInput) as caught:
        parse_currents_batch(batch(*events), pseudonymise_id, max_events=3)

    assert caught.value.message == "events: 4 events, over the limit of 3 per request"


REJECTED_BODIES: list[tuple[str, bytes, str]] = [
    (
        "not-json",
        b"{not json",
        "body: not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2",
    ),
    ("empty", b"", "body: not valid JSON: Expecting value at line 1, column 1"),
    (
        "not-utf8",
        b'{"events": [{"email_address": "' + EMAIL.encode() + b'\xff"}]}',
        "body: not valid JSON: not UTF-8 (byte 51)",
    ),
    ("utf16", json.dumps({"events": []}).encode("utf-16"), "body: not valid JSON: not UTF-8 (byte 0)"),
    (
        "control-char",
        b'{"events": [{"url": "a\tb"}]}',
        "body: not valid JSON: Invalid control character at line 1, column 23",
    ),
    ("nan", b'{"events": [{"time": NaN}]}', "body: not valid JSON: NaN is not a JSON value"),
    ("infinity", b'{"events": [{"time": -Infinity}]}', "body: not valid JSON: -Infinity is not a JSON value"),
    (
        "huge-number",
        b'{"events": [{"time": ' + b"9" * 5000 + b"}]}",
        "body: not valid JSON: a number with too many digits",
    ),
    (
        "deep",
        b'{"events": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
        "body: not valid JSON: nested too deeply",
    ),
    ("array", b"[]", "body: expected an object with an 'events' list"),
    ("no-events", b"{}", "body: expected an object with an 'events' list"),
    ("events-object", b'{"events": {}}', "body: expected an object with an 'events' list"),
    ("events-null", b'{"events": null}', "body: expected an object with an 'events' list"),
]

REJECTED_EVENTS: list[tuple[str, object, str]] = [
    ("number", 7, "events[0]: expected an object, got number"),
    ("string", EMAIL, "events[0]: expected an object, got string"),
    ("null", None, "events[0]: expected an object, got null"),
    ("id-missing", personal_event(id=...), "events[0].id: required, a non-empty string"),
    ("id-empty", personal_event(id=""), "events[0].id: required, a non-empty string"),
    ("id-number", personal_event(id=12), "events[0].id: required, a non-empty string"),
    (
        "event-type-missing",
        personal_event(event_type=...),
        "events[0].event_type: required, a non-empty string",
    ),
    ("event-type-empty", personal_event(event_type=""), "events[0].event_type: required, a non-empty string"),
    (
        "event-type-list",
        personal_event(event_type=["x"]),
        "events[0].event_type: required, a non-empty string",
    ),
    ("time-missing", personal_event(time=...), "events[0].time: required, an integer (UNIX seconds)"),
    ("time-null", personal_event(time=None), "events[0].time: required, an integer (UNIX seconds)"),
    ("time-string", personal_event(time="1764338400"), "events[0].time: required, an integer (UNIX seconds)"),
    ("time-float", personal_event(time=1764338400.5), "events[0].time: required, an integer (UNIX seconds)"),
    (
        "time-float-whole",
        personal_event(time=1764338400.0),
        "events[0].time: required, an integer (UNIX seconds)",
    ),
    ("time-bool", personal_event(time=True), "events[0].time: required, an integer (UNIX seconds)"),
    ("time-over-int64", personal_event(time=2**63), "events[0].time: out of range for a 64-bit integer"),
    (
        "time-under-int64",
        personal_event(time=-(2**63) - 1),
        "events[0].time: out of range for a 64-bit integer",
    ),
    ("user-string", personal_event(user=EMAIL), "events[0].user: expected an object, got string"),
    ("user-list", personal_event(user=[RAW_USER_ID]), "events[0].user: expected an object, got array"),
    (
        "properties-number",
        personal_event(properties=3),
        "events[0].properties: expected an object, got number",
    ),
    (
        "user-id-number",
        personal_event(**{"user.user_id": 918273}),
        "events[0].user.user_id: expected a string or null, got number",
    ),
    (
        "external-user-id-list",
        personal_event(**{"user.external_user_id": [RAW_EXTERNAL_ID]}),
        "events[0].user.external_user_id: expected a string or null, got array",
    ),
    (
        "dispatch-id-number",
        personal_event(**{"properties.dispatch_id": 5}),
        "events[0].properties.dispatch_id: expected a string or null, got number",
    ),
    (
        "campaign-id-object",
        personal_event(**{"properties.campaign_id": {"id": "c"}}),
        "events[0].properties.campaign_id: expected a string or null, got object",
    ),
    (
        "canvas-step-id-bool",
        personal_event(**{"properties.canvas_step_id": False}),
        "events[0].properties.canvas_step_id: expected a string or null, got boolean",
    ),
    (
        "flat-dispatch-id-number",
        personal_event(**{"properties.dispatch_id": ...}, dispatch_id=5),
        "events[0].dispatch_id: expected a string or null, got number",
    ),
    (
        "flat-user-id-number",
        personal_event(**{"user.user_id": ...}, user_id=5),
        "events[0].user_id: expected a string or null, got number",
    ),
    (
        "bot-string",
        personal_event(**{"properties.is_suspected_bot_click": "true"}),
        "events[0].properties.is_suspected_bot_click: expected true, false or null, got string",
    ),
    (
        "bot-number",
        personal_event(**{"properties.is_suspected_bot_click": 1}),
        "events[0].properties.is_suspected_bot_click: expected true, false or null, got number",
    ),
    (
        "machine-open-bool",
        personal_event(**{"properties.machine_open": True}),
        "events[0].properties.machine_open: expected a string or null, got boolean",
    ),
    # The one rule for text at the edge (domain/text.py): every field read, on both stores alike.
    (
        "id-surrogate",
        personal_event(id="a\ud800"),
        "events[0].id: not valid Unicode (lone surrogate U+D800) at character 2",
    ),
    (
        "id-nul",
        personal_event(id="a\x00b"),
        "events[0].id: control character U+0000 is not allowed at character 2",
    ),
    ("id-huge", personal_event(id="e" * 500_000), "events[0].id: longer than 128 characters"),
    ("id-129", personal_event(id="e" * 129), "events[0].id: longer than 128 characters"),
    (
        "user-id-surrogate",
        personal_event(**{"user.user_id": "\udfff"}),
        "events[0].user.user_id: not valid Unicode (lone surrogate U+DFFF) at character 1",
    ),
    (
        "external-user-id-long",
        personal_event(**{"user.external_user_id": "x" * 257}),
        "events[0].user.external_user_id: longer than 256 characters",
    ),
    (
        "dispatch-id-surrogate",
        personal_event(**{"properties.dispatch_id": "d\ud800"}),
        "events[0].properties.dispatch_id: not valid Unicode (lone surrogate U+D800) at character 2",
    ),
    (
        "dispatch-id-del",
        personal_event(**{"properties.dispatch_id": "d\x7f"}),
        "events[0].properties.dispatch_id: control character U+007F is not allowed at character 2",
    ),
    (
        "campaign-id-surrogate",
        personal_event(**{"properties.campaign_id": "\ud800c"}),
        "events[0].properties.campaign_id: not valid Unicode (lone surrogate U+D800) at character 1",
    ),
    (
        "campaign-id-huge",
        personal_event(**{"properties.campaign_id": "c" * 900_000}),
        "events[0].properties.campaign_id: longer than 128 characters",
    ),
    (
        "canvas-step-id-c1",
        personal_event(**{"properties.canvas_step_id": "s\x85"}),
        "events[0].properties.canvas_step_id: control character U+0085 is not allowed at character 2",
    ),
    (
        "machine-open-long",
        personal_event(**{"properties.machine_open": "t" * 17}),
        "events[0].properties.machine_open: longer than 16 characters",
    ),
    (
        "event-type-nul",
        personal_event(event_type="users.messages.email.Click\x00"),
        "events[0].event_type: control character U+0000 is not allowed at character 27",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [(b, m) for _, b, m in REJECTED_BODIES], ids=[i for i, _, _ in REJECTED_BODIES]
)
def test_rejected_bodies(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_currents_batch(body, pseudonymise_id)

    assert caught.value.message == message
    # nothing holding the body may ride along, even as a suppressed context
    assert (caught.value.__cause__, caught.value.__context__) == (None, None)


@pytest.mark.parametrize(
    ("event", "message"), [(e, m) for _, e, m in REJECTED_EVENTS], ids=[i for i, _, _ in REJECTED_EVENTS]
)
def test_rejected_events(event: object, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_currents_batch(batch(event), pseudonymise_id)

    assert caught.value.message == message
    assert [value for value in PERSONAL_VALUES if value in str(caught.value)] == []


def test_a_bad_event_is_named_by_its_place_in_the_batch() -> None:
    events = [personal_event(), personal_event(), personal_event(), personal_event(id=...)]

    with pytest.raises(InvalidInput, match=r"^events\[3\]\.id: required, a non-empty string$"):
        parse_currents_batch(batch(*events), pseudonymise_id)


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_message_never_echoes_a_personal_value(kind: str, samples: Samples) -> None:
    real = samples.http_event(kind)
    real["time"] = real["properties"]["email_address"]
    wrong_type = copy.deepcopy(personal_event())
    wrong_type["user"]["user_id"] = [RAW_USER_ID, EMAIL]

    with pytest.raises(InvalidInput) as bad_time:
        parse_one(real)
    with pytest.raises(InvalidInput) as bad_user_id:
        parse_one(wrong_type)

    assert bad_time.value.message == "events[0].time: required, an integer (UNIX seconds)"
    assert samples.email_address not in repr(bad_time.value)
    assert bad_user_id.value.message == "events[0].user.user_id: expected a string or null, got array"
    assert [value for value in PERSONAL_VALUES if value in repr(bad_user_id.value)] == []


def test_parsing_logs_nothing(caplog: pytest.LogCaptureFixture, samples: Samples) -> None:
    caplog.set_level(logging.DEBUG)

    parse_currents_batch(
        batch(*(samples.http_event(kind) for kind in KINDS), personal_event()), pseudonymise_id
    )
    with pytest.raises(InvalidInput):
        parse_currents_batch(batch(personal_event(time="soon")), pseudonymise_id)

    assert caplog.records == []
