"""Recipient context: the definition's `context` fields parsed, and raw values mapped to segments.

Braze fills each declared field in the Connected Content URL (`ctx_<name>=…`); the content endpoint maps
the raw values to the recipient's segment at once and keeps only the segment (`country=GB|tier=loyal`),
never a raw value. A field is coarse by construction: a closed list of categories (anything else is
`other`) or numeric buckets, at most `MAX_SEGMENTS_PER_FIELD` segments each, `MAX_SEGMENTS` in all, and
never an identifier or a personal value (`braze` must be on the allow-list below).

Pure: no IO, clock, environment or global random state.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Mapping, Sequence

from copyloom.domain.checks import is_finite_number
from copyloom.domain.text import checked_text
from copyloom.domain.values import (
    CONTEXT_OTHER,
    CONTEXT_UNKNOWN,
    MAX_CONTEXT_FIELDS,
    MAX_SEGMENTS_PER_FIELD,
    ContextField,
    SegmentId,
)
from copyloom.errors import InvalidInput

CONTEXT_PARAM_PREFIX = "ctx_"
"""A content call's context parameters: `ctx_<name>` for each declared field."""
MAX_SEGMENTS = 200
"""The segments of all fields combined (the product of each field's): each is learnt and served apart."""
MAX_NAME_CHARS = 32
MAX_CATEGORY_CHARS = 40

STANDARD_ATTRIBUTES = ("language", "country", "time_zone", "most_recent_locale", "random_bucket_number")
"""Braze's standard attributes a field may use (`${country}`, ...): coarse by nature."""
NAMESPACES = ("custom_attribute", "canvas_entry_properties")
"""Braze's namespaced values a field may use (`custom_attribute.${tier}`), unless the name looks personal."""
IDENTIFIER_ATTRIBUTES = (
    "user_id", "braze_id", "email_address", "phone_number", "first_name", "last_name", "date_of_birth",
    "city", "most_recent_location", "gender",
)  # fmt: skip
"""Braze's standard attributes that identify or describe a person: refused by name."""
PERSONAL_WORDS = frozenset(
    {"id", "ids", "ip", "name", "zip", "dob", "ssn", "iban", "uuid", "guid", "token", "lat", "lng", "lon",
     "gps", "vat", "nin", "tin"}
)  # fmt: skip
"""Words of an attribute or entry property name that mark it as an identifier or a personal value."""
PERSONAL_PARTS = (
    "email", "phone", "mobile", "address", "postcode", "postal", "zipcode", "birth", "passport",
    "firstname", "lastname", "fullname", "surname", "username", "userid", "customerid", "memberid",
    "accountid", "deviceid", "externalid", "brazeid", "ipaddr", "location", "latitude", "longitude",
    "street", "password", "driverlicen", "socialsecurity",
)  # fmt: skip
"""Parts of a name (anywhere in it) that mark it as an identifier or a personal value."""

_STANDARD = re.compile(r"\$\{(\w+)\}")
_NAMESPACED = re.compile(r"(\w+)\.\$\{(\w+)\}")
_NAME = re.compile(rf"[a-z0-9_]{{1,{MAX_NAME_CHARS}}}")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_FIELD_KEYS = frozenset({"name", "braze", "categories", "buckets"})


def parse_context(raw: object) -> tuple[ContextField, ...]:
    """The definition's `context`: at most `MAX_CONTEXT_FIELDS` coarse fields (none when left out).

    Raises:
        InvalidInput: naming the field, e.g. ``context[1].braze: '${email_address}' is an identifier``.
    """
    if raw is None:
        return ()
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_CONTEXT_FIELDS:
        raise InvalidInput(
            f"context: expected a list of 1 to {MAX_CONTEXT_FIELDS} fields, each with name, braze and "
            "categories or buckets"
        )
    fields = tuple(_parse_field(item, f"context[{i}]") for i, item in enumerate(raw))
    seen: set[str] = set()
    for i, field in enumerate(fields):
        if field.name in seen:
            raise InvalidInput(f"context[{i}].name: duplicate name '{field.name}'")
        seen.add(field.name)
    total = math.prod(len(segment_values(f)) for f in fields)
    if total > MAX_SEGMENTS:
        raise InvalidInput(
            f"context: {total} segments in all (the product of each field's); at most {MAX_SEGMENTS}"
        )
    return fields


def _parse_field(raw: object, where: str) -> ContextField:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where}: expected an object with name, braze and categories or buckets")
    unknown = sorted(str(k) for k in set(raw) - _FIELD_KEYS)
    if unknown:
        raise InvalidInput(f"{where}.{unknown[0]}: unknown field")
    name = raw.get("name")
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidInput(
            f"{where}.name: expected up to {MAX_NAME_CHARS} lower-case letters, digits or '_' (it is the "
            f"URL parameter {CONTEXT_PARAM_PREFIX}<name>)"
        )
    braze = _braze_expression(raw.get("braze"), f"{where}.braze")
    has_categories, has_buckets = "categories" in raw, "buckets" in raw
    if has_categories == has_buckets:
        raise InvalidInput(f"{where}: expected exactly one of categories (a closed list) or buckets")
    if has_categories:
        field = ContextField(name, braze, categories=_categories(raw["categories"], f"{where}.categories"))
    else:
        field = ContextField(name, braze, buckets=_buckets(raw["buckets"], f"{where}.buckets"))
    count = len(segment_values(field))
    if count > MAX_SEGMENTS_PER_FIELD:
        what = "categories" if has_categories else "buckets"
        raise InvalidInput(
            f"{where}.{what}: field '{name}' has {count} segments (with {CONTEXT_UNKNOWN}"
            f"{f' and {CONTEXT_OTHER}' if has_categories else ''}); at most {MAX_SEGMENTS_PER_FIELD}"
        )
    return field


def _braze_expression(raw: object, where: str) -> str:
    """The Braze Liquid expression, if it is on the allow-list and not an identifier or personal value."""
    allowed = (
        f"expected one of {', '.join('${' + a + '}' for a in STANDARD_ATTRIBUTES)}, "
        "custom_attribute.${<name>} or canvas_entry_properties.${<name>}"
    )
    if not isinstance(raw, str):
        raise InvalidInput(f"{where}: {allowed}")
    expression = raw.strip()
    if expression.startswith("{{") and expression.endswith("}}"):
        expression = expression[2:-2].strip()
    standard = _STANDARD.fullmatch(expression)
    if standard is not None:
        attribute = standard.group(1)
        if attribute in STANDARD_ATTRIBUTES:
            return expression
        if attribute in IDENTIFIER_ATTRIBUTES:
            raise InvalidInput(
                f"{where}: '{expression}' identifies or describes a person; context must be coarse"
            )
        raise InvalidInput(f"{where}: '{expression}' is not allowed; {allowed}")
    namespaced = _NAMESPACED.fullmatch(expression)
    if namespaced is None or namespaced.group(1) not in NAMESPACES:
        checked_text(where, expression, max_chars=200)
        raise InvalidInput(f"{where}: not an allowed Braze expression; {allowed}")
    attribute = namespaced.group(2)
    if _ATTRIBUTE_NAME.fullmatch(attribute) is None:
        raise InvalidInput(f"{where}: a name of up to 64 letters, digits or '_' inside ${{…}}")
    if looks_personal(attribute):
        raise InvalidInput(
            f"{where}: '{attribute}' looks like an identifier or a personal value; context must be coarse "
            "(docs/braze-setup.md#segments-context-from-braze lists the refused names)"
        )
    return expression


def looks_personal(attribute: str) -> bool:
    """Whether an attribute or entry property name looks like an identifier or a personal value: one of
    its words (split at `_` and at lower-to-upper case changes) is in `PERSONAL_WORDS`, or its letters
    hold a part in `PERSONAL_PARTS` (`CustomerEmail`, `home_postcode`, `userid`)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", attribute).lower()
    words = [w for w in re.split(r"[^a-z0-9]+", spaced) if w]
    joined = "".join(words)
    return any(w in PERSONAL_WORDS for w in words) or any(p in joined for p in PERSONAL_PARTS)


def _categories(raw: object, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"{where}: expected a non-empty list of texts")
    categories: list[str] = []
    folded: set[str] = set()
    for i, given in enumerate(raw):
        item = str(given) if isinstance(given, int) and not isinstance(given, bool) else given
        if not isinstance(item, str) or not item.strip():
            raise InvalidInput(f"{where}[{i}]: expected a non-empty text")
        category = checked_text(f"{where}[{i}]", item.strip(), max_chars=MAX_CATEGORY_CHARS)
        if "|" in category or "=" in category:
            raise InvalidInput(f"{where}[{i}]: '|' and '=' are not allowed (they separate segments)")
        key = category.casefold()
        if key in (CONTEXT_OTHER, CONTEXT_UNKNOWN):
            raise InvalidInput(f"{where}[{i}]: '{category}' is reserved (values outside the list, or none)")
        if key in folded:
            raise InvalidInput(f"{where}[{i}]: duplicate category '{category}' (compared ignoring case)")
        folded.add(key)
        categories.append(category)
    return tuple(categories)


def _buckets(raw: object, where: str) -> tuple[float, ...]:
    if not isinstance(raw, list) or not raw or not all(is_finite_number(b) for b in raw):
        raise InvalidInput(f"{where}: expected a non-empty list of finite numbers, e.g. [1, 5, 20]")
    edges = tuple(float(b) for b in raw)
    if any(b >= a for a, b in zip(edges[1:], edges, strict=False)):
        raise InvalidInput(f"{where}: expected strictly increasing numbers, got {raw!r}")
    return edges


def segment_values(field: ContextField) -> tuple[str, ...]:
    """A field's segment values in order: its categories, `other`, `unknown`; or its bucket ranges
    (`<1`, `1-5`, `5-20`, `>=20` for [1, 5, 20]: each lower edge inclusive), `unknown`."""
    if field.categories:
        return (*field.categories, CONTEXT_OTHER, CONTEXT_UNKNOWN)
    return (*_ranges(field.buckets), CONTEXT_UNKNOWN)


def _ranges(edges: Sequence[float]) -> list[str]:
    labels = [_number(e) for e in edges]
    middle = [f"{a}-{b}" for a, b in itertools.pairwise(labels)]
    return [f"<{labels[0]}", *middle, f">={labels[-1]}"]


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def all_segments(fields: Sequence[ContextField]) -> tuple[SegmentId, ...]:
    """Every segment of the fields, in declaration order (("",) without context)."""
    combos = itertools.product(*(segment_values(f) for f in fields))
    return tuple(_segment_id(fields, values) for values in combos)


def unknown_segment(fields: Sequence[ContextField]) -> SegmentId:
    """The segment of a call that sent no context: `unknown` in every field ("" without context)."""
    return _segment_id(fields, [CONTEXT_UNKNOWN] * len(fields))


def segment_of(fields: Sequence[ContextField], raw: Mapping[str, str | None]) -> SegmentId:
    """The segment of a recipient's raw context values, by field name ("" without context).

    Missing or empty values map to `unknown`; categories match after trimming, ignoring case, to their
    declared spelling, else `other`; buckets take a finite number (else `unknown`) to its range.
    """
    return _segment_id(fields, [_segment_value(f, raw.get(f.name)) for f in fields])


def _segment_value(field: ContextField, raw: str | None) -> str:
    value = (raw or "").strip()
    if not value:
        return CONTEXT_UNKNOWN
    if field.categories:
        folded = value.casefold()
        return next((c for c in field.categories if c.casefold() == folded), CONTEXT_OTHER)
    try:
        number = float(value)
    except ValueError:
        return CONTEXT_UNKNOWN
    if not math.isfinite(number):
        return CONTEXT_UNKNOWN
    return _ranges(field.buckets)[bisect.bisect_right(field.buckets, number)]


def _segment_id(fields: Sequence[ContextField], values: Sequence[str]) -> SegmentId:
    return "|".join(f"{f.name}={v}" for f, v in zip(fields, values, strict=True))
