"""Variants that come and go in a running experiment, through the real server: a new wording warms up on
its own while the others keep their weights; a retired one gets no new recipients, while those already
assigned keep it and their clicks keep counting; the auto-retire rule of triggered experiments."""

from __future__ import annotations

import time

import numpy as np
import pytest

from copyloom.domain.values import AutoRetireRule, Experiment, RecipientKey, VariantId
from copyloom.errors import Conflict, InvalidInput
from copyloom.services import dashboard_access, variants
from copyloom.services.experiments import change_status, experiment_report
from copyloom.services.learning import learn_once
from copyloom.storage import experiments as repo
from copyloom.storage.assignments import NewAssignment, insert_assignments, insert_engagement
from copyloom.storage.db import Store
from copyloom.storage.experiments import StoredAllocation
from tests.dashboard_data import sign_in
from tests.helpers import Api, Workspace, make_workspace
from tests.web.test_events import braze_event

NEW = {"id": "v3", "subject": "Black Friday starts now", "preheader": "Everything 30% off"}
SETTLE_S = 0.3  # the api fixture's server refreshes its caches every 0.05 s


def latest(store: Store, experiment_id: str) -> StoredAllocation:
    with store.read() as conn:
        return repo.latest_allocations(conn, [experiment_id])[experiment_id]


def served(api: Api, workspace: Workspace, users: range, dispatch: str = "d-1") -> dict[str, str]:
    return {
        f"u-{i}": api.content(
            workspace.token, workspace.experiment_id, recipient=f"u-{i}", dispatch=dispatch
        ).json()["variant_id"]
        for i in users
    }


def test_an_added_variant_gets_an_even_share_at_once_while_the_others_keep_their_weights(
    api: Api, workspace: Workspace
) -> None:
    store, experiment_id = workspace.store, workspace.experiment_id
    learn_once(store, time.time(), np.random.default_rng(1), 2000)
    before = latest(store, experiment_id).weights

    updated = variants.add_variant(store, experiment_id, NEW, time.time())

    after = latest(store, experiment_id)
    assert updated.active_variant_ids == ("control", "v1", "v2", "v3")
    assert after.reason == "variant_added"
    assert after.weights["v3"] == pytest.approx(0.25)
    for v in ("control", "v1", "v2"):
        assert after.weights[v] == pytest.approx(before[v] * 0.75)
    time.sleep(SETTLE_S)
    assert "v3" in set(served(api, workspace, range(80)).values())
    assert experiment_report(store, experiment_id).variants[-1].added_at is not None


def test_the_learner_keeps_warming_up_a_late_variant_on_its_own(workspace: Workspace) -> None:
    store, experiment_id = workspace.store, workspace.experiment_id
    variants.add_variant(store, experiment_id, NEW, time.time())

    [outcome] = learn_once(store, time.time(), np.random.default_rng(1), 2000)

    assert outcome.allocation is not None
    assert set(outcome.allocation.weights) == {"control", "v1", "v2", "v3"}
    assert outcome.allocation.weights["v3"] == pytest.approx(0.25, abs=0.01)


def test_a_retired_variant_gets_no_new_recipients_but_keeps_its_own_and_their_clicks(
    api: Api, store: Store
) -> None:
    workspace = make_workspace(store, "acme", min_sends_per_variant=0)
    first = served(api, workspace, range(60))
    kept = next(user for user, variant in first.items() if variant == "v1")

    variants.retire_variant(store, workspace.experiment_id, "v1", time.time())
    time.sleep(SETTLE_S)

    assert latest(store, workspace.experiment_id).weights["v1"] == 0.0
    assert "v1" not in set(served(api, workspace, range(100, 300)).values())
    assert served(api, workspace, range(int(kept[2:]), int(kept[2:]) + 1), dispatch="d-2")[kept] == "v1"
    api.events(workspace.token, {"events": [braze_event("Click", kept, "d-1")]})
    report = experiment_report(store, workspace.experiment_id)
    v1 = next(v for v in report.variants if v.variant_id == "v1")
    assert (v1.status, v1.clicks, v1.retired_by) == ("retired", 1, "manual")
    [outcome] = learn_once(store, time.time(), np.random.default_rng(1), 2000)
    assert outcome.allocation is not None
    assert "v1" not in outcome.allocation.weights
    assert latest(store, workspace.experiment_id).weights["v1"] == 0.0


@pytest.mark.parametrize(
    ("variant_id", "error", "message"),
    [
        ("control", Conflict, "variant_id: 'control' is the control, which is never retired"),
        ("v9", InvalidInput, "variant_id: no variant 'v9' (variants: control, v1, v2)"),
    ],
)
def test_the_control_and_unknown_variants_are_never_retired(
    workspace: Workspace, variant_id: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        variants.retire_variant(workspace.store, workspace.experiment_id, variant_id, time.time())


def test_an_experiment_keeps_two_live_variants_and_a_retired_one_stays_retired(workspace: Workspace) -> None:
    store, experiment_id = workspace.store, workspace.experiment_id
    variants.retire_variant(store, experiment_id, "v1", time.time())

    with pytest.raises(Conflict, match="'v1' is retired already"):
        variants.retire_variant(store, experiment_id, "v1", time.time())
    with pytest.raises(Conflict, match="keeps at least 2 live variants"):
        variants.retire_variant(store, experiment_id, "v2", time.time())
    with pytest.raises(InvalidInput, match="'v1' is already a variant"):
        variants.add_variant(store, experiment_id, {**NEW, "id": "v1"}, time.time())


def test_a_finished_experiment_keeps_its_variants(workspace: Workspace) -> None:
    change_status(workspace.store, workspace.experiment_id, "finish", time.time(), serve="control")

    with pytest.raises(Conflict, match="cannot change the variants of an experiment that is finished"):
        variants.add_variant(workspace.store, workspace.experiment_id, NEW, time.time())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"id": "v3", "subject": "Only a subject"}, "variant: placements ['subject'] differ from"),
        ({**NEW, "control": True}, "variant.control: an added variant cannot be the control"),
        (
            {**NEW, "subject": "{{${first_name} | default: 'you'}}, it starts now"},
            "variant.subject: personalisation '{{${first_name} | default: 'you'}}' is not in the "
            "experiment's other wordings",
        ),
        ({"subject": "s", "preheader": "p"}, "variant.id: required, a non-empty text"),
    ],
)
def test_an_added_variant_must_fit_the_snippets_already_in_braze(
    workspace: Workspace, raw: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        variants.add_variant(workspace.store, workspace.experiment_id, raw, time.time())

    assert caught.value.message.startswith(message)


def test_auto_retire_retires_a_variant_whose_p_best_stayed_low_for_the_whole_window(store: Store) -> None:
    rule = {"p_best_below": 0.05, "for_hours": 24, "min_sends": 0}
    workspace = make_workspace(store, "acme", start=False, mode="triggered", auto_retire=rule)
    experiment_id, now = workspace.experiment_id, time.time()
    with store.write() as conn:  # live for 30 hours, v2 a hopeless loser all along
        repo.update_status(conn, experiment_id, "live", None, now - 30 * 3600)
        for hours_ago in range(30, 0, -1):
            p_best = {"control": 0.3, "v1": 0.68, "v2": 0.02}
            repo.insert_allocation(
                conn, StoredAllocation(experiment_id, now - hours_ago * 3600, {}, p_best, None, "test")
            )

    experiment = repo_experiment(store, experiment_id)
    found = history(store, experiment_id, now)
    assert variants.due_for_retirement(experiment, AutoRetireRule(0.05, 24, 0), found, {}, now) == "v2"
    sends_with_clicks(store, workspace, now - 40 * 3600, {"control": 60, "v1": 90, "v2": 5})
    [outcome] = learn_once(store, now, np.random.default_rng(1), 2000)

    assert outcome.allocation is not None
    assert outcome.allocation.p_best["v2"] < 0.05
    assert outcome.retired == "v2"
    v2 = next(v for v in experiment_report(store, experiment_id).variants if v.variant_id == "v2")
    assert (v2.status, v2.retired_by) == ("retired", "auto")


def sends_with_clicks(store: Store, workspace: Workspace, sent_at: float, clicks: dict[str, int]) -> None:
    """1,500 stored sends per variant at `sent_at`, the first `clicks[variant]` of them clicked."""
    rows = [
        NewAssignment(
            workspace.tenant.tenant_id,
            workspace.experiment_id,
            RecipientKey(f"{variant}-{i}"),
            "d",
            variant,
            sent_at,
            int(sent_at) // 60 * 60,
        )
        for variant in clicks
        for i in range(1500)
    ]
    with store.write() as conn:
        for row in insert_assignments(conn, rows):
            if int(row.recipient_key.rsplit("-", 1)[1]) < clicks[row.variant_id]:
                insert_engagement(conn, row.assignment_id, "click", sent_at + 600)


def test_auto_retire_waits_for_the_whole_window_and_the_evidence(store: Store) -> None:
    workspace = make_workspace(store, "acme", mode="triggered", auto_retire=True)
    experiment_id, now = workspace.experiment_id, time.time()
    experiment = repo_experiment(store, experiment_id)
    rule = AutoRetireRule(0.05, 24, 100)
    low = {"control": 0.3, "v1": 0.68, "v2": 0.02}

    def allocation(hours_ago: float, p_best: dict[str, float]) -> StoredAllocation:
        return StoredAllocation(experiment_id, now - hours_ago * 3600, {}, p_best, None, "test")

    whole = [allocation(h, low) for h in range(24, 0, -1)]
    enough: dict[VariantId, int] = {"v2": 100}
    assert variants.due_for_retirement(experiment, rule, whole, enough, now) == "v2"
    assert variants.due_for_retirement(experiment, rule, whole[12:], enough, now) is None  # half the window
    assert variants.due_for_retirement(experiment, rule, whole, {"v2": 99}, now) is None  # too few sends
    recovered = [*whole[:-1], allocation(0.5, {"control": 0.3, "v1": 0.6, "v2": 0.1})]
    assert variants.due_for_retirement(experiment, rule, recovered, enough, now) is None


def repo_experiment(store: Store, experiment_id: str) -> Experiment:
    with store.read() as conn:
        found = repo.load_experiment(conn, experiment_id)
    assert found is not None
    return found


def history(store: Store, experiment_id: str, now: float) -> list[StoredAllocation]:
    with store.read() as conn:
        return repo.allocations_since(conn, experiment_id, now - 24 * 3600)


def test_the_dashboard_marks_retired_and_added_variants(api: Api, workspace: Workspace) -> None:
    store, experiment_id = workspace.store, workspace.experiment_id
    password = dashboard_access.issue_dashboard_password(store, "acme", time.time())
    variants.add_variant(store, experiment_id, NEW, time.time())
    variants.retire_variant(store, experiment_id, "v1", time.time())

    page = sign_in(api.client, "acme", password).get(f"/dashboard/experiments/{experiment_id}").text

    assert 'data-retired="v1">retired ' in page
    assert page.count('class="badge added"') == 1
