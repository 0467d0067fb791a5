"""Domain rules: definitions, pseudonymisation, what an event counts as."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from copyloom.domain import EmailEvent, RecipientKey, pseudonymise, pseudonymiser
from copyloom.engine import PolicyConfig
from tests.helpers import make_definition


def test_a_definition_defaults_to_clicks_braze_ids_and_per_person_stickiness() -> None:
    definition = make_definition()

    assert (definition.mode, definition.metric, definition.recipient_field, definition.sticky) == (
        "broadcast",
        "click",
        "user_id",
        "recipient",
    )
    assert definition.placements == ("subject", "preheader")
    assert definition.control.variant_id == "control"


def test_a_definition_carries_its_allocation_rules_defaulting_to_the_engines() -> None:
    default, engine = make_definition(), PolicyConfig()
    chosen = make_definition(floor=0.02, control_holdout=0.1, min_sends_per_variant=500)

    assert (default.floor, default.control_holdout, default.min_sends_per_variant) == (
        engine.floor,
        engine.control_holdout,
        engine.min_sends_per_variant,
    )
    assert (chosen.floor, chosen.control_holdout, chosen.min_sends_per_variant) == (0.02, 0.1, 500)
    assert make_definition(floor=0).floor == 0.0


def test_triggered_experiments_default_to_per_dispatch_stickiness() -> None:
    assert make_definition(mode="triggered").sticky == "dispatch"
    assert make_definition(mode="triggered", sticky="recipient").sticky == "recipient"


def test_pseudonymise_is_keyed_hmac_sha256() -> None:
    key = b"k" * 32

    assert pseudonymise(key, "user-1") == hmac.new(key, b"user-1", hashlib.sha256).hexdigest()
    assert pseudonymise(key, "user-1") != pseudonymise(b"j" * 32, "user-1")


@pytest.mark.parametrize("key", [b"", b"k" * 32, b"k" * 64, b"k" * 65, bytes(range(256))], ids=len)
def test_the_pseudonymiser_for_many_ids_is_the_same_keyed_hmac(key: bytes) -> None:
    many = pseudonymiser(key)

    for raw in ["", "user-1", "ü" * 100]:
        assert many(raw) == pseudonymise(key, raw) == hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()


def test_sha256_transform_matches_ids_braze_already_hashed() -> None:
    key = b"k" * 32
    hashed_by_braze = hashlib.sha256(b"user-1").hexdigest()

    assert pseudonymise(key, "user-1", "sha256") == pseudonymise(key, hashed_by_braze)


def event(kind: str, **flags: bool) -> EmailEvent:
    return EmailEvent("e1", kind, 0, RecipientKey("a"), None, "d", None, None, **flags)  # type: ignore[arg-type]


def test_event_kinds_keep_bots_and_machine_opens_apart_and_count_outcomes() -> None:
    assert event("Click").engagement_kind == "click"
    assert event("Click", is_suspected_bot_click=True).engagement_kind == "bot_click"
    assert event("Open").engagement_kind == "open"
    assert event("Open", is_machine_open=True).engagement_kind == "machine_open"
    assert event("Send").engagement_kind == "braze_send"
    assert event("Delivery").engagement_kind == "delivery"
    assert event("MarkAsSpam").engagement_kind == "spam"
    assert event("SoftBounce").engagement_kind is None
    assert event("Other").engagement_kind is None


def test_the_pseudonymiser_applies_the_sha256_transform_too() -> None:
    key = b"k" * 32

    assert pseudonymiser(key, "sha256")("user-1") == pseudonymise(key, "user-1", "sha256")
