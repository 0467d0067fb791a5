"""Our description of Braze's Currents email records: complete, and exactly the schemas Braze embeds."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest

from copyloom.domain.events import EVENT_KINDS
from copyloom.ingest.currents_schemas import (
    EMAIL_EVENT_KINDS,
    NAMESPACE,
    currents_fields,
    currents_schema,
    event_type_of,
)
from copyloom.ingest.fields import READ_FIELDS, event_kind_from_type
from tests.currents_samples import Samples

BRAZE_REQUIRED = ("id", "user_id", "time", "email_address")
FIELD_KEYS = {"name", "type", "doc", "default"}
NO_DEFAULT = "(no default)"


def test_every_email_event_kind_has_a_record_and_other_has_none() -> None:
    assert tuple(kind for kind in EVENT_KINDS if kind != "Other") == EMAIL_EVENT_KINDS
    assert [event_kind_from_type(event_type_of(kind)) for kind in EMAIL_EVENT_KINDS] == list(
        EMAIL_EVENT_KINDS
    )
    with pytest.raises(KeyError):
        currents_schema("Other")


@pytest.mark.parametrize("kind", EMAIL_EVENT_KINDS)
def test_each_record_is_valid_avro_named_as_braze_names_it(kind: str) -> None:
    parsed = fastavro.parse_schema(currents_schema(kind))

    assert parsed["name"] == f"{NAMESPACE}.{kind}"
    names = [field.name for field in currents_fields(kind)]
    assert len(names) == len(set(names)), "a field is listed twice"


@pytest.mark.parametrize("kind", EMAIL_EVENT_KINDS)
def test_only_ids_time_and_email_address_are_required_and_optional_fields_default_to_null(kind: str) -> None:
    schema = currents_schema(kind)

    required = [f["name"] for f in schema["fields"] if "default" not in f]
    optional_types = {json.dumps(f["type"][0]) for f in schema["fields"] if "default" in f}

    assert sorted(required) == sorted(BRAZE_REQUIRED)
    assert optional_types == {'"null"'}
    assert all(f["default"] is None for f in schema["fields"] if "default" in f)


@pytest.mark.parametrize("kind", EMAIL_EVENT_KINDS)
def test_every_record_has_the_fields_copyloom_reads_except_the_flags_of_other_kinds(kind: str) -> None:
    click_fields = {"is_suspected_bot_click", "suspected_bot_click_reason", "link_alias"}
    own_flag = {"Click": click_fields, "Open": {"machine_open"}}.get(kind, set())

    missing = READ_FIELDS - {field.name for field in currents_fields(kind)}

    assert missing == {*click_fields, "machine_open"} - own_flag


def field_facts(field: dict[str, Any]) -> dict[str, object]:
    """What a field declares, less its doc: its type, whether null is allowed and its default."""
    types = field["type"] if isinstance(field["type"], list) else [field["type"]]
    return {
        "type": field["type"],
        "is_nullable": "null" in types,
        "default": field.get("default", NO_DEFAULT),
        "other keys": sorted(set(field) - FIELD_KEYS),
    }


def full_name(schema: dict[str, Any]) -> str:
    """Avro's full name: Braze gives the namespace apart, fastavro writes it into the name."""
    name = str(schema["name"])
    return name if "." in name else f"{schema['namespace']}.{name}"


def schemas_in(samples: Samples, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """Every schema the samples hold for `kind`: the one in the Avro file's header, and any `.avsc`."""
    header = fastavro.reader(io.BytesIO(samples.avro(kind))).metadata["avro.schema"]
    found = [(f"{samples.name} {kind}.avro header", json.loads(header))]
    if kind in samples.schema_files:
        found.append((f"{samples.name} {kind}.avsc", json.loads(samples.schema_files[kind])))
    return found


@pytest.mark.parametrize("kind", EMAIL_EVENT_KINDS)
def test_our_record_is_field_by_field_every_schema_in_the_sample_files(kind: str, samples: Samples) -> None:
    """With Braze's samples: our description is Braze's schema (names, order, types, nulls, defaults)."""
    ours = currents_schema(kind)

    for where, theirs in schemas_in(samples, kind):
        assert (theirs["type"], full_name(theirs)) == ("record", f"{NAMESPACE}.{kind}"), where
        assert [f["name"] for f in theirs["fields"]] == [f["name"] for f in ours["fields"]], where
        for mine, braze in zip(ours["fields"], theirs["fields"], strict=True):
            assert field_facts(braze) == field_facts(mine), f"{where}: field {mine['name']}"
