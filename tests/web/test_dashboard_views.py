"""What the experiment page says about its figures, rendered from values (no server): why the leader is
not the winner yet, when the uplift over the control means little, and when a leader is shown at all."""

from __future__ import annotations

import re
from dataclasses import replace

from copyloom.domain.values import Experiment
from copyloom.engine import DelayModel
from copyloom.services.decision_status import explain_from_counts
from copyloom.services.reports import (
    MIN_LEADER_EVENTS,
    MIN_LEADER_P_BEST,
    ExperimentFigures,
    figures_from,
    is_clear_leader,
)
from copyloom.storage.assignments import CohortCount
from copyloom.storage.experiments import StoredAllocation
from copyloom.web import dashboard_pages as pages
from copyloom.web import dashboard_views as views
from copyloom.web.dashboard import Dashboard
from tests.helpers import make_definition

NOW = 1764342000.0
HOUR = 3600


def experiment(**changes: object) -> Experiment:
    variants = [
        {"id": "control", "control": True, "subject": "Our sale"},
        {"id": "v1", "subject": "30% off everything"},
    ]
    definition = make_definition(variants=variants, **changes)
    return Experiment("ex_1", "t_1", definition, "live", None, NOW - 10 * HOUR)


def counts(rates: dict[str, float], sends: dict[str, int], hours: int = 6) -> list[CohortCount]:
    return [
        CohortCount(v, int(NOW - (h + 1) * HOUR), sends[v], {"click": round(sends[v] * rate)})
        for h in range(hours)
        for v, rate in rates.items()
    ]


def figures(
    rates: dict[str, float], sends: dict[str, int], p_best: dict[str, float], **changes: object
) -> ExperimentFigures:
    e = experiment(**changes)
    cohort_counts = counts(rates, sends)
    latest = StoredAllocation(e.experiment_id, NOW - 60, {"control": 0.5, "v1": 0.5}, p_best, None, "")
    found = figures_from(e, cohort_counts, [latest], latest)
    decision = explain_from_counts(e, cohort_counts, found.leader, NOW, DelayModel())
    return replace(found, decision=decision)


def render(found: ExperimentFigures) -> str:
    html = pages.template("_figures.html").render(**Dashboard._figures_context(found))
    return re.sub(r"\s+", " ", html)


def test_a_leader_at_99_8_percent_without_a_winner_says_the_sequential_test_is_missing() -> None:
    found = figures(
        {"control": 0.02, "v1": 0.03}, {"control": 400, "v1": 400}, {"control": 0.002, "v1": 0.998}
    )

    page = render(found)

    assert found.winner is None
    assert 'id="winner">not declared<' in page
    assert "missing: sequential test against control" in page
    assert "Why v1 is not the winner yet" in page
    assert re.search(r"Sequential test against control</strong>: evidence [\d.]+ of the 20 needed", page)
    assert "needs at least 95.0 %" in page
    parts = views.decision_parts(found)
    assert [p.is_met for p in parts] == [True, True, True, False]


def test_a_winner_has_no_explanation() -> None:
    found = figures(
        {"control": 0.02, "v1": 0.03}, {"control": 400, "v1": 400}, {"control": 0.002, "v1": 0.998}
    )
    page = render(replace(found, winner="v1", decision=None))

    assert 'id="decision"' not in page
    assert "missing:" not in page


def test_an_uplift_on_few_control_sends_warns_and_says_how_to_avoid_it() -> None:
    found = figures({"control": 0.02, "v1": 0.03}, {"control": 30, "v1": 900}, {"control": 0.05, "v1": 0.95})

    page = render(found)

    assert found.uplift is not None
    assert found.uplift.control_sends == 180
    assert found.uplift.is_uncertain
    assert "the control had only 180 sends (fewer than 1,000)" in page
    assert "set control_holdout (e.g. 0.1) in the definition" in page


def test_with_a_holdout_the_uplift_warning_says_to_wait() -> None:
    found = figures(
        {"control": 0.02, "v1": 0.03},
        {"control": 30, "v1": 900},
        {"control": 0.05, "v1": 0.95},
        control_holdout=0.1,
    )

    assert "wait for more sends" in render(found)


def test_an_uplift_on_enough_control_sends_has_no_warning() -> None:
    found = figures(
        {"control": 0.02, "v1": 0.03}, {"control": 5000, "v1": 5000}, {"control": 0.001, "v1": 0.999}
    )

    assert found.uplift is not None
    assert not found.uplift.is_uncertain
    assert 'id="uplift-warning"' not in render(found)


def test_no_leader_badge_at_p_best_50_percent_on_two_clicks() -> None:
    found = figures({"control": 0.0, "v1": 0.0}, {"control": 10, "v1": 10}, {"control": 0.5, "v1": 0.5})
    found = replace(
        found,
        variants=tuple(replace(v, clicks=1) for v in found.variants),
        leader_p_best=0.5,
        is_leader_clear=False,
    )

    page = render(found)

    assert 'class="badge leader"' not in page
    assert 'class="leader"' not in page
    assert 'id="leader">none yet<' in page
    assert "a leader needs P(best) 60.0 % and 10 clicks" in page


def test_a_clear_leader_needs_p_best_and_events() -> None:
    assert not is_clear_leader(0.5, 2)
    assert not is_clear_leader(0.99, MIN_LEADER_EVENTS - 1)
    assert not is_clear_leader(MIN_LEADER_P_BEST - 0.01, 1000)
    assert not is_clear_leader(None, 1000)
    assert is_clear_leader(MIN_LEADER_P_BEST, MIN_LEADER_EVENTS)


def test_a_clear_leader_gets_its_badge() -> None:
    found = figures(
        {"control": 0.02, "v1": 0.03}, {"control": 400, "v1": 400}, {"control": 0.002, "v1": 0.998}
    )

    assert found.is_leader_clear
    assert 'class="badge leader"' in render(found)


def test_the_rate_chart_starts_at_a_variants_100th_send() -> None:
    found = figures({"control": 0.02, "v1": 0.03}, {"control": 40, "v1": 40}, {"control": 0.2, "v1": 0.8})

    rates = next(c for c in views.experiment_charts(found) if c.chart_id == "chart-rates")

    # 40 sends an hour: the 100th send is in the third cohort, so four of the six times are drawn.
    assert len(rates.rows) == 4
