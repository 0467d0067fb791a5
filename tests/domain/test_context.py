"""Recipient context: declared fields parsed, and raw values mapped to segments at the edge."""

from __future__ import annotations

import pytest

from copyloom.domain.context import (
    MAX_SEGMENTS,
    all_segments,
    looks_personal,
    parse_context,
    segment_of,
    segment_values,
    unknown_segment,
)
from copyloom.domain.values import MAX_SEGMENTS_PER_FIELD, ContextField
from copyloom.errors import InvalidInput
from tests.helpers import make_definition

COUNTRY = {"name": "country", "braze": "${country}", "categories": ["GB", "DE", "FR"]}
TIER = {"name": "tier", "braze": "custom_attribute.${tier}", "categories": ["new", "regular", "loyal"]}
ORDERS = {"name": "orders", "braze": "custom_attribute.${order_count}", "buckets": [1, 5, 20]}


def test_the_definition_carries_its_context_fields_in_declaration_order() -> None:
    definition = make_definition(context=[COUNTRY, TIER, ORDERS])

    assert definition.context == (
        ContextField("country", "${country}", categories=("GB", "DE", "FR")),
        ContextField("tier", "custom_attribute.${tier}", categories=("new", "regular", "loyal")),
        ContextField("orders", "custom_attribute.${order_count}", buckets=(1.0, 5.0, 20.0)),
    )
    assert make_definition().context == ()


def test_a_category_field_has_its_categories_then_other_then_unknown() -> None:
    (country,) = parse_context([COUNTRY])

    assert segment_values(country) == ("GB", "DE", "FR", "other", "unknown")


def test_buckets_label_ranges_with_each_lower_edge_inclusive() -> None:
    (orders,) = parse_context([ORDERS])

    assert segment_values(orders) == ("<1", "1-5", "5-20", ">=20", "unknown")
    assert [segment_of([orders], {"orders": v}) for v in ("0", "1", "4.9", "5", "19", "20", "300")] == [
        "orders=<1",
        "orders=1-5",
        "orders=1-5",
        "orders=5-20",
        "orders=5-20",
        "orders=>=20",
        "orders=>=20",
    ]


def test_categories_match_trimmed_ignoring_case_to_the_declared_spelling_else_other() -> None:
    fields = parse_context([COUNTRY, TIER])

    assert segment_of(fields, {"country": " gb ", "tier": "LOYAL"}) == "country=GB|tier=loyal"
    assert segment_of(fields, {"country": "BR", "tier": "vip-gold-2291"}) == "country=other|tier=other"


def test_missing_empty_or_unparsable_values_go_to_unknown() -> None:
    fields = parse_context([COUNTRY, ORDERS])

    assert segment_of(fields, {}) == "country=unknown|orders=unknown"
    assert segment_of(fields, {"country": "  ", "orders": None}) == "country=unknown|orders=unknown"
    for odd in ("many", "nan", "inf", "-Infinity"):
        assert segment_of(fields, {"country": "DE", "orders": odd}) == "country=DE|orders=unknown"
    assert unknown_segment(fields) == "country=unknown|orders=unknown"


def test_no_context_is_the_empty_segment() -> None:
    assert segment_of((), {"country": "GB"}) == ""
    assert all_segments(()) == ("",)
    assert unknown_segment(()) == ""


def test_all_segments_are_every_combination_in_declaration_order() -> None:
    fields = parse_context([COUNTRY, TIER])
    segments = all_segments(fields)

    assert len(segments) == 5 * 5
    assert segments[0] == "country=GB|tier=new"
    assert segments[-1] == "country=unknown|tier=unknown"
    assert len(set(segments)) == len(segments)


@pytest.mark.parametrize(
    "expression",
    [
        "${language}",
        "${country}",
        "${time_zone}",
        "${most_recent_locale}",
        "${random_bucket_number}",
        "custom_attribute.${tier}",
        "canvas_entry_properties.${plan}",
        "{{custom_attribute.${tier}}}",
    ],
)
def test_the_allowed_braze_expressions(expression: str) -> None:
    field = {"name": "f", "braze": expression, "categories": ["a"]}

    assert parse_context([field])[0].braze == expression.removeprefix("{{").removesuffix("}}")


@pytest.mark.parametrize(
    "expression",
    ["${user_id}", "${braze_id}", "${email_address}", "${phone_number}", "${first_name}", "${last_name}"],
)
def test_braze_identifiers_are_refused_naming_the_field(expression: str) -> None:
    field = {"name": "who", "braze": expression, "categories": ["a"]}

    with pytest.raises(InvalidInput) as caught:
        parse_context([COUNTRY, field])
    assert caught.value.message == (
        f"context[1].braze: '{expression}' identifies or describes a person; context must be coarse"
    )


@pytest.mark.parametrize(
    "name",
    ["customer_id", "CustomerEmail", "home_postcode", "zip", "userid", "last_ip", "birthday", "mobile_nr",
     "street_address", "loyaltyId", "full_name"],
)  # fmt: skip
def test_attributes_that_look_personal_are_refused(name: str) -> None:
    assert looks_personal(name)
    field = {"name": "x", "braze": f"custom_attribute.${{{name}}}", "categories": ["a"]}

    with pytest.raises(InvalidInput, match=r"^context\[0\]\.braze: '.*' looks like an identifier"):
        parse_context([field])


@pytest.mark.parametrize("name", ["tier", "order_count", "plan", "favourite_category", "paid_member"])
def test_coarse_attribute_names_pass(name: str) -> None:
    assert not looks_personal(name)


@pytest.mark.parametrize(
    "expression", ["${city}", "${gender}", "${custom}", "profile.${tier}", "custom_attribute.tier", "tier", 3]
)
def test_anything_not_on_the_allow_list_is_refused(expression: object) -> None:
    with pytest.raises(InvalidInput, match=r"^context\[0\]\.braze: "):
        parse_context([{"name": "x", "braze": expression, "categories": ["a"]}])


def test_a_field_with_more_than_20_segments_is_refused_naming_it() -> None:
    too_many = [f"c{i}" for i in range(MAX_SEGMENTS_PER_FIELD - 1)]  # + other + unknown = 21

    with pytest.raises(InvalidInput) as caught:
        parse_context([{"name": "shop", "braze": "${country}", "categories": too_many}])
    assert caught.value.message == (
        "context[0].categories: field 'shop' has 21 segments (with unknown and other); at most 20"
    )
    with pytest.raises(InvalidInput, match=r"^context\[0\]\.buckets: field 'n' has 21 segments"):
        parse_context([{"name": "n", "braze": "${random_bucket_number}", "buckets": list(range(19))}])


def test_more_than_200_segments_in_all_are_refused_naming_context() -> None:
    wide = [f"c{i}" for i in range(10)]  # 12 segments each: 12 x 12 x 12 = 1728
    fields = [{"name": n, "braze": "${country}", "categories": wide} for n in ("a", "b", "c")]

    with pytest.raises(InvalidInput) as caught:
        parse_context(fields)
    assert caught.value.message == (
        f"context: 1728 segments in all (the product of each field's); at most {MAX_SEGMENTS}"
    )


LIST_RULE = "context: expected a list of 1 to 3 fields, each with name, braze and categories or buckets"
REJECTED_CONTEXT: list[tuple[object, str]] = [
    ({"name": "x"}, LIST_RULE),
    ([COUNTRY] * 4, LIST_RULE),
    ([COUNTRY, COUNTRY], "context[1].name: duplicate name 'country'"),
    (
        [{**COUNTRY, "name": "Country"}],
        "context[0].name: expected up to 32 lower-case letters, digits or '_' "
        "(it is the URL parameter ctx_<name>)",
    ),
    ([{**COUNTRY, "extra": 1}], "context[0].extra: unknown field"),
    (
        [{**COUNTRY, "buckets": [1]}],
        "context[0]: expected exactly one of categories (a closed list) or buckets",
    ),
    ([{**COUNTRY, "categories": []}], "context[0].categories: expected a non-empty list of texts"),
    (
        [{**COUNTRY, "categories": ["GB", "gb"]}],
        "context[0].categories[1]: duplicate category 'gb' (compared ignoring case)",
    ),
    (
        [{**COUNTRY, "categories": ["Other"]}],
        "context[0].categories[0]: 'Other' is reserved (values outside the list, or none)",
    ),
    (
        [{**COUNTRY, "categories": ["a|b"]}],
        "context[0].categories[0]: '|' and '=' are not allowed (they separate segments)",
    ),
    ([{**COUNTRY, "categories": ["x" * 41]}], "context[0].categories[0]: longer than 40 characters"),
    (
        [{**COUNTRY, "categories": ["a\x00"]}],
        "context[0].categories[0]: control character U+0000 is not allowed at character 2",
    ),
    (
        [{**ORDERS, "buckets": [5, 1]}],
        "context[0].buckets: expected strictly increasing numbers, got [5, 1]",
    ),
    (
        [{**ORDERS, "buckets": [1, True]}],
        "context[0].buckets: expected a non-empty list of finite numbers, e.g. [1, 5, 20]",
    ),
]


@pytest.mark.parametrize(("fields", "message"), REJECTED_CONTEXT)
def test_rejected_context(fields: object, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_context(fields)
    assert caught.value.message == message
