"""`copyloom demo`, run for real (a smaller, faster send than `make demo`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs_the_whole_loop_and_reports_json() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "copyloom", "demo", "--json", "--recipients", "3000", "--duration-s", "12"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {v["variant_id"] for v in report["variants"]} == {"control", "urgency", "benefit", "question"}
    assert set(report["variants"][0]) >= {"variant_id", "true_rate", "sends", "clicks", "weight", "p_best"}
    assert report["best_variant"] == "benefit"
    assert sum(v["sends"] for v in report["variants"]) == 3000
    assert sum(v["weight"] for v in report["variants"]) == pytest.approx(1.0, abs=1e-3)
    assert report["sticky_mismatches"] == 0
    assert report["http_errors"] == 0
    assert report["clicks"] > 0
    assert isinstance(report["clicks_gained_vs_even_split"], float)
