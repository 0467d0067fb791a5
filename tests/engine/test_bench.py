"""The optimisation benchmark (`copyloom.bench`, driving the engine's simulator): a quick run's shape."""

from __future__ import annotations

from copyloom.bench import SCENARIOS, render_table, run_optimize_benchmark
from copyloom.engine import policy_names


def test_a_quick_run_scores_every_policy_on_every_scenario() -> None:
    result = run_optimize_benchmark(seeds=1, quick=True)

    assert result["quick"] is True
    assert [s["name"] for s in result["scenarios"]] == [s.name for s in SCENARIOS]
    for scenario in result["scenarios"]:
        assert set(scenario["policies"]) == set(policy_names())
        for row in scenario["policies"].values():
            assert set(row) == {"gain_mean", "gain_p10", "winner_rate"}
            assert 0.0 <= row["winner_rate"] <= 1.0
    table = render_table(result)
    assert table.count("\n") == 1 + len(SCENARIOS) * len(policy_names())
    assert "| broadcast A/A (looked at every minute) | thompson | n/a | n/a |" in table
