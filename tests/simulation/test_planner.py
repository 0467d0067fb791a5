"""The send planner (`copyloom.simulation.planner`): a longer send gives the learner more looks, the rate
limit's arithmetic, the recommendation rule and the rejected requests."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from copyloom.bench import floor_bound
from copyloom.engine import DelayModel, PolicyConfig
from copyloom.simulation.planner import (
    BRAZE_MAX_PER_MINUTE,
    BRAZE_MIN_PER_MINUTE,
    SHARE_OF_BEST,
    DurationPlan,
    PlanRequest,
    is_settable_rate,
    plan_as_dict,
    plan_send,
    rate_per_minute,
    recommend,
)
from copyloom.simulation.simulate import Scenario, simulate

SMALL = PlanRequest(audience=100_000, variants=2, base_rate=0.03, expected_lift=0.3, seeds=3)


def test_a_longer_send_captures_a_larger_share_up_to_the_floors_ceiling() -> None:
    plan = plan_send(SMALL, durations_h=(None, 1.0, 6.0))

    shares = [row.gain_share or 0.0 for row in plan.durations]
    ceiling = floor_bound(plan.rates, PolicyConfig().floor)
    assert abs(shares[0]) < 0.05, "all at once: the learner never looks in time"
    assert shares[0] < shares[1] < shares[2] < (ceiling or 1.0)
    assert [row.extra_clicks > 0 for row in plan.durations[1:]] == [True, True]


def test_extra_clicks_are_the_share_of_the_achievable_clicks() -> None:
    plan = plan_send(SMALL, durations_h=(6.0,))

    row = plan.durations[0]
    assert plan.achievable_clicks == pytest.approx(100_000 * (0.039 - 0.0345))
    assert row.gain_share is not None
    assert row.extra_clicks == pytest.approx(row.gain_share * plan.achievable_clicks)
    assert row.gain_share_se is not None
    assert row.extra_clicks_se is not None


def test_the_same_request_gives_the_same_plan_in_one_process_or_two() -> None:
    request = replace(SMALL, audience=20_000, seeds=2)

    alone = plan_send(request, durations_h=(None, 1.0))
    assert plan_send(request, durations_h=(None, 1.0)) == alone
    assert plan_send(request, durations_h=(None, 1.0), workers=2) == alone
    assert plan_send(replace(request, seed=1), durations_h=(None, 1.0)) != alone


def test_a_caller_can_stop_after_the_first_round_of_seeds() -> None:
    plan = plan_send(replace(SMALL, seeds=5), durations_h=(None, 1.0), keep_going=lambda: False)

    assert plan.seeds_run == 1
    assert plan.durations[1].gain_share_se is None


def test_the_others_are_spread_evenly_between_the_control_and_the_best() -> None:
    request = PlanRequest(audience=10_000, variants=5, base_rate=0.02, expected_lift=0.2)

    assert request.rates == pytest.approx((0.020, 0.021, 0.022, 0.023, 0.024))
    assert replace(request, expected_lift=-0.25).rates[-1] == pytest.approx(0.015)


@pytest.mark.parametrize(
    ("audience", "hours", "per_minute"),
    [(1_000_000, 6.0, 2_778), (1_000_000, 4.0, 4_167), (360_000, 6.0, 1_000), (1_000, 1.0, 17)],
)
def test_the_rate_limit_is_the_audience_over_the_minutes_rounded_up(
    audience: int, hours: float, per_minute: int
) -> None:
    assert rate_per_minute(audience, hours) == per_minute
    assert rate_per_minute(audience, hours) * hours * 60 >= audience


def test_only_rates_braze_offers_can_be_set() -> None:
    assert is_settable_rate(None), "no limit"
    assert is_settable_rate(BRAZE_MIN_PER_MINUTE)
    assert is_settable_rate(BRAZE_MAX_PER_MINUTE)
    assert not is_settable_rate(rate_per_minute(1_000, 12.0)), "2 a minute: below Braze's lowest"
    assert not is_settable_rate(rate_per_minute(100_000_000, 1.0)), "1,666,667 a minute: above its highest"


def row(duration_h: float | None, extra_clicks: float, *, is_settable: bool = True) -> DurationPlan:
    return DurationPlan(duration_h, None, is_settable, None, None, extra_clicks, None)


def test_the_recommendation_is_the_shortest_send_earning_nine_tenths_of_the_best() -> None:
    rows = [row(None, 0.0), row(1.0, 500.0), row(2.0, 880.0), row(4.0, 905.0), row(12.0, 1_000.0)]

    hours, reason = recommend(rows)

    assert SHARE_OF_BEST == 0.9
    assert hours == 4.0
    assert reason.startswith("4 h is the shortest send")
    assert "12 h: 1,000" in reason


def test_when_only_the_best_duration_will_do_the_reason_says_so() -> None:
    hours, reason = recommend([row(None, 0.0), row(6.0, 500.0), row(12.0, 1_000.0)])

    assert hours == 12.0
    assert (
        reason == "12 h is expected to earn the most extra clicks (1,000), and no shorter send 90% of them."
    )


def test_a_duration_braze_cannot_set_is_never_recommended_nor_the_best() -> None:
    rows = [
        row(None, 0.0),
        row(1.0, 950.0, is_settable=False),
        row(6.0, 900.0),
        row(12.0, 5_000.0, is_settable=False),
    ]

    assert recommend(rows)[0] == 6.0


def test_equal_wordings_need_no_rate_limit() -> None:
    plan = plan_send(replace(SMALL, expected_lift=0.0, seeds=1), durations_h=(None, 1.0))

    assert [r.gain_share for r in plan.durations] == [None, None]
    assert plan.recommended_h is None
    assert plan.reason.startswith("No duration is expected to gain clicks")


def test_the_plan_as_json_names_the_recommended_rate_limit() -> None:
    plan = plan_send(replace(SMALL, seeds=1), durations_h=(None, 1.0))

    found = plan_as_dict(plan)

    assert found["recommended_h"] == 1.0
    assert found["recommended_rate_per_minute"] == 1_667
    assert [d["duration_h"] for d in found["durations"]] == [None, 1.0]
    assert found["delay"] == {"median_s": 3600.0, "sigma": 1.2}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"audience": 999}, "audience: expected an integer from 1,000 to 100,000,000, got 999"),
        ({"audience": 100_000_001}, "audience: expected an integer from 1,000 to 100,000,000, got 100000001"),
        ({"audience": 5_000.0}, "audience: expected an integer from 1,000 to 100,000,000, got 5000.0"),
        ({"variants": 1}, "variants: expected an integer from 2 to 10, got 1"),
        ({"variants": 11}, "variants: expected an integer from 2 to 10, got 11"),
        ({"base_rate": 0.0}, "base_rate: expected a number above 0 and below 0.5, got 0.0"),
        ({"base_rate": 0.5}, "base_rate: expected a number above 0 and below 0.5, got 0.5"),
        ({"base_rate": float("nan")}, "base_rate: expected a number above 0 and below 0.5, got nan"),
        ({"expected_lift": -0.5}, "expected_lift: expected a number above -0.5 and below 5, got -0.5"),
        ({"expected_lift": 5.0}, "expected_lift: expected a number above -0.5 and below 5, got 5.0"),
        (
            {"base_rate": 0.4, "expected_lift": 2.0},
            "expected_lift: the best rate, base_rate * (1 + expected_lift), must be below 1, got 1.2",
        ),
        (
            {"delay": DelayModel(median_s=8 * 86_400.0)},
            "delay: expected a DelayModel with a median of at most 168",
        ),
        ({"seeds": 0}, "seeds: expected an integer from 1 to 1,000, got 0"),
        ({"seed": -1}, "seed: expected an integer from 0 to 4,294,967,295, got -1"),
        ({"policy": PolicyConfig(mode="triggered")}, "policy: expected a broadcast PolicyConfig"),
    ],
)
def test_a_request_out_of_range_is_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        replace(SMALL, **change)


def test_the_recommended_row_is_what_a_direct_simulation_of_that_send_earns() -> None:
    """The plan's figures at its recommended duration, checked against `simulate` run by hand on the same
    send (uniform over the duration, the engine's defaults, the request's delay) and seeds."""
    plan = plan_send(SMALL, durations_h=(None, 1.0, 3.0, 6.0))
    chosen = next(row for row in plan.durations if row.duration_h == plan.recommended_h)
    send = Scenario(
        name="by hand",
        mode="broadcast",
        rates=plan.rates,
        recipients=SMALL.audience,
        duration_s=60.0 if plan.recommended_h is None else plan.recommended_h * 3_600.0,
        step_s=60.0,
        look_every_s=(60.0, 300.0),
        cohort_s=300.0,
        delay=SMALL.delay,
    )
    config = PolicyConfig(samples=2_000, delay=SMALL.delay)

    direct = [simulate(send, config, np.random.default_rng((SMALL.seed, i))) for i in range(SMALL.seeds)]

    assert chosen.extra_clicks == pytest.approx(np.mean([o.clicks - o.even_clicks for o in direct]))
    assert chosen.gain_share == pytest.approx(np.mean([o.gain_captured for o in direct]))
    assert plan_send(SMALL, durations_h=(None, 1.0, 3.0, 6.0)).recommended_h == plan.recommended_h
