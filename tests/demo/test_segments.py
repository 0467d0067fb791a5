"""The figures of `copyloom demo --segments`: the declared field, the truth per segment, the expectations."""

from __future__ import annotations

import pytest

from copyloom.demo.braze import COUNTRY_RATES, COUNTRY_SHARES
from copyloom.demo.segments import (
    CONTEXT,
    countries_by_segment,
    expected_clicks,
    mixed_rates,
    segment_rates,
    segments_text,
)
from copyloom.domain.context import all_segments, parse_context

FIELDS = parse_context(CONTEXT)
SEND = {"GB": 12_000, "DE": 6_000, "FR": 600, "US": 400, "": 1_000}  # the shares of 20,000 recipients


def test_every_simulated_country_falls_in_a_declared_segment() -> None:
    grouped = countries_by_segment(FIELDS, dict.fromkeys(COUNTRY_SHARES, 1))

    assert set(grouped) == set(all_segments(FIELDS))
    assert grouped["country=other"] == {"FR": 1, "US": 1}
    assert grouped["country=unknown"] == {"": 1}, "no country on the profile: Braze sends an empty value"


def test_the_truly_best_wording_differs_between_gb_and_de() -> None:
    truth = segment_rates(FIELDS, SEND)

    def best(segment: str) -> str:
        return max(truth[segment], key=lambda v: truth[segment][v])

    assert best("country=GB") == "benefit"
    assert best("country=DE") == "urgency"
    assert truth["country=other"] == pytest.approx(COUNTRY_RATES["FR"])


def test_mixed_rates_weigh_each_country_by_its_recipients() -> None:
    mixed = mixed_rates({"GB": 3, "DE": 1})

    assert mixed["urgency"] == pytest.approx((3 * 0.028 + 0.070) / 4)
    assert sum(COUNTRY_SHARES.values()) == pytest.approx(1.0)


def test_expected_clicks_of_the_single_best_wording_and_of_each_segments_best() -> None:
    expected = expected_clicks(FIELDS, SEND)

    assert expected["single_best_variant"] == "benefit"
    assert expected["clicks_single_best_expected"] == pytest.approx(
        12_000 * 0.060 + 6_000 * 0.024 + 2_000 * 0.050
    )
    assert expected["clicks_per_segment_best_expected"] == pytest.approx(
        12_000 * 0.060 + 6_000 * 0.070 + 2_000 * 0.050
    )


def test_the_text_says_how_many_of_the_clicks_gained_came_from_choosing_per_segment() -> None:
    result = {
        "clicks_gained_vs_even_split": 332.0,
        "segments": {
            "field": "country",
            "context_calls": 21_949,
            "segments": [{"segment": "country=GB"}, {"segment": "country=DE"}],
            "single_best_variant": "benefit",
            "clicks_served_expected": 1_096.0,
            "clicks_single_best_expected": 964.0,
            "clicks_per_segment_best_expected": 1_240.0,
            "clicks_gained_by_choosing_per_segment": 138.0,
            "incremental_estimate": 250.0,
        },
    }

    text = segments_text(result)

    assert "clicks gained by choosing per segment: +138 of the +332" in text
    assert "(expected: 964\nserving benefit, the best single wording, to everyone;" in text
    assert "21,949 content calls carried ctx_country; stored segments: country=GB, country=DE" in text
