"""Report figures against counts computed by hand, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from copyloom.errors import NotFound
from copyloom.services import experiments as experiment_service
from copyloom.services import report_stats as stats
from copyloom.services import reports
from copyloom.services.report_stats import Interval
from copyloom.services.reports import ExperimentFigures
from copyloom.storage.db import Store
from copyloom.storage.experiments import StoredAllocation, insert_allocation
from tests.helpers import Workspace, make_definition, make_workspace
from tests.report_data import FIRST_SEND_AT, SECOND_SEND_AT, STANDARD, Fill, fill, learn

FIRST_COHORT, SECOND_COHORT = FIRST_SEND_AT, SECOND_SEND_AT


def inside(value: float, interval: Interval | None) -> bool:
    assert interval is not None
    return interval.low <= value <= interval.high


@pytest.fixture
def filled(workspace: Workspace) -> Workspace:
    fill(workspace, STANDARD)
    learn(workspace, SECOND_SEND_AT + 1800)
    learn(workspace, SECOND_SEND_AT + 3600)
    return workspace


def figures_of(workspace: Workspace) -> ExperimentFigures:
    return reports.experiment_figures(workspace.store, workspace.experiment_id)


def test_per_variant_counts_are_the_unique_engagements_stored(filled: Workspace) -> None:
    figures = figures_of(filled)

    control, v1, v2 = figures.variants
    assert [v.variant_id for v in figures.variants] == ["control", "v1", "v2"]
    assert [v.is_control for v in figures.variants] == [True, False, False]
    assert (control.sends, control.clicks, control.opens, control.delivered) == (1000, 20, 300, 990)
    assert (control.bot_clicks, control.machine_opens) == (5, 40)
    assert (v1.sends, v1.clicks, v1.opens, v1.unsubscribed, v1.spam) == (1000, 30, 300, 1, 1)
    assert (v2.sends, v2.clicks, v2.opens, v2.bounced) == (2000, 160, 800, 4)
    assert [v.click_rate for v in figures.variants] == pytest.approx([0.02, 0.03, 0.08])
    assert [v.open_rate for v in figures.variants] == pytest.approx([0.3, 0.3, 0.4])
    assert dict(v2.texts) == {"subject": "Your Black Friday early access", "preheader": "Members first"}


def test_rate_intervals_contain_the_rate(filled: Workspace) -> None:
    figures = figures_of(filled)

    for v in figures.variants:
        assert inside(v.click_rate, v.click_rate_ci)
        assert inside(v.open_rate, v.open_rate_ci)
        assert 0 <= v.click_rate_ci.low < v.click_rate_ci.high <= 1


def test_rate_intervals_narrow_with_data() -> None:
    widths = [stats.rate_interval(stats.Counts(n, n // 50)) for n in (100, 1_000, 10_000)]

    low_to_high = [high - low for low, high in widths]
    assert low_to_high[0] > low_to_high[1] > low_to_high[2]
    assert all(low <= 0.02 <= high for low, high in widths)


def test_without_events_the_interval_starts_at_zero() -> None:
    # Beta(1, 201): P(rate <= x) = 1 - (1 - x)^201, so the 95th percentile is 1 - 0.05^(1/201).
    assert stats.rate_interval(stats.Counts(200, 0)) == pytest.approx((0.0, 1 - 0.05 ** (1 / 201)))
    assert stats.rate_interval(stats.Counts(0, 0)) == pytest.approx((0.0, 0.95))


def test_leader_p_best_weights_and_last_learner_run(filled: Workspace) -> None:
    figures = figures_of(filled)

    assert figures.leader == "v2"
    assert figures.leader_p_best == figures.variants[2].p_best > 0.99
    assert sum(v.weight for v in figures.variants) == pytest.approx(1.0)
    assert figures.last_learned_at == SECOND_SEND_AT + 3600
    assert [p.at for p in figures.history][-2:] == [SECOND_SEND_AT + 1800, SECOND_SEND_AT + 3600]
    assert len(figures.history) == 3  # the even start, then two learner runs
    assert figures.history[0].weights == pytest.approx({"control": 1 / 3, "v1": 1 / 3, "v2": 1 / 3})
    assert figures.history[-1].p_best["v2"] == figures.leader_p_best


def test_incremental_clicks_against_the_control_and_an_even_split(filled: Workspace) -> None:
    figures = figures_of(filled)

    # 210 clicks on 4,000 sends; the control's rate (2 %) on every send would have given 80.
    assert figures.incremental_vs_control == pytest.approx(210 - 4000 * 0.02)
    # An even split: 4,000 / 3 sends at each variant's rate.
    assert figures.incremental_vs_even == pytest.approx(210 - 4000 / 3 * (0.02 + 0.03 + 0.08))
    assert inside(figures.incremental_vs_control, figures.incremental_vs_control_ci)
    assert inside(figures.incremental_vs_even, figures.incremental_vs_even_ci)


def test_cumulative_rates_and_gains_follow_the_send_time_cohorts(filled: Workspace) -> None:
    figures = figures_of(filled)

    control = [p for p in figures.cumulative if p.variant_id == "control"]
    assert [(p.at, p.sends, p.events) for p in control] == [
        (FIRST_COHORT, 500, 10),
        (SECOND_COHORT, 1000, 20),
    ]
    assert all(inside(p.rate, p.ci) for p in figures.cumulative)
    assert [g.at for g in figures.gains] == [FIRST_COHORT, SECOND_COHORT]
    first = figures.gains[0]
    assert first.vs_control == pytest.approx(85 - 2000 * 0.02)
    assert first.vs_even == pytest.approx(85 - 2000 / 3 * (0.02 + 0.03 + 0.06))
    assert figures.gains[-1].vs_control == pytest.approx(figures.incremental_vs_control)
    assert figures.gains[-1].vs_even == pytest.approx(figures.incremental_vs_even)


def test_a_finished_experiment_reports_its_winner_and_uplift_over_the_control(filled: Workspace) -> None:
    experiment_service.change_status(
        filled.store, filled.experiment_id, "finish", SECOND_SEND_AT + 7200, serve="v2"
    )

    figures = figures_of(filled)

    assert figures.winner == "v2"
    uplift = figures.uplift
    assert uplift is not None
    assert uplift.variant_id == "v2"
    assert uplift.relative == pytest.approx(0.08 / 0.02 - 1)
    assert inside(uplift.relative, uplift.ci)
    assert uplift.ci.low > 0
    assert uplift.incremental_events == pytest.approx(160 - 2000 * 0.02)
    assert inside(uplift.incremental_events, uplift.incremental_ci)


def test_the_same_data_gives_the_same_intervals(filled: Workspace) -> None:
    assert figures_of(filled) == figures_of(filled)


def test_an_open_experiment_measures_opens(store: Store) -> None:
    workspace = make_workspace(store, "acme", metric="open")
    fill(workspace, STANDARD)
    learn(workspace, SECOND_SEND_AT + 3600)

    figures = figures_of(workspace)

    assert figures.incremental_vs_control == pytest.approx(1400 - 4000 * 0.3)
    assert [p.events for p in figures.cumulative if p.variant_id == "v2"] == [400, 800]
    assert figures.uplift is not None
    assert figures.uplift.relative == pytest.approx(0.4 / 0.3 - 1)


def test_a_new_experiment_has_empty_figures(store: Store) -> None:
    workspace = make_workspace(store, "acme", start=False)

    figures = figures_of(workspace)

    assert [v.sends for v in figures.variants] == [0, 0, 0]
    assert (figures.leader, figures.leader_p_best, figures.winner, figures.last_learned_at) == (None,) * 4
    assert (figures.cumulative, figures.gains, figures.history, figures.uplift) == ((), (), (), None)
    assert (figures.incremental_vs_even, figures.incremental_vs_control) == (0.0, 0.0)


def test_a_variant_without_sends_is_left_out_of_the_even_split(workspace: Workspace) -> None:
    fill(workspace, {"control": Fill((100, 0), {"click": (2, 0)}), "v1": Fill((100, 0), {"click": (6, 0)})})

    figures = figures_of(workspace)

    assert figures.incremental_vs_even == pytest.approx(8 - 200 / 2 * (0.02 + 0.06))
    assert {p.variant_id for p in figures.cumulative} == {"control", "v1"}


def test_another_tenants_experiment_is_not_found(filled: Workspace) -> None:
    other = make_workspace(filled.store, "globex")

    with pytest.raises(NotFound, match="no experiment"):
        reports.experiment_figures(filled.store, filled.experiment_id, tenant_id=other.tenant.tenant_id)
    with pytest.raises(NotFound, match="no experiment 'ex_missing'"):
        reports.experiment_figures(filled.store, "ex_missing")


def test_summaries_list_the_tenants_experiments_with_headline_figures(filled: Workspace) -> None:
    draft = experiment_service.create_experiment(
        filled.store, "acme", make_definition(name="Second"), time.time()
    )
    make_workspace(filled.store, "globex")

    summaries = reports.experiment_summaries(filled.store, filled.tenant.tenant_id)

    assert [s.experiment_id for s in summaries] == [filled.experiment_id, draft]
    live, new = summaries
    assert (live.status, live.mode, live.metric, live.sends) == ("live", "broadcast", "click", 4000)
    assert live.click_rate == pytest.approx(210 / 4000)
    # 8 % against 2 % and 3 % on these sends is decisive: the learner has declared v2 the winner.
    assert (live.leader, live.winner, live.last_learned_at) == ("v2", "v2", SECOND_SEND_AT + 3600)
    assert live.leader_p_best is not None
    assert live.leader_p_best > 0.99
    assert (new.status, new.sends, new.click_rate, new.leader, new.leader_p_best) == (
        "draft",
        0,
        0.0,
        None,
        None,
    )


def test_summaries_show_the_winner_the_learner_declared_then_the_one_finished_with(store: Store) -> None:
    workspace = make_workspace(store, "acme")
    even = {"control": 0.0, "v1": 1.0, "v2": 0.0}
    with store.write() as conn:
        insert_allocation(conn, StoredAllocation(workspace.experiment_id, 5000.0, even, even, "v1", "winner"))

    declared = reports.experiment_summaries(store, workspace.tenant.tenant_id)[0]
    experiment_service.change_status(store, workspace.experiment_id, "finish", 6000.0, serve="v2")
    finished = reports.experiment_summaries(store, workspace.tenant.tenant_id)[0]

    assert (declared.winner, declared.leader, declared.last_learned_at) == ("v1", "v1", 5000.0)
    assert (finished.status, finished.winner) == ("finished", "v2")
    assert reports.experiment_figures(store, workspace.experiment_id).winner == "v2"
