"""The one rule for text at the edge, and the one JSON reader for request bodies.

Every text value that enters through a route (query, form, JSON body, path, event field, Avro record)
passes `checked_text` before anything else touches it: only Unicode scalar values (no lone surrogate,
which neither UTF-8 nor PostgreSQL can hold), no control character (C0, DEL, C1; PostgreSQL refuses
NUL in text), and at most its field's documented length. So the same value gets the same answer on
SQLite and PostgreSQL, and a value the store would refuse never reaches a batch it shares with others.

Pure: no IO. Messages name the field and the rule, never the value (it may be personal).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from copyloom.domain.values import MAX_ID_CHARS
from copyloom.errors import InvalidInput

MAX_EXTERNAL_ID_CHARS = 128
"""Ids that come from outside (dispatch, event, campaign and Canvas step ids, experiment ids in paths)."""
MAX_RAW_USER_ID_CHARS = 256
"""Raw recipient and user ids, before pseudonymisation."""

TEXT_LIMITS: Mapping[str, int] = {
    "recipient": MAX_RAW_USER_ID_CHARS,
    "dispatch": MAX_EXTERNAL_ID_CHARS,
    "source": MAX_EXTERNAL_ID_CHARS,  # a Braze campaign or Canvas step API id
    "placement": 64,
    "context": 256,  # a content call's `ctx_<name>` value: mapped to the segment, then dropped
    "format": 16,
    "experiment_id": MAX_EXTERNAL_ID_CHARS,
    "id": MAX_EXTERNAL_ID_CHARS,
    "event_type": 128,
    "user_id": MAX_RAW_USER_ID_CHARS,
    "external_user_id": MAX_RAW_USER_ID_CHARS,
    "dispatch_id": MAX_EXTERNAL_ID_CHARS,
    "campaign_id": MAX_EXTERNAL_ID_CHARS,
    "canvas_step_id": MAX_EXTERNAL_ID_CHARS,
    "machine_open": 16,
    "suspected_bot_click_reason": 256,  # each reason of the list
    "link_alias": 256,
    "pixel_token": 128,
    "tenant": 100,
    "password": 1024,
    "csrf_token": 128,
    "serve": MAX_ID_CHARS,  # a variant id, or winner, leader, control
    "experiment_name": 200,
    "audience": 32,  # the send planner's form: numbers as typed
    "base_rate": 32,
    "expected_lift": 32,
}
"""The longest accepted value of each text field, in characters (`docs/security.md` lists them)."""

_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def checked_text(where: str, value: str, *, max_chars: int) -> str:
    """`value` unchanged if it is acceptable text of at most `max_chars` characters.

    Args:
        where: the field's name or path, for the message (``dispatch``, ``events[3].id``).
        value: the text as decoded from the request.
        max_chars: the field's limit (see `TEXT_LIMITS`).

    Raises:
        InvalidInput: too long, a lone surrogate or a control character, named with its position.
    """
    if len(value) > max_chars:  # first: a long value is refused without being scanned
        raise InvalidInput(f"{where}: longer than {max_chars} characters")
    found = _FORBIDDEN.search(value)
    if found is not None:
        raise InvalidInput(f"{where}: {_describe(found.group())} at character {found.start() + 1}")
    return value


def field_text(where: str, field: str, value: str) -> str:
    """`checked_text` with the limit of `field` in `TEXT_LIMITS`."""
    return checked_text(where, value, max_chars=TEXT_LIMITS[field])


def _describe(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return f"not valid Unicode (lone surrogate U+{code:04X})"
    return f"control character U+{code:04X} is not allowed"


class _NotJson(ValueError):
    pass


def parse_json(body: bytes, where: str = "body") -> object:
    """Decode a UTF-8 JSON body, refusing what Python's reader would fail on with an exception.

    Integers of more than 4,300 digits and nesting past the interpreter's recursion limit (about a
    thousand levels) are refused, as are `NaN` and `Infinity`; strings may still hold lone surrogates
    (`"\\ud800"` is valid JSON), which `checked_text` refuses field by field.

    Raises:
        InvalidInput: ``body: not valid JSON: <reason>``, never quoting the body.
    """
    # The message is raised outside the `except` blocks so that no exception carrying the body (a
    # UnicodeDecodeError holds all of it) is chained to it, even as a suppressed context.
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 (byte {exc.start})"
    except json.JSONDecodeError as exc:
        reason = f"{exc.msg.removesuffix(' at')} at line {exc.lineno}, column {exc.colno}"
    except _NotJson as exc:
        reason = str(exc)
    except ValueError:  # Python's limit on the digits of an int; its message is fixed text
        reason = "a number with too many digits"
    except RecursionError:
        reason = "nested too deeply"
    raise InvalidInput(f"{where}: not valid JSON: {reason}")


def _reject_constant(name: str) -> object:
    raise _NotJson(f"{name} is not a JSON value")
