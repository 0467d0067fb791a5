"""Braze personalisation in wordings: what is split out, how slots are numbered, what is refused."""

from __future__ import annotations

import pytest

from copyloom.domain.personalisation import (
    Expression,
    placement_slots,
    served_texts,
    slot_marker,
    split_wording,
)
from copyloom.errors import InvalidInput

WHERE = "variants[1].subject"


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("Our sale", ("Our sale",)),
        ("{{${first_name}}}, hi", (Expression("${first_name}"), ", hi")),
        (
            "{{ ${first_name}|default:'there' }}, your 40% off",
            (Expression("${first_name} | default: 'there'"), ", your 40% off"),
        ),
        (
            'VIP {{custom_attribute.${tier} | upcase | truncate: 5, "…"}}!',
            ("VIP ", Expression('custom_attribute.${tier} | upcase | truncate: 5, "…"'), "!"),
        ),
        ("{{${first name}}}", (Expression("${first name}"),)),
        ("{ braces } and }} stay", ("{ braces } and }} stay",)),
    ],
)
def test_a_wording_splits_into_literal_text_and_canonical_expressions(
    text: str, segments: tuple[object, ...]
) -> None:
    assert split_wording(text, WHERE) == segments


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{{ x | evil }}",
            "personalisation '{{ x | evil }}' is not allowed: expected a Braze attribute ${name} or "
            "custom_attribute.${name} first",
        ),
        (
            "{{${a} | evil}}",
            "personalisation '{{${a} | evil}}' is not allowed: filter 'evil' (allowed: default, upcase, "
            "downcase, capitalize, strip, truncate, truncatewords, append, prepend)",
        ),
        (
            "{{p0}}",
            "personalisation '{{p0}}' is not allowed: expected a Braze attribute ${name} or "
            "custom_attribute.${name} first",
        ),
        (
            "{{${a} | append}}",
            "personalisation '{{${a} | append}}' is not allowed: filter 'append' takes a 'text'",
        ),
        (
            "{{${a} | truncate: 1, 2}}",
            "personalisation '{{${a} | truncate: 1, 2}}' is not allowed: filter "
            "'truncate' takes an integer, then optionally a 'text'",
        ),
        (
            "{{${a} | default: x}}",
            "personalisation '{{${a} | default: x}}' is not allowed: filter 'default': "
            "arguments are 'text' or integers",
        ),
        ("{{${a}.b}}", "personalisation '{{${a}.b}}' is not allowed: unexpected '.b' (expected '| filter')"),
        ("Hi {{${a}", "personalisation '{{' has no closing '}}'"),
        ("{%raw%}x{%endraw%}", "Liquid tags '{%' are not allowed in a wording, only {{ }}"),
    ],
)
def test_refused_personalisation_names_the_field_and_the_expression(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        split_wording(text, WHERE)

    assert str(refused.value) == f"{WHERE}: {message}"


def test_stored_text_that_is_not_personalisation_stays_literal_when_not_validating() -> None:
    assert split_wording("{{ x }} and {% if %}") == ("{{ x }} and {% if %}",)


def test_slots_number_the_distinct_expressions_of_all_variants_in_order() -> None:
    texts = [
        {"subject": "{{${first_name}}}, sale", "cta": "Go"},
        {"subject": "{{${tier}}} {{ ${first_name} }}", "cta": "Go {{${first_name}}}"},
    ]

    assert placement_slots(t["subject"] for t in texts) == (
        Expression("${first_name}"),
        Expression("${tier}"),
    )
    assert served_texts(texts, texts[1]) == {"subject": "{{p1}} {{p0}}", "cta": "Go {{p0}}"}
    assert served_texts(texts, texts[0]) == {"subject": "{{p0}}, sale", "cta": "Go"}
    assert slot_marker(3) == "{{p3}}"
