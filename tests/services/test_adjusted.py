"""Rates and uplift under adaptive allocation: the weighted estimates are unbiased where pooled counts
are not, their intervals cover the truth about as often as they say, and maturity cuts recent cohorts."""

from __future__ import annotations

import time

import numpy as np
import pytest

from copyloom.services import dashboard_access, reports
from copyloom.services.adjusted import (
    SentCohort,
    WeightsInForce,
    adjusted_set,
    mature_window_s,
    weights_at,
)
from copyloom.services.learning import learn_once
from copyloom.services.report_formats import render_report
from tests.dashboard_data import fill_experiment, sign_in
from tests.helpers import Api, Workspace

TRUTH = {"control": 0.03, "v1": 0.045}
RHYTHM = [1.6, 1.6, 1.6, *[0.8] * 9]
"""Every variant clicks 1.6 times more in the first three hours: a rhythm shared by all."""
MEAN_RHYTHM = sum(RHYTHM) / len(RHYTHM)


def greedy_send(rng: np.random.Generator) -> tuple[list[SentCohort], list[WeightsInForce]]:
    """Twelve hourly batches of 2,000 sends; after each, 95 % of the traffic goes to the variant that
    looks better so far: the control is starved after a lucky or unlucky first hour."""
    cohorts: list[SentCohort] = []
    history: list[WeightsInForce] = []
    weights = {"control": 0.5, "v1": 0.5}
    seen = {v: [0, 0] for v in TRUTH}
    for hour, rhythm in enumerate(RHYTHM):
        history.append(WeightsInForce(hour * 3600.0, dict(weights)))
        to_v1 = int(rng.binomial(2000, weights["v1"]))
        for variant, sends in (("v1", to_v1), ("control", 2000 - to_v1)):
            events = int(rng.binomial(sends, TRUTH[variant] * rhythm))
            cohorts.append(SentCohort(hour * 3600.0, variant, sends, events))
            seen[variant][0] += sends
            seen[variant][1] += events
        rates = {v: e / max(n, 1) for v, (n, e) in seen.items()}
        share = 0.95 if rates["v1"] > rates["control"] else 0.05
        weights = {"control": 1 - share, "v1": share}
    return cohorts, history


def test_weighted_rates_are_unbiased_and_cover_the_truth_where_pooled_counts_are_biased() -> None:
    rng = np.random.default_rng(11)
    pooled, weighted, covered, uplifts = [], [], 0, []
    runs = 200
    for _ in range(runs):
        cohorts, history = greedy_send(rng)
        found = adjusted_set(cohorts, history, ["control", "v1"], "control")
        control = found.rates[0]
        truth = TRUTH["control"] * MEAN_RHYTHM
        sent = [c for c in cohorts if c.variant_id == "control"]
        pooled.append(sum(c.events for c in sent) / sum(c.sends for c in sent) / truth)
        assert control.rate is not None
        weighted.append(control.rate / truth)
        covered += control.low <= truth <= control.high
        uplifts.append(found.uplifts[0].relative)

    assert np.mean(pooled) > 1.1, "the greedy split biases the pooled control rate upwards"
    assert np.mean(weighted) == pytest.approx(1.0, abs=0.03)
    assert 0.9 <= covered / runs <= 0.99
    assert np.median(uplifts) == pytest.approx(0.5, abs=0.1)  # 0.045 / 0.03 - 1


def test_the_weights_in_force_are_the_latest_taken_effect() -> None:
    history = [WeightsInForce(100.0, {"a": 0.5}), WeightsInForce(200.0, {"a": 0.9})]

    assert weights_at(history, 50.0) == {"a": 0.5}
    assert weights_at(history, 200.0) == {"a": 0.9}
    assert weights_at(history, 150.0) == {"a": 0.5}


def test_sends_of_a_variant_no_longer_drawn_are_left_out() -> None:
    """A sticky recipient keeps a retired variant: those sends were not drawn on the weights."""
    history = [WeightsInForce(0.0, {"control": 0.5, "v1": 0.5}), WeightsInForce(10.0, {"control": 1.0})]
    cohorts = [
        SentCohort(0.0, "v1", 100, 5),
        SentCohort(20.0, "v1", 50, 0),
        SentCohort(0.0, "control", 100, 4),
    ]

    rate = adjusted_set(cohorts, history, ["control", "v1"], "control").rates[1]

    assert (rate.rate, rate.sends) == (0.05, 100)


def test_mature_figures_leave_out_recent_cohorts_and_the_window_follows_the_delay_model() -> None:
    history = [WeightsInForce(0.0, {"control": 0.5, "v1": 0.5})]
    cohorts = [SentCohort(0.0, "control", 100, 10), SentCohort(5000.0, "control", 100, 0)]

    mature = adjusted_set(cohorts, history, ["control", "v1"], "control", sent_before=3600.0)

    assert mature.rates[0].rate == pytest.approx(0.1)
    assert mature.rates[1].rate is None
    assert mature_window_s(3600.0, 1.2) == pytest.approx(3600.0 * np.exp(1.2 * 1.6448536), rel=1e-6)


def test_reports_and_the_dashboard_show_the_weighted_figures_beside_the_pooled_ones(
    api: Api, workspace: Workspace
) -> None:
    password = dashboard_access.issue_dashboard_password(workspace.store, "acme", time.time())
    fill_experiment(api.client, workspace.token, workspace.experiment_id, recipients=60)
    learn_once(workspace.store, time.time(), np.random.default_rng(3), 2000)

    figures = reports.experiment_figures(workspace.store, workspace.experiment_id, now=time.time() + 86_400)
    page = sign_in(api.client, "acme", password).get(f"/dashboard/experiments/{workspace.experiment_id}").text
    markdown = render_report(figures, "md")

    assert figures.adjusted is not None
    assert figures.adjusted.control_starved
    assert [r.sends for r in figures.adjusted.mature.rates] == [v.sends for v in figures.variants]
    assert 'id="adjusted-figures"' in page
    assert 'id="control-starved"' in page
    assert "rates weighted for the changing split" in markdown
    assert "No control holdout: the bandit starved the control" in markdown


def test_the_attribution_window_can_be_set_and_decides_what_is_mature(api: Api, workspace: Workspace) -> None:
    fill_experiment(api.client, workspace.token, workspace.experiment_id, recipients=30)
    learn_once(workspace.store, time.time(), np.random.default_rng(3), 2000)
    now = time.time()

    default = reports.experiment_figures(workspace.store, workspace.experiment_id, now=now + 3600)
    set_to_half_an_hour = reports.experiment_figures(
        workspace.store, workspace.experiment_id, now=now + 3600, window_s=1800.0
    )

    assert default.adjusted is not None
    assert set_to_half_an_hour.adjusted is not None
    assert default.adjusted.window_s == pytest.approx(mature_window_s(3600.0, 1.2))  # the default model
    assert sum(r.sends for r in default.adjusted.mature.rates) == 0  # an hour old: not mature yet
    assert set_to_half_an_hour.adjusted.window_s == 1800.0
    assert sum(r.sends for r in set_to_half_an_hour.adjusted.mature.rates) == 30
