"""Guardrails through the learner: unsubscribes from the Current make a variant breach; it is held at the
floor (or retired), the breach is kept with its figures, alerted, and shown in every view."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from copyloom.services import alerts, dashboard_access
from copyloom.services.experiments import experiment_report
from copyloom.services.learning import learn_once
from copyloom.storage import alerts as alert_repo
from copyloom.storage.assignments import insert_engagement
from copyloom.storage.db import Store
from tests.cli.runner import Cli
from tests.dashboard_data import sign_in
from tests.helpers import Api, Workspace, make_workspace
from tests.services.test_variants import sends_with_clicks


def unsubscribes(store: Store, workspace: Workspace, per_variant: dict[str, int]) -> None:
    """The first `per_variant[v]` of each variant's stored sends unsubscribed (as Currents would say)."""
    with store.write() as conn:
        rows = conn.exec_driver_sql(
            "SELECT assignment_id, variant_id, recipient_key FROM assignments WHERE experiment_id = "
            + ("?" if conn.dialect.name == "sqlite" else "%s"),
            (workspace.experiment_id,),
        ).all()
        for assignment_id, variant, key in rows:
            if int(str(key).rsplit("-", 1)[1]) < per_variant.get(variant, 0):
                insert_engagement(conn, assignment_id, "unsubscribe", time.time() - 3600)


@pytest.mark.parametrize("action", ["floor", "retire"])
def test_a_variant_that_drives_unsubscribes_is_held_recorded_alerted_and_shown(
    api: Api, store: Store, database_url: str, action: str
) -> None:
    workspace = make_workspace(store, "acme", guardrails={"action": action})
    alerts.add_webhook(
        store, "acme", "ops", "https://hooks.example.com/c", time.time(), allow_loopback_http=False
    )
    now = time.time()
    sends_with_clicks(store, workspace, now - 40 * 3600, {"control": 60, "v1": 120, "v2": 60})
    unsubscribes(store, workspace, {"control": 3, "v1": 40, "v2": 3})

    [outcome] = learn_once(store, now, np.random.default_rng(1), 2000)

    assert [(b.variant_id, b.metric, b.action) for b in outcome.breaches] == [("v1", "unsubscribe", action)]
    assert outcome.allocation is not None
    assert outcome.allocation.weights["v1"] == pytest.approx(0.01)  # the floor, though v1 clicks best
    assert outcome.allocation.winner != "v1"
    report = experiment_report(store, workspace.experiment_id)
    v1 = next(v for v in report.variants if v.variant_id == "v1")
    assert v1.status == ("retired" if action == "retire" else "live")
    [again] = learn_once(store, now + 60, np.random.default_rng(2), 2000)
    assert again.breaches == ()  # recorded once
    if action == "floor":
        assert again.allocation is not None
        assert again.allocation.weights["v1"] == pytest.approx(0.01)  # and still held
    with store.read() as conn:
        sent = alert_repo.recent_deliveries(conn, workspace.tenant.tenant_id, 50)
    breached = [
        json.loads(d.payload_json)["data"] for d in sent if d.event_type == "experiment.guardrail_breached"
    ]
    assert [(d["variant_id"], d["metric"]) for d in breached] == [("v1", "unsubscribe")]
    shown = Cli(database_url).json("experiment", "show", workspace.experiment_id)["guardrails"]
    assert shown["rule"]["action"] == action
    assert shown["breaches"][0]["variant_events"] == 40
    password = dashboard_access.issue_dashboard_password(store, "acme", time.time())
    page = sign_in(api.client, "acme", password).get(f"/dashboard/experiments/{workspace.experiment_id}").text
    assert 'data-breach="v1-unsubscribe"' in page


def test_guardrails_can_be_turned_off(store: Store) -> None:
    workspace = make_workspace(store, "acme", guardrails=False)
    now = time.time()
    sends_with_clicks(store, workspace, now - 40 * 3600, {"control": 60, "v1": 120, "v2": 60})
    unsubscribes(store, workspace, {"v1": 40})

    [outcome] = learn_once(store, now, np.random.default_rng(1), 2000)

    assert outcome.breaches == ()
    assert outcome.allocation is not None
    assert outcome.allocation.weights["v1"] > 0.5
