"""The simulator: deterministic per seed, honest references, and a delay-aware policy that earns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from copyloom.engine import DelayModel, PolicyConfig
from copyloom.simulation.simulate import Outcome, Rhythm, Scenario, Segment, cycle, segment_table, simulate

SMALL = Scenario(
    name="small broadcast",
    mode="broadcast",
    rates=(0.02, 0.03),
    recipients=100_000,
    duration_s=3 * 3600.0,
    step_s=60.0,
    look_every_s=(60.0, 300.0),
    cohort_s=300.0,
    delay=DelayModel(3600.0, 1.5),
)


def run(policy: str, seed: int = 1, scenario: Scenario = SMALL) -> Outcome:
    return simulate(scenario, PolicyConfig(policy=policy, samples=500), np.random.default_rng(seed))


def test_the_same_seed_gives_the_same_outcome() -> None:
    assert run("thompson", seed=3) == run("thompson", seed=3)


def test_a_run_without_segments_is_bit_for_bit_as_before_the_paired_world() -> None:
    # The figures published for the scenarios without segments were made with one stream for the world,
    # the looks and the engine; the paired world of the segmented scenarios must not move them.
    outcome = run("thompson")

    assert outcome.clicks == 2964.42
    assert outcome.late_swing == 0.01


def test_references_follow_the_rates_and_the_even_split_captures_nothing() -> None:
    outcome = run("uniform")

    assert outcome.best_clicks == pytest.approx(100_000 * 0.03)
    assert outcome.even_clicks == pytest.approx(100_000 * 0.025)
    assert abs(outcome.gain_captured) < 0.05


def test_thompson_captures_most_of_a_large_gap() -> None:
    assert run("thompson").gain_captured > 0.6


def test_equal_rates_have_no_achievable_gain() -> None:
    scenario = Scenario(**{**{f: getattr(SMALL, f) for f in SMALL.__slots__}, "rates": (0.02, 0.02)})

    assert math.isnan(run("uniform", scenario=scenario).gain_captured)


def test_a_swap_exchanges_the_best_and_the_worst_rate() -> None:
    scenario = Scenario(**{**{f: getattr(SMALL, f) for f in SMALL.__slots__}, "swap_at_s": 5400.0})

    outcome = run("uniform", scenario=scenario)

    assert outcome.best_clicks == pytest.approx(100_000 * 0.03)


def test_the_late_swing_is_the_largest_weight_off_the_best_in_the_second_half() -> None:
    # An even split keeps the worse variant at a half throughout; equal rates have no best to swing from.
    equal = Scenario(**{**{f: getattr(SMALL, f) for f in SMALL.__slots__}, "rates": (0.02, 0.02)})

    assert run("uniform").late_swing == pytest.approx(0.5)
    assert run("thompson").late_swing < 0.5
    assert math.isnan(run("uniform", scenario=equal).late_swing)


def test_the_periods_add_up_to_the_totals_and_show_the_learning() -> None:
    outcome = run("thompson")

    assert len(outcome.by_period) == 3, "a 3-hour send in hours"
    clicks, even, best = (sum(column) for column in zip(*outcome.by_period, strict=True))
    assert (clicks, even, best) == pytest.approx((outcome.clicks, outcome.even_clicks, outcome.best_clicks))
    gains = [(c - e) / (b - e) for c, e, b in outcome.by_period]
    assert gains[0] < gains[-1], "the first hour learns, the last one exploits"


def test_the_oracle_learns_which_variant_is_best_and_declares_no_winner() -> None:
    outcome = simulate(SMALL, PolicyConfig(samples=500), np.random.default_rng(1), oracle=True)

    assert outcome.gain_captured > 0.6
    assert outcome.has_winner is False


def test_the_oracle_is_refused_on_rates_that_swap() -> None:
    scenario = Scenario(**{**{f: getattr(SMALL, f) for f in SMALL.__slots__}, "swap_at_s": 5400.0})

    with pytest.raises(
        ValueError, match="oracle: the rates of a scenario with a swap or a rate rhythm change"
    ):
        simulate(scenario, PolicyConfig(samples=500), np.random.default_rng(1), oracle=True)


def test_rhythms_move_the_volume_and_every_rate_alike_and_keep_the_total() -> None:
    rhythm = Rhythm(by_hour=cycle(0.6, 24, peak=19), by_weekday=cycle(0.3, 7, peak=1))
    hourly = {"mode": "triggered", "duration_s": 2 * 86_400.0, "step_s": 3600.0, "cohort_s": 3600.0}
    scenario = Scenario(**{**{f: getattr(SMALL, f) for f in SMALL.__slots__}, **hourly})
    moving_parts = {"volume_rhythm": rhythm, "rate_rhythm": rhythm}
    rhythmic = Scenario(**{**{f: getattr(scenario, f) for f in scenario.__slots__}, **moving_parts})

    plain, moving = run("uniform", scenario=scenario), run("uniform", scenario=rhythmic)

    assert rhythm.at(19 * 3600.0) == pytest.approx(1.6 * rhythm.by_weekday[0])
    assert cycle(0.3, 7, peak=1)[1] == pytest.approx(1.3)
    assert sum(cycle(0.3, 7, peak=1)) == pytest.approx(7.0)
    # The same sends in all; the busy hours have the high rates, so the rhythm earns more even split.
    assert moving.even_clicks > plain.even_clicks
    assert moving.best_clicks / moving.even_clicks == pytest.approx(plain.best_clicks / plain.even_clicks)


def test_the_oracle_is_refused_on_rates_with_a_rhythm() -> None:
    scenario = Scenario(**{**{f: getattr(SMALL, f) for f in SMALL.__slots__}, "rate_rhythm": Rhythm()})

    with pytest.raises(
        ValueError, match="oracle: the rates of a scenario with a swap or a rate rhythm change"
    ):
        simulate(scenario, PolicyConfig(samples=500), np.random.default_rng(1), oracle=True)


def test_a_variant_that_joins_is_absent_before_and_takes_the_traffic_when_it_is_better() -> None:
    scenario = Scenario(
        name="join",
        mode="triggered",
        rates=(0.02, 0.022, 0.04),
        recipients=6 * 24 * 2_000,
        duration_s=6 * 86_400.0,
        step_s=3_600.0,
        look_every_s=(3 * 3_600.0, 3 * 3_600.0),
        cohort_s=3_600.0,
        delay=DelayModel(3_600.0, 1.2),
        join_at_s=2 * 86_400.0,
        period_s=2 * 86_400.0,
    )

    outcome = simulate(scenario, PolicyConfig(mode="triggered"), np.random.default_rng(3))

    assert 0 < outcome.joined_to_half_s < 86_400.0
    _clicks, _even, best_before = outcome.by_period[0]
    assert best_before == pytest.approx(2 * 24 * 2_000 * 0.022)  # before the join the best is 2.2 %


SEGMENTED = Scenario(
    **{
        **{f: getattr(SMALL, f) for f in SMALL.__slots__},
        "rates": (0.025, 0.025),
        "segments": (Segment("country=GB", 0.7, (0.02, 0.03)), Segment("country=DE", 0.3, (0.035, 0.015))),
    }
)


def test_a_segmented_world_references_each_segment_served_its_best() -> None:
    outcome = simulate(SEGMENTED, PolicyConfig(policy="uniform"), np.random.default_rng(2))

    # Segment-aware: always best earns 0.7 * 3 % + 0.3 * 3.5 %, the even split 0.7 * 2.5 % + 0.3 * 2.5 %.
    assert outcome.best_clicks == pytest.approx(100_000 * (0.7 * 0.03 + 0.3 * 0.035), rel=0.02)
    assert outcome.even_clicks == pytest.approx(100_000 * 0.025, rel=0.02)
    assert abs(outcome.gain_captured) < 0.1


def test_the_contextual_learner_serves_each_segment_its_own_best() -> None:
    config = PolicyConfig(samples=500)
    blind = simulate(SEGMENTED, config, np.random.default_rng(4))
    contextual = simulate(SEGMENTED, config, np.random.default_rng(4), contextual=True)
    oracle = simulate(SEGMENTED, config, np.random.default_rng(4), oracle=True)

    # Blind to segments the best single wording (v1: 2.55 % against 2.5 % even, 3.15 % served per
    # segment) is all there is: 0.08 of the gain.
    assert blind.gain_captured < 0.3
    assert contextual.gain_captured > 0.6
    assert oracle.gain_captured > 0.6
    assert contextual == simulate(SEGMENTED, config, np.random.default_rng(4), contextual=True)


def test_every_entrant_on_a_segmented_seed_faces_the_same_recipients() -> None:
    config = PolicyConfig(samples=500)
    outcomes = [
        simulate(SEGMENTED, config, np.random.default_rng(4)),
        simulate(SEGMENTED, config, np.random.default_rng(4), contextual=True),
        simulate(SEGMENTED, config, np.random.default_rng(4), oracle=True),
        simulate(SEGMENTED, PolicyConfig(policy="uniform"), np.random.default_rng(4)),
    ]

    # The references depend only on who is in which segment at each step: the same for every entrant.
    assert len({(o.even_clicks, o.best_clicks) for o in outcomes}) == 1
    assert len({o.clicks for o in outcomes}) == 4


def test_segment_table_checks_the_shares_and_the_rates() -> None:
    table, shares = segment_table(SEGMENTED)
    assert table.tolist() == [[0.02, 0.03], [0.035, 0.015]]
    assert shares.tolist() == [0.7, 0.3]
    assert segment_table(SMALL)[0].tolist() == [[0.02, 0.03]]

    uneven = Scenario(
        **{
            **{f: getattr(SEGMENTED, f) for f in SEGMENTED.__slots__},
            "segments": (Segment("a", 0.5, (0.02, 0.03)),),
        }
    )
    with pytest.raises(ValueError, match=r"^segments: expected positive shares summing to 1, got \[0.5\]$"):
        simulate(uneven, PolicyConfig(), np.random.default_rng(1))
    short = Scenario(
        **{
            **{f: getattr(SEGMENTED, f) for f in SEGMENTED.__slots__},
            "segments": (Segment("a", 1.0, (0.02,)),),
        }
    )
    with pytest.raises(ValueError, match=r"^segments: expected 2 rates in every segment$"):
        simulate(short, PolicyConfig(), np.random.default_rng(1))
