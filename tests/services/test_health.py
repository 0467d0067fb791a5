"""Health checks: a split that is not what the weights promised, clicks that do not join, a silent Current,
opens that are mostly machines; judged by the learner at each look and shown everywhere."""

from __future__ import annotations

import json
import time

import numpy as np

from copyloom.domain.values import RecipientKey
from copyloom.services import alerts, dashboard_access, health
from copyloom.services.adjusted import WeightsInForce
from copyloom.services.experiments import experiment_report
from copyloom.services.health import SentSlice
from copyloom.services.learning import learn_once
from copyloom.storage import alerts as alert_repo
from copyloom.storage.assignments import NewAssignment, insert_assignments
from tests.cli.runner import Cli
from tests.dashboard_data import fill_experiment, sign_in
from tests.helpers import METRICS_HEADERS, Api, Workspace
from tests.web.test_events import braze_event

EVEN = [WeightsInForce(0.0, {"a": 0.5, "b": 0.5})]


def split(
    rng: np.random.Generator, share_a: float, buckets: int = 60, per_bucket: int = 500
) -> list[SentSlice]:
    slices = []
    for i in range(buckets):
        to_a = int(rng.binomial(per_bucket, share_a))
        slices += [
            SentSlice(i * 60.0, 60.0, "a", to_a, 0),
            SentSlice(i * 60.0, 60.0, "b", per_bucket - to_a, 0),
        ]
    return slices


def test_a_split_off_the_promised_weights_is_a_sample_ratio_mismatch() -> None:
    check = health.sample_ratio(split(np.random.default_rng(1), 0.55), EVEN, ["a", "b"])

    assert check.verdict == "failing"
    assert check.value is not None
    assert check.value < 1e-6
    assert check.detail.startswith("a: ") or check.detail.startswith("b: ")


def test_a_fair_split_raises_almost_no_false_alarm() -> None:
    rng = np.random.default_rng(2)
    alarms = sum(
        health.sample_ratio(split(rng, 0.5), EVEN, ["a", "b"]).verdict == "failing" for _ in range(300)
    )

    assert alarms <= 2


def test_weights_that_change_within_a_bucket_are_averaged_over_it() -> None:
    """The learner's allocation lands mid-bucket: half the bucket at 50/50, half at 90/10."""
    history = [WeightsInForce(0.0, {"a": 0.5, "b": 0.5}), WeightsInForce(30.0, {"a": 0.9, "b": 0.1})]
    slices = [SentSlice(0.0, 60.0, "a", 7000, 0), SentSlice(0.0, 60.0, "b", 3000, 0)]

    assert health.sample_ratio(slices, history, ["a", "b"]).verdict == "ok"


def test_unattributed_clicks_warn_then_fail_and_need_enough_clicks() -> None:
    assert health.unattributed_clicks(10, 10, "x").verdict == "not_enough_data"
    assert health.unattributed_clicks(900, 100, "x").verdict == "ok"
    assert health.unattributed_clicks(700, 300, "x").verdict == "warning"
    assert health.unattributed_clicks(400, 600, "x").verdict == "failing"


def test_a_current_that_went_quiet_while_sends_go_on_is_flagged() -> None:
    now = 200_000.0
    quiet = [SentSlice(now - 20 * 3600, 60.0, "a", 2000, 0)]
    talking = [SentSlice(now - 20 * 3600, 60.0, "a", 2000, 3)]
    too_recent = [SentSlice(now - 600, 60.0, "a", 2000, 0)]

    assert health.current_silent(quiet, now=now, window_s=7 * 3600).verdict == "failing"
    assert health.current_silent(talking, now=now, window_s=7 * 3600).verdict == "ok"
    assert health.current_silent(too_recent, now=now, window_s=7 * 3600).verdict == "not_enough_data"


def test_opens_mostly_from_machines_are_a_warning() -> None:
    assert health.machine_opens(opens=40, machine=160).verdict == "warning"
    assert health.machine_opens(opens=160, machine=40).verdict == "ok"


def test_the_learner_judges_each_look_and_every_view_shows_it(
    api: Api, workspace: Workspace, database_url: str
) -> None:
    store, experiment_id = workspace.store, workspace.experiment_id
    password = dashboard_access.issue_dashboard_password(store, "acme", time.time())
    fill_experiment(api.client, workspace.token, experiment_id, recipients=40)
    now = time.time()
    send_v2_to_3000_more(workspace, now)

    learn_once(store, now, np.random.default_rng(1), 2000)

    report = experiment_report(store, experiment_id)
    verdicts = {c.name: c.verdict for c in report.health}
    assert verdicts["sample_ratio"] == "failing"
    assert set(verdicts) == set(health.CHECK_NAMES)
    shown = Cli(database_url).json("experiment", "show", experiment_id)["health"]
    assert shown["status"] == "failing"
    time.sleep(0.3)  # the server's cache refresh
    metrics = api.client.get("/metrics", headers=METRICS_HEADERS).text
    assert 'copyloom_experiments_health{check="sample_ratio",verdict="failing"} 1.0' in metrics
    page = sign_in(api.client, "acme", password).get(f"/dashboard/experiments/{experiment_id}").text
    assert 'data-check="sample_ratio" data-verdict="failing"' in page


def test_a_failing_check_is_alerted_once_until_it_passes_again(api: Api, workspace: Workspace) -> None:
    store, experiment_id = workspace.store, workspace.experiment_id
    alerts.add_webhook(
        store, "acme", "ops", "https://hooks.example.com/copyloom", time.time(), allow_loopback_http=False
    )
    fill_experiment(api.client, workspace.token, experiment_id, recipients=40)
    now = time.time()
    send_v2_to_3000_more(workspace, now)

    learn_once(store, now, np.random.default_rng(1), 2000)
    learn_once(store, now + 60, np.random.default_rng(2), 2000)

    with store.read() as conn:
        sent = alert_repo.recent_deliveries(conn, workspace.tenant.tenant_id, 50)
    failing = [
        json.loads(d.payload_json)["data"] for d in sent if d.event_type == "experiment.health_failing"
    ]
    assert [d["check"] for d in failing] == ["sample_ratio"]
    assert failing[0]["experiment_id"] == experiment_id


def test_a_normal_run_through_the_real_server_raises_no_sample_ratio_alarm(
    api: Api, workspace: Workspace
) -> None:
    auth = {"Authorization": f"Bearer {workspace.token}"}
    for i in range(1200):
        api.client.get(
            f"/v1/content/{workspace.experiment_id}",
            params={"recipient": f"u-{i}", "dispatch": "d-1"},
            headers=auth,
        ).raise_for_status()

    learn_once(workspace.store, time.time(), np.random.default_rng(1), 2000)

    [check] = [
        c
        for c in experiment_report(workspace.store, workspace.experiment_id).health
        if c.name == "sample_ratio"
    ]
    assert check.verdict == "ok"
    assert check.value is not None
    assert check.value > 0.001


def test_clicks_that_join_nothing_and_a_silent_current_fire_their_checks(
    api: Api, workspace: Workspace
) -> None:
    """Sends a day old with no Currents event at all, and then clicks of the campaign that join no send."""
    store, experiment_id = workspace.store, workspace.experiment_id
    day_ago = time.time() - 20 * 3600
    rows = [
        NewAssignment(
            workspace.tenant.tenant_id,
            experiment_id,
            RecipientKey(f"k{i}"),
            "d",
            ("control", "v1", "v2")[i % 3],
            day_ago,
            int(day_ago) // 60 * 60,
            "camp-1",
        )
        for i in range(1500)
    ]
    with store.write() as conn:
        insert_assignments(conn, rows)

    learn_once(store, time.time(), np.random.default_rng(1), 2000)
    silent = {c.name: c.verdict for c in experiment_report(store, experiment_id).health}
    strangers = [braze_event("Click", f"stranger-{i}", "d-9", campaign_id="camp-1") for i in range(60)]
    api.events(workspace.token, {"events": strangers})
    learn_once(store, time.time(), np.random.default_rng(2), 2000)
    checks = {c.name: c for c in experiment_report(store, experiment_id).health}

    assert silent["current_silent"] == "failing"
    assert checks["unattributed_clicks"].verdict == "failing"
    assert "60 of 60 clicks from its campaigns" in checks["unattributed_clicks"].detail


def send_v2_to_3000_more(workspace: Workspace, now: float) -> None:
    """A bug that gives v2 to 3,000 more recipients than the weights promised, all sent at `now`."""
    rows = [
        NewAssignment(
            workspace.tenant.tenant_id,
            workspace.experiment_id,
            RecipientKey(f"k{i}"),
            "d",
            "v2",
            now,
            int(now) // 60 * 60,
        )
        for i in range(3000)
    ]
    with workspace.store.write() as conn:
        insert_assignments(conn, rows)
