"""The optimisation benchmark (`copyloom.bench.optimize`, driving the simulator): a quick run's shape."""

from __future__ import annotations

from typing import Any

import pytest

from copyloom.bench import (
    CONTEXTUAL,
    ORACLE,
    SCENARIOS,
    Feedback,
    floor_bound,
    pooled_gain_by_period,
    render_table,
    run_optimize_benchmark,
)
from copyloom.bench.segments import CEILING_LABEL, LEARNING_ORACLE_LABEL
from copyloom.engine import policy_names
from copyloom.simulation.simulate import Outcome


def test_a_quick_run_scores_every_policy_on_every_scenario() -> None:
    result = run_optimize_benchmark(seeds=1, quick=True)

    assert result["quick"] is True
    assert [s["name"] for s in result["scenarios"]] == [s.name for s in SCENARIOS]
    for scenario, spec in zip(result["scenarios"], SCENARIOS, strict=True):
        is_fixed = spec.swap_at_s is None and spec.rate_rhythm is None and spec.join_at_s is None
        has_oracle = is_fixed and len(set(spec.rates)) > 1
        contextual = {CONTEXTUAL} if spec.segments else set()
        assert (
            set(scenario["policies"])
            == set(policy_names()) | ({ORACLE} if has_oracle else set()) | contextual
        )
        for row in scenario["policies"].values():
            joined = (
                {"joined_to_half_h_median", "joined_reached_half"} if spec.join_at_s is not None else set()
            )
            assert set(row) == {
                "gain_mean", "gain_se", "gain_p10", "gain_by_period", "winner_rate", "late_swing", *joined
            }  # fmt: skip
            assert 0.0 <= row["winner_rate"] <= 1.0
        if scenario["floor_bound"] is not None:
            assert 0.85 <= scenario["floor_bound"] < 1.0
    table = render_table(result)
    oracle_rows = sum(ORACLE in s["policies"] for s in result["scenarios"])
    assert oracle_rows == len(SCENARIOS) - 6  # not the A/A tests, the swaps, the rhythms or the join
    segmented = sum(bool(s.segments) for s in SCENARIOS)
    assert segmented == 3
    # A row per entrant, a ceiling row per segmented scenario; one seed gives no paired table.
    assert table.count("\n") == 1 + len(SCENARIOS) * len(policy_names()) + oracle_rows + 2 * segmented
    assert "| broadcast A/A (looked at every minute) | thompson | n/a | n/a | n/a | n/a |" in table
    assert "| broadcast 2 variants (+10 %) | uniform | " in table


def test_the_floor_bound_leaves_every_other_variant_its_floor() -> None:
    # 2 variants: 0.99 * 0.0275 + 0.01 * 0.025 = 0.027475 against an even 0.02625 and a best 0.0275.
    assert floor_bound((0.025, 0.0275), 0.01) == pytest.approx(0.98)
    # 5 variants at 2.0-2.5 %: four floors at 1 % lose 0.04 * (2.5 - 2.1875) of the 0.25 points.
    assert floor_bound((0.020, 0.02125, 0.0225, 0.02375, 0.025), 0.01) == pytest.approx(0.95)
    assert floor_bound((0.02, 0.03), 0.0) == pytest.approx(1.0)
    assert floor_bound((0.025, 0.025), 0.01) is None


def test_the_segmented_scenarios_score_every_entrant_against_each_segment_served_its_best() -> None:
    result = run_optimize_benchmark(seeds=1, quick=True, scenario="segments 60/30/10 %, best differs")

    [scenario] = result["scenarios"]
    assert {"thompson", CONTEXTUAL, ORACLE} <= set(scenario["policies"])
    # Each country's other two wordings at their 1 % floors: the segment-aware bound.
    assert scenario["floor_bound"] == pytest.approx(0.970, abs=0.001)


def test_the_segmented_table_shows_the_ceiling_that_knows_each_segment_best_and_the_paired_difference() -> (
    None
):
    result = run_optimize_benchmark(
        seeds=2, quick=True, scenario="same best", policies=("thompson", CONTEXTUAL, ORACLE)
    )

    [scenario] = result["scenarios"]
    difference = scenario["contextual_minus_blind"]
    gains = scenario["policies"]
    assert difference["mean"] == pytest.approx(
        gains[CONTEXTUAL]["gain_mean"] - gains["thompson"]["gain_mean"], abs=2e-3
    )
    assert difference["se"] >= 0
    table = render_table(result)
    assert f"| {scenario['name']} | {CEILING_LABEL} | 0.970 |" in table
    assert f"| {scenario['name']} | {LEARNING_ORACLE_LABEL} |" in table
    assert f"| {CONTEXTUAL} − thompson, paired by seed (mean) | standard error |" in table
    plain = render_table(run_optimize_benchmark(seeds=1, quick=True, scenario="20,000", policies=(ORACLE,)))
    assert "| oracle |" in plain
    assert CEILING_LABEL not in plain
    assert "paired" not in plain


def test_gain_by_period_pools_the_seeds_before_dividing() -> None:
    first = Outcome(0, 0, 0, False, by_period=((12.0, 10.0, 14.0), (10.0, 10.0, 10.0)))
    second = Outcome(0, 0, 0, False, by_period=((14.0, 10.0, 14.0), (9.0, 8.0, 12.0)))

    # Period 1: (26 - 20) / (28 - 20); period 2: (19 - 18) / (22 - 18); per-seed means would differ.
    assert pooled_gain_by_period([first, second]) == [0.75, 0.25]
    assert pooled_gain_by_period([Outcome(0, 0, 0, False, by_period=((5.0, 5.0, 5.0),))]) == [None]


def test_a_filtered_run_has_only_the_chosen_scenarios_and_policies() -> None:
    result = run_optimize_benchmark(seeds=1, quick=True, scenario="20,000", policies=("thompson", "uniform"))

    [scenario] = result["scenarios"]
    assert scenario["name"].startswith("broadcast 20,000 recipients")
    assert list(scenario["policies"]) == ["thompson", "uniform"]
    assert 0.0 <= scenario["policies"]["uniform"]["late_swing"] <= 1.0


def test_instant_feedback_is_the_yardstick_of_what_the_delay_costs() -> None:
    def thompson(feedback: Feedback) -> dict[str, Any]:
        result = run_optimize_benchmark(
            seeds=2, quick=True, scenario="2 variants", policies=("thompson",), feedback=feedback
        )
        assert result["feedback"] == feedback
        return dict(result["scenarios"][0]["policies"]["thompson"])

    delayed, instant = thompson("delayed"), thompson("instant")

    # In the first hour a delayed click has mostly not arrived; an instant one is there at the next look.
    assert instant["gain_by_period"][0] > delayed["gain_by_period"][0] + 0.3
    assert instant["gain_mean"] > delayed["gain_mean"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenario": "no such scenario"}, "scenario: no scenario name contains 'no such scenario'"),
        ({"policies": ("thompson", "greedy")}, "policies: expected names from"),
        ({"feedback": "late"}, "feedback: expected one of delayed, instant, got 'late'"),
    ],
)
def test_a_filter_that_matches_nothing_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_optimize_benchmark(seeds=1, quick=True, **kwargs)  # type: ignore[arg-type]


def test_seeds_can_start_elsewhere_and_give_other_runs_with_a_standard_error() -> None:
    def run(first_seed: int) -> dict[str, object]:
        result = run_optimize_benchmark(
            seeds=2, quick=True, scenario="2 variants", policies=("thompson",), first_seed=first_seed
        )
        [scenario] = result["scenarios"]
        return dict(scenario["policies"]["thompson"])

    table_seeds, same_again, other_seeds = run(0), run(0), run(40)

    assert table_seeds == same_again, "deterministic for the seeds"
    assert other_seeds != table_seeds
    assert isinstance(table_seeds["gain_se"], float)
    assert table_seeds["gain_se"] >= 0


def test_the_oracle_is_a_row_of_its_own_that_declares_no_winner() -> None:
    result = run_optimize_benchmark(seeds=2, quick=True, scenario="20,000", policies=("thompson", ORACLE))

    rows = result["scenarios"][0]["policies"]
    assert list(rows) == ["thompson", ORACLE]
    assert rows[ORACLE]["gain_mean"] is not None
    assert len(rows[ORACLE]["gain_by_period"]) == 2  # the quick scenario lasts a quarter of 6 hours
    assert rows[ORACLE]["winner_rate"] == 0.0


def test_the_oracle_skips_scenarios_whose_rates_it_cannot_know() -> None:
    result = run_optimize_benchmark(seeds=1, quick=True, scenario="swapped", policies=(ORACLE,))

    assert result["scenarios"][0]["policies"] == {}


def test_the_rhythm_scenarios_are_triggered_with_volume_and_rates_moving_for_every_variant_alike() -> None:
    rhythmic = [s for s in SCENARIOS if s.rate_rhythm is not None]

    assert [s.name for s in rhythmic] == [
        "triggered 3 weeks with rhythms, stationary",
        "triggered 3 weeks with rhythms, best swapped at day 14",
        "triggered A/A with rhythms",
    ]
    for scenario in rhythmic:
        assert scenario.mode == "triggered"
        assert scenario.volume_rhythm is not None
        volume = [scenario.volume_rhythm.at(h * 3600.0) for h in range(7 * 24)]
        rates = [scenario.rate_rhythm.at(h * 3600.0) for h in range(7 * 24)]
        assert max(scenario.volume_rhythm.by_hour) == pytest.approx(1.6)
        assert max(volume) / min(volume) > 4
        assert 1.15 <= max(scenario.rate_rhythm.by_hour) <= 1.3
        assert max(rates) / min(rates) > 1.5
