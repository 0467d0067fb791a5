"""The one rule for text at the edge, and the one JSON reader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from copyloom.domain.text import TEXT_LIMITS, checked_text, field_text, parse_json
from copyloom.errors import InvalidInput

ACCEPTED = ["", "r-1", "Zoë 😀 東京", "a b", "x" * 128, "\ufffd", "\U0010ffff"]
REJECTED = [
    ("a\x00b", "f: control character U+0000 is not allowed at character 2"),
    ("\ud800", "f: not valid Unicode (lone surrogate U+D800) at character 1"),
    ("ok\udc00", "f: not valid Unicode (lone surrogate U+DC00) at character 3"),
    ("tab\there", "f: control character U+0009 is not allowed at character 4"),
    ("line\n", "f: control character U+000A is not allowed at character 5"),
    ("\x1b[31m", "f: control character U+001B is not allowed at character 1"),
    ("del\x7f", "f: control character U+007F is not allowed at character 4"),
    ("c1\x9f", "f: control character U+009F is not allowed at character 3"),
    ("x" * 129, "f: longer than 128 characters"),
    ("\x00" * 500_000, "f: longer than 128 characters"),
]


@pytest.mark.parametrize("value", ACCEPTED)
def test_valid_text_passes_unchanged(value: str) -> None:
    assert checked_text("f", value, max_chars=128) is value


@pytest.mark.parametrize(("value", "message"), REJECTED)
def test_invalid_text_is_refused_naming_the_field_and_the_rule(value: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        checked_text("f", value, max_chars=128)
    assert caught.value.message == message


def test_ids_are_at_most_128_characters() -> None:
    ids = ("dispatch", "experiment_id", "id", "dispatch_id", "campaign_id", "canvas_step_id")
    assert {name: TEXT_LIMITS[name] for name in ids} == dict.fromkeys(ids, 128)
    with pytest.raises(InvalidInput, match=r"^events\[2\]\.id: longer than 128 characters$"):
        field_text("events[2].id", "id", "e" * 129)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"a": ' + b"1" * 4301 + b"}", "a number with too many digits"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": NaN}', "NaN is not a JSON value"),
        (b"\xff", "not UTF-8 (byte 0)"),
        (b"{oops", "Expecting property name enclosed in double quotes at line 1, column 2"),
    ],
)
def test_json_that_python_cannot_read_is_invalid_input(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_json(body)
    assert caught.value.message == f"body: not valid JSON: {reason}"
    assert (caught.value.__cause__, caught.value.__context__) == (None, None)


def test_json_strings_may_hold_surrogates_for_checked_text_to_refuse() -> None:
    assert parse_json(b'{"recipient": "\\ud800"}') == {"recipient": "\ud800"}


def test_every_limit_is_documented_in_the_security_guide() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "security.md").read_text()
    documented = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| (\d+) \|$", guide, flags=re.MULTILINE))
    assert {name: int(n) for name, n in documented.items()} == dict(TEXT_LIMITS)
