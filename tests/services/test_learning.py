"""The learner: cohorts from stored counts, stored allocations, failures isolated."""

from __future__ import annotations

import numpy as np
import pytest

from copyloom.domain.values import RecipientKey, TenantId
from copyloom.engine import DelayModel
from copyloom.services import experiments as experiment_service
from copyloom.services.assignment import AssignmentRequest, assign_batch
from copyloom.services.learning import delay_model, learn_once, overall_counts
from copyloom.storage import assignments as assignment_repo
from copyloom.storage.assignments import CohortCount
from copyloom.storage.db import Store
from copyloom.storage.experiments import allocation_history, latest_allocations
from tests.helpers import Workspace, make_workspace


def fill(workspace: Workspace, rates: dict[str, float], per_variant: int) -> None:
    """Store `per_variant` sends of each variant and clicks on the first `rate` share of them."""
    experiment = experiment_service.get_experiment(workspace.store, workspace.experiment_id)
    requests = [
        AssignmentRequest(
            TenantId(workspace.tenant.tenant_id), experiment, RecipientKey(f"{v}-{i}"), "d", v, 1000.0 + i
        )
        for v in rates
        for i in range(per_variant)
    ]
    rows = assign_batch(workspace.store, requests, 60)
    with workspace.store.write() as conn:
        for row in rows:
            index = int(row.recipient_key.rsplit("-", 1)[1])
            if index < rates[row.variant_id] * per_variant:
                assignment_repo.insert_engagement(conn, row.assignment_id, "click", 2000.0)
            if index < per_variant // 2:  # bot clicks must not count
                assignment_repo.insert_engagement(conn, row.assignment_id, "bot_click", 2000.0)


def test_learner_moves_weight_to_the_better_variant_and_stores_it(workspace: Workspace) -> None:
    fill(workspace, {"control": 0.02, "v1": 0.02, "v2": 0.08}, per_variant=1000)

    outcomes = learn_once(workspace.store, 5000.0, np.random.default_rng(1), samples=4000)

    assert [o.error for o in outcomes] == [None]
    allocation = outcomes[0].allocation
    assert allocation is not None
    assert max(allocation.weights, key=lambda v: allocation.weights[v]) == "v2"
    assert sum(allocation.weights.values()) == pytest.approx(1.0)
    with workspace.store.read() as conn:
        history = allocation_history(conn, workspace.experiment_id)
    assert history[0].reason == "initial"
    assert history[-1].weights == pytest.approx(allocation.weights)
    report = experiment_service.experiment_report(workspace.store, workspace.experiment_id)
    assert {v.variant_id: v.clicks for v in report.variants} == {"control": 20, "v1": 20, "v2": 80}


def test_the_learner_keeps_the_experiments_floor_holdout_and_warm_up(store: Store) -> None:
    workspace = make_workspace(store, "acme", floor=0.05, control_holdout=0.2, min_sends_per_variant=500)
    with store.read() as conn:
        [initial] = allocation_history(conn, workspace.experiment_id)
    # Before any send, as the engine's warm-up: the holdout to the control, the rest evenly.
    assert initial.weights == pytest.approx({"control": 0.2 + 0.8 / 3, "v1": 0.8 / 3, "v2": 0.8 / 3})

    fill(workspace, {"control": 0.02, "v1": 0.02, "v2": 0.08}, per_variant=400)
    warming = learn_once(store, 5000.0, np.random.default_rng(1), samples=4000)[0].allocation
    fill(workspace, {"control": 0.02, "v1": 0.02, "v2": 0.08}, per_variant=1000)  # 600 more each
    learned = learn_once(store, 5000.0, np.random.default_rng(1), samples=4000)[0].allocation

    assert warming is not None
    assert learned is not None
    assert warming.reason == "warm_up", "400 sends per variant are short of the experiment's 500"
    assert warming.weights == pytest.approx(initial.weights)
    assert learned.reason in ("probability_matching", "winner")
    assert max(learned.weights, key=lambda v: learned.weights[v]) == "v2"
    assert learned.weights["control"] >= 0.2 + 0.05 - 1e-9
    assert learned.weights["v1"] == pytest.approx(0.05)


def test_only_live_experiments_are_learned(store: Store) -> None:
    make_workspace(store, "acme", start=False)
    live = make_workspace(store, "globex")

    outcomes = learn_once(store, 5000.0, np.random.default_rng(1), samples=1000)

    assert [o.experiment_id for o in outcomes] == [live.experiment_id]


def test_one_failing_experiment_never_stops_the_others(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = make_workspace(store, "acme")
    healthy = make_workspace(store, "globex")
    real = assignment_repo.cohort_counts

    def failing(conn: object, experiment_id: str) -> object:
        if experiment_id == broken.experiment_id:
            raise RuntimeError("corrupt counts")
        return real(conn, experiment_id)  # type: ignore[arg-type]

    # The failure is injected: no real store fault is this selective.
    monkeypatch.setattr("copyloom.services.learning.cohort_counts", failing)
    outcomes = {o.experiment_id: o for o in learn_once(store, 5000.0, np.random.default_rng(1), samples=1000)}

    assert outcomes[broken.experiment_id].error == "RuntimeError: corrupt counts"
    assert outcomes[healthy.experiment_id].allocation is not None


def test_the_delay_model_is_fitted_to_old_enough_sends_of_the_tenant(workspace: Workspace) -> None:
    now = 1_800_000_000.0
    sent = now - 10 * 86_400.0
    experiment = experiment_service.get_experiment(workspace.store, workspace.experiment_id)
    requests = [
        AssignmentRequest(
            TenantId(workspace.tenant.tenant_id), experiment, RecipientKey(f"r{i}"), "d", "v1", sent
        )
        for i in range(2000)
    ]
    rows = assign_batch(workspace.store, requests, 60)
    rng = np.random.default_rng(5)
    with workspace.store.write() as conn:
        for row in rows:  # clicks two hours (median) after their sends
            assignment_repo.insert_engagement(
                conn, row.assignment_id, "click", sent + 7200.0 * float(np.exp(0.8 * rng.standard_normal()))
            )

    fitted = delay_model(workspace.store, TenantId(workspace.tenant.tenant_id), "click", now)
    too_recent = delay_model(workspace.store, TenantId(workspace.tenant.tenant_id), "click", sent + 86_400.0)

    assert fitted.median_s == pytest.approx(7200.0, rel=0.15)
    assert too_recent == DelayModel(), "sends younger than the window leave the prior in place"


def test_counts_by_segment_add_up_to_the_overall_figures() -> None:
    by_segment = [
        CohortCount("v1", 60, 10, {"click": 2}, "tier=new"),
        CohortCount("v1", 60, 5, {"click": 1, "open": 3}, "tier=loyal"),
        CohortCount("v2", 60, 7, {}, "tier=new"),
    ]

    assert overall_counts(by_segment) == [
        CohortCount("v1", 60, 15, {"click": 3, "open": 3}),
        CohortCount("v2", 60, 7, {}),
    ]


def test_a_context_experiment_stores_weights_per_segment_with_sends_and_one_without_stores_none(
    store: Store,
) -> None:
    context = [{"name": "tier", "braze": "custom_attribute.${tier}", "categories": ["new", "loyal"]}]
    segmented, plain = make_workspace(store, "acme", context=context), make_workspace(store, "globex")
    for workspace in (segmented, plain):
        experiment = experiment_service.get_experiment(store, workspace.experiment_id)
        segment = "tier=loyal" if experiment.definition.context else ""
        requests = [
            AssignmentRequest(
                TenantId(workspace.tenant.tenant_id),
                experiment,
                RecipientKey(f"r{i}"),
                "d",
                "v1",
                1000.0,
                segment=segment,
                propensity=1 / 3,
            )
            for i in range(20)
        ]
        assign_batch(store, requests, 60)

    learn_once(store, 5000.0, np.random.default_rng(1), samples=1000)

    with store.read() as conn:
        found = latest_allocations(conn, [segmented.experiment_id, plain.experiment_id])
    loyal = found[segmented.experiment_id].segments
    assert loyal is not None
    assert set(loyal) == {"tier=loyal"}
    assert sum(loyal["tier=loyal"].weights.values()) == pytest.approx(1.0)
    assert found[plain.experiment_id].segments is None
