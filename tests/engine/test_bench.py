"""The optimisation benchmark (`copyloom.bench`, driving the engine's simulator): a quick run's shape."""

from __future__ import annotations

import pytest

from copyloom.bench import SCENARIOS, render_table, run_optimize_benchmark
from copyloom.engine import policy_names


def test_a_quick_run_scores_every_policy_on_every_scenario() -> None:
    result = run_optimize_benchmark(seeds=1, quick=True)

    assert result["quick"] is True
    assert [s["name"] for s in result["scenarios"]] == [s.name for s in SCENARIOS]
    for scenario in result["scenarios"]:
        assert set(scenario["policies"]) == set(policy_names())
        for row in scenario["policies"].values():
            assert set(row) == {"gain_mean", "gain_se", "gain_p10", "winner_rate", "late_swing"}
            assert 0.0 <= row["winner_rate"] <= 1.0
    table = render_table(result)
    assert table.count("\n") == 1 + len(SCENARIOS) * len(policy_names())
    assert "| broadcast A/A (looked at every minute) | thompson | n/a | n/a |" in table


def test_a_filtered_run_has_only_the_chosen_scenarios_and_policies() -> None:
    result = run_optimize_benchmark(seeds=1, quick=True, scenario="20,000", policies=("thompson", "uniform"))

    [scenario] = result["scenarios"]
    assert scenario["name"].startswith("broadcast 20,000 recipients")
    assert list(scenario["policies"]) == ["thompson", "uniform"]
    assert 0.0 <= scenario["policies"]["uniform"]["late_swing"] <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenario": "no such scenario"}, "scenario: no scenario name contains 'no such scenario'"),
        ({"policies": ("thompson", "greedy")}, "policies: expected names from"),
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
