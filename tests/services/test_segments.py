"""Per-segment figures against counts computed by hand, on SQLite and PostgreSQL; the incremental interval
against the truth on simulated segments."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from copyloom.domain.values import Experiment, ExperimentId, TenantId
from copyloom.errors import NotFound
from copyloom.services import reports, segments
from copyloom.services.segments import SegmentBreakdown
from copyloom.storage.assignments import SegmentCount
from copyloom.storage.db import Store
from tests.helpers import Workspace, make_definition, make_workspace
from tests.segment_data import (
    CONTEXT,
    DE_LOYAL,
    GB_NEW,
    STANDARD,
    filled_segments,
    insert_planned,
    segmented_workspace,
)


def breakdown_of(workspace: Workspace) -> SegmentBreakdown:
    found = reports.experiment_figures(workspace.store, workspace.experiment_id).segments
    assert found is not None
    return found


def test_each_segment_has_its_sends_clicks_and_rates_with_bots_apart(store: Store) -> None:
    breakdown = breakdown_of(filled_segments(store))

    gb, de = breakdown.segments  # most sends first
    assert (gb.segment, gb.sends, de.segment, de.sends) == (GB_NEW, 1000, DE_LOYAL, 600)
    control, v1, v2 = gb.variants
    assert [(v.variant_id, v.sends, v.clicks) for v in gb.variants] == [
        ("control", 400, 8),
        ("v1", 400, 24),
        ("v2", 200, 4),
    ]
    assert (control.bot_clicks, control.machine_opens, control.opens) == (3, 2, 40)
    assert [v.rate for v in gb.variants] == pytest.approx([0.02, 0.06, 0.02])
    assert all(v.rate_ci.low < v.rate < v.rate_ci.high for v in (control, v1, v2))
    assert [v.variant_id for v in de.variants] == ["control", "v1"]  # v2 was never sent there


def test_p_best_weights_and_winner_come_from_the_segments_allocation(store: Store) -> None:
    gb, de = breakdown_of(filled_segments(store)).segments

    assert [(v.p_best, v.weight) for v in gb.variants] == [(0.05, 0.1), (0.9, 0.8), (0.05, 0.1)]
    assert (gb.leader, gb.winner, de.leader, de.winner) == ("v1", "v1", "control", None)


def test_a_segment_whose_leader_differs_from_the_overall_leader_is_marked_with_its_gain(store: Store) -> None:
    breakdown = breakdown_of(filled_segments(store))

    gb, de = breakdown.segments
    assert breakdown.overall_leader == "v1"
    assert (gb.disagrees, gb.incremental) == (False, 0.0)
    assert de.disagrees
    assert de.gain_rate == pytest.approx(0.05 - 0.02)
    assert de.incremental == pytest.approx(600 * 0.03)
    assert breakdown.incremental == pytest.approx(18.0)
    assert breakdown.disagreeing == (de,)


def test_the_incremental_interval_has_the_spread_of_the_two_beta_posteriors(store: Store) -> None:
    breakdown = breakdown_of(filled_segments(store))

    # Only DE_LOYAL counts: 600 x (control's rate - v1's rate), each Beta(0.5 + clicks, 0.5 + misses).
    def variance(events: int, sends: int) -> float:
        a, b = 0.5 + events, 0.5 + sends - events
        return a * b / ((a + b) ** 2 * (a + b + 1))

    half_width = 1.96 * 600 * math.sqrt(variance(15, 300) + variance(6, 300))
    low, high = breakdown.incremental_ci.low, breakdown.incremental_ci.high
    assert low < 18.0 < high
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.1)


def test_before_the_learner_the_leader_is_the_highest_rate(store: Store) -> None:
    workspace = segmented_workspace(store)
    insert_planned(workspace, STANDARD)
    breakdown = breakdown_of(workspace)

    gb, de = breakdown.segments
    assert (gb.leader, de.leader) == ("v1", "control")
    assert all(v.p_best is None and v.weight is None for v in gb.variants)
    assert breakdown.overall_leader == "v1"  # 30 / 700 against the control's 23 / 700


def test_an_experiment_without_context_has_no_segments(store: Store) -> None:
    workspace = make_workspace(store, "acme")

    assert reports.experiment_figures(store, workspace.experiment_id).segments is None
    assert segments.experiment_segments(store, workspace.experiment_id, None) is None


def test_another_tenants_experiment_is_not_found(store: Store) -> None:
    workspace = filled_segments(store)
    other = make_workspace(store, "globex")

    with pytest.raises(NotFound, match="experiment: no experiment"):
        segments.experiment_segments(store, workspace.experiment_id, None, tenant_id=other.tenant.tenant_id)


def _simulated(
    rng: np.random.Generator, truth: dict[str, dict[str, float]], sends: int
) -> list[SegmentCount]:
    counts = []
    for segment, rates in truth.items():
        for variant, rate in rates.items():
            clicks = int(rng.binomial(sends, rate))
            counts.append(SegmentCount(segment, variant, sends, {"click": clicks}))
    return counts


def test_the_incremental_interval_covers_the_truth_on_simulated_segments() -> None:
    # Two segments where v1 is best, one where the control is: per-segment choice earns clicks.
    truth = {
        "tier=new": {"control": 0.02, "v1": 0.04, "v2": 0.03},
        "tier=regular": {"control": 0.03, "v1": 0.035, "v2": 0.03},
        "tier=loyal": {"control": 0.06, "v1": 0.03, "v2": 0.04},
    }
    definition = replace(make_definition(), context=CONTEXT)
    experiment = Experiment(ExperimentId("e1"), TenantId("t1"), definition, "live", None, 0.0)
    rng = np.random.default_rng(11)
    covered = runs = 0
    for _ in range(120):
        counts = _simulated(rng, truth, 2000)
        breakdown = segments.segment_breakdown(experiment, counts, None, None, rng)
        assert breakdown is not None
        overall = breakdown.overall_leader
        expected = sum(
            s.sends * (truth[s.segment][s.leader or ""] - truth[s.segment][overall or ""])
            for s in breakdown.segments
        )
        runs += 1
        covered += breakdown.incremental_ci.low <= expected <= breakdown.incremental_ci.high
    assert covered / runs >= 0.9
