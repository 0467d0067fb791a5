"""Alerts by signed webhooks, over real HTTP to a receiver on loopback: signatures that a Standard Webhooks
library verifies, retries that reach a receiver that was down under the same `webhook-id`, the delivery
log, alerts that fire once, and no personal data in any payload."""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from standardwebhooks import Webhook as Verifier

from copyloom.domain.alerts import RetrySchedule, Webhook
from copyloom.domain.pseudonyms import pseudonymise
from copyloom.domain.values import AutoRetireRule, TenantId
from copyloom.engine import Allocation
from copyloom.services import alerts
from copyloom.services import experiments as experiment_service
from copyloom.services.learning import cohorts_for, learn_once
from copyloom.storage.db import Store
from tests.helpers import Api, Workspace
from tests.services.test_learning import fill
from tests.webhook_receiver import Receiver

NO_WAIT = RetrySchedule(delays_s=(0.0, 0.0, 0.0), jitter=0.0)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with alerts.delivery_client() as client:
        yield client


def add(workspace: Workspace, url: str, name: str = "ops") -> Webhook:
    return alerts.add_webhook(
        workspace.store, workspace.tenant.name, name, url, time.time(), allow_loopback_http=True
    )


def deliver(store: Store, client: httpx.Client, schedule: RetrySchedule = NO_WAIT) -> list[alerts.Sent]:
    return alerts.deliver_due(store, time.time(), client=client, allow_loopback_http=True, schedule=schedule)


def test_a_delivery_is_signed_so_that_a_standard_webhooks_library_verifies_it(
    workspace: Workspace, client: httpx.Client
) -> None:
    with Receiver() as receiver:
        webhook = add(workspace, receiver.url)
        event_id = alerts.send_test(workspace.store, workspace.tenant.name, "ops", time.time())
        [sent] = deliver(workspace.store, client)

    [request] = receiver.received
    payload = Verifier(webhook.secret).verify(request.body, request.headers)
    assert sent.delivered
    assert request.path == "/hooks/copyloom"
    assert request.headers["webhook-id"] == event_id
    assert request.headers["content-type"] == "application/json"
    assert payload["type"] == "webhook.test"
    assert payload["data"] == {"webhook": "ops", "tenant": "acme"}
    assert webhook.secret.startswith("whsec_")


def test_a_signature_made_with_another_secret_does_not_verify(
    workspace: Workspace, client: httpx.Client
) -> None:
    with Receiver() as receiver:
        add(workspace, receiver.url)
        other = add(workspace, receiver.url + "/other", name="other")
        alerts.send_test(workspace.store, workspace.tenant.name, "ops", time.time())
        deliver(workspace.store, client)

    [request] = receiver.received
    with pytest.raises(Exception, match="No matching signature"):
        Verifier(other.secret).verify(request.body, request.headers)


def test_a_receiver_that_is_down_gets_the_event_when_it_comes_back_under_the_same_id(
    workspace: Workspace, client: httpx.Client
) -> None:
    receiver = Receiver(answers=[503])
    webhook = add(workspace, receiver.url)
    event_id = alerts.notify(
        workspace.store, TenantId(workspace.tenant.tenant_id), "webhook.test", {"n": 1}, time.time()
    )

    [refused] = deliver(workspace.store, client)  # nothing listens on the port yet
    with receiver:
        [unavailable] = deliver(workspace.store, client)
        [delivered] = deliver(workspace.store, client)
        assert deliver(workspace.store, client) == []

    assert (refused.delivered, refused.attempt.status_code) == (False, None)
    assert refused.attempt.error is not None
    assert refused.attempt.error.startswith("ConnectError")
    assert (unavailable.delivered, unavailable.attempt.status_code) == (False, 503)
    assert (delivered.delivered, delivered.attempt.status_code) == (True, 200)
    assert [r.headers["webhook-id"] for r in receiver.received] == [event_id, event_id]
    assert receiver.received[0].body == receiver.received[1].body
    for request in receiver.received:
        Verifier(webhook.secret).verify(request.body, request.headers)
    [(delivery, attempts)] = alerts.deliveries(workspace.store, workspace.tenant.name, limit=10)
    assert (delivery.event_id, delivery.status, delivery.attempts) == (event_id, "delivered", 3)
    assert delivery.delivered_at is not None
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, None), (2, 503), (3, 200)]
    assert attempts[1].error == "HTTP 503"


def test_a_delivery_is_given_up_after_the_schedules_last_attempt(
    workspace: Workspace, client: httpx.Client
) -> None:
    with Receiver(answers=[500, 500]) as receiver:
        add(workspace, receiver.url)
        alerts.send_test(workspace.store, workspace.tenant.name, "ops", time.time())
        schedule = RetrySchedule(delays_s=(0.0,), jitter=0.0)
        first = deliver(workspace.store, client, schedule)
        second = deliver(workspace.store, client, schedule)
        third = deliver(workspace.store, client, schedule)

    assert [len(first), len(second), third] == [1, 1, []]
    [(delivery, attempts)] = alerts.deliveries(workspace.store, workspace.tenant.name, limit=10)
    assert (delivery.status, delivery.next_attempt_at, len(attempts)) == ("failed", None, 2)


def test_retries_back_off_by_the_schedule_with_jitter() -> None:
    schedule = RetrySchedule(delays_s=(5, 30, 120), jitter=0.2)

    waits = [schedule.next_attempt_at(n, 1000.0, random.Random(3)) for n in (1, 2, 3, 4)]

    assert waits[3] is None
    for wait, delay in zip(waits[:3], (5, 30, 120), strict=True):
        assert wait is not None
        assert 1000 + 0.8 * delay <= wait <= 1000 + 1.2 * delay


def test_a_removed_webhook_gets_nothing_more_and_the_log_keeps_its_deliveries(
    workspace: Workspace, client: httpx.Client
) -> None:
    with Receiver() as receiver:
        add(workspace, receiver.url)
        alerts.send_test(workspace.store, workspace.tenant.name, "ops", time.time())
        alerts.remove_webhook(workspace.store, workspace.tenant.name, "ops", time.time())
        assert deliver(workspace.store, client) == []
        add(workspace, receiver.url)  # the name is free again

    assert receiver.received == []
    [(delivery, _)] = alerts.deliveries(workspace.store, workspace.tenant.name, limit=10)
    assert (delivery.status, delivery.last_error) == ("failed", "webhook removed")
    assert [w.name for w in alerts.list_webhooks(workspace.store, workspace.tenant.name)] == ["ops"]


def test_a_host_that_resolves_to_a_private_address_is_refused_at_delivery(
    workspace: Workspace, client: httpx.Client
) -> None:
    with Receiver() as receiver:
        add(workspace, receiver.url.replace("127.0.0.1", "localhost"))
        alerts.send_test(workspace.store, workspace.tenant.name, "ops", time.time())
        [sent] = alerts.deliver_due(
            workspace.store, time.time(), client=client, allow_loopback_http=False, schedule=NO_WAIT
        )

    assert receiver.received == []
    assert sent.attempt.error is not None
    assert "not a public address" in sent.attempt.error


def test_the_learner_alerts_a_winner_once_with_the_figures_and_no_personal_data(
    workspace: Workspace, client: httpx.Client
) -> None:
    fill(workspace, {"control": 0.02, "v1": 0.02, "v2": 0.2}, per_variant=1500)
    with Receiver() as receiver:
        webhook = add(workspace, receiver.url)
        first = learn_once(workspace.store, 5000.0, np.random.default_rng(1), samples=4000)
        again = learn_once(workspace.store, 5060.0, np.random.default_rng(2), samples=4000)
        deliver(workspace.store, client)

    assert first[0].allocation is not None
    assert first[0].allocation.winner == "v2"
    assert again[0].allocation is not None
    assert again[0].allocation.winner == "v2"
    [request] = receiver.received  # one alert, not one per pass
    payload = Verifier(webhook.secret).verify(request.body, request.headers)
    assert payload["type"] == "experiment.winner_declared"
    data = payload["data"]
    assert (data["experiment_id"], data["experiment_name"], data["winner"]) == (
        workspace.experiment_id,
        "Black Friday subject",
        "v2",
    )
    assert data["p_best"] >= 0.95
    assert data["metric"] == "click"
    figures = {v["variant_id"]: (v["sends"], v["events"]) for v in data["variants"]}
    assert figures == {"control": (1500, 30), "v1": (1500, 30), "v2": (1500, 300)}
    _assert_no_personal_data(workspace, request.body)


def test_recipients_who_came_through_the_content_endpoint_never_reach_a_payload(
    api: Api, workspace: Workspace, client: httpx.Client
) -> None:
    raw_ids = ["jane.doe@example.com", "user-88123", "+44 7700 900123"]
    for raw in raw_ids:
        assert api.content(workspace.token, workspace.experiment_id, recipient=raw, dispatch="d-1").is_success
    fill(workspace, {"control": 0.02, "v1": 0.02, "v2": 0.2}, per_variant=1500)
    with Receiver() as receiver:
        add(workspace, receiver.url)
        learn_once(workspace.store, 5000.0, np.random.default_rng(1), samples=4000)
        alerts.send_test(workspace.store, workspace.tenant.name, "ops", time.time())
        deliver(workspace.store, client)

    assert len(receiver.received) == 2
    for request in receiver.received:
        for raw in raw_ids:
            assert raw.encode() not in request.body
            assert pseudonymise(workspace.tenant.pseudonym_key, raw).encode() not in request.body
        _assert_no_personal_data(workspace, request.body)
        assert set(request.headers) >= {"webhook-id", "webhook-timestamp", "webhook-signature"}


def _assert_no_personal_data(workspace: Workspace, body: bytes) -> None:
    """No recipient (the raw keys `fill` stores, pseudonyms), address, or wording text in the bytes."""
    with workspace.store.read() as conn:
        keys = [r[0] for r in conn.exec_driver_sql("SELECT recipient_key FROM assignments LIMIT 50")]
    assert keys
    for forbidden in [*keys, "control-0", "@", "127.0.0.1", "Black Friday: 30% off", "Members first"]:
        assert forbidden.encode() not in body, forbidden


def test_a_winner_declared_again_after_a_change_of_winner_alerts_again(workspace: Workspace) -> None:
    store = workspace.store
    experiment = experiment_service.get_experiment(store, workspace.experiment_id)
    alerts.add_webhook(store, "acme", "ops", "https://hooks.example.com/x", 1.0, allow_loopback_http=False)

    for winner in ("v1", "v1", "v2"):
        allocation = Allocation(
            {"control": 0.0, "v1": 0.5, "v2": 0.5}, {"v1": 0.5, "v2": 0.5}, winner, "winner"
        )
        alerts.alert_learn_pass(
            store, [alerts.PassOutcome(experiment, allocation, None, None)], 2.0, cohorts_for
        )

    found = alerts.deliveries(store, "acme", limit=10)
    winners = [json.loads(d.payload_json)["data"]["winner"] for d, _ in found]
    assert sorted(winners) == ["v1", "v2"]


def test_a_learner_failure_alerts_once_until_the_experiment_learns_again(workspace: Workspace) -> None:
    store = workspace.store
    experiment = experiment_service.get_experiment(store, workspace.experiment_id)
    alerts.add_webhook(store, "acme", "ops", "https://hooks.example.com/x", 1.0, allow_loopback_http=False)
    error = "OperationalError: (psycopg.OperationalError) boom\n[SQL: SELECT … WHERE recipient_key = 'abc']"
    failed = alerts.PassOutcome(experiment, None, error, None)
    fine = alerts.PassOutcome(experiment, Allocation({"v1": 1.0}, {"v1": 1.0}, None, "warm_up"), None, None)

    for outcome in (failed, failed, fine, failed):
        alerts.alert_learn_pass(store, [outcome], 2.0, cohorts_for)

    found = alerts.deliveries(store, "acme", limit=10)
    assert len(found) == 2
    data = json.loads(found[0][0].payload_json)["data"]
    assert data["error_class"] == "OperationalError"
    assert data["message"] == "(psycopg.OperationalError) boom"
    assert "recipient_key" not in found[0][0].payload_json


def test_an_automatic_retirement_alerts_which_variant_and_why(workspace: Workspace) -> None:
    store = workspace.store
    experiment = experiment_service.get_experiment(store, workspace.experiment_id)
    rule = AutoRetireRule(p_best_below=0.05, for_hours=72.0, min_sends=2000)
    experiment = dataclasses.replace(
        experiment, definition=dataclasses.replace(experiment.definition, mode="triggered", auto_retire=rule)
    )
    alerts.add_webhook(store, "acme", "ops", "https://hooks.example.com/x", 1.0, allow_loopback_http=False)
    allocation = Allocation({"control": 0.5, "v1": 0.5}, {"control": 0.98, "v1": 0.01, "v2": 0.01}, None, "x")

    alerts.alert_learn_pass(store, [alerts.PassOutcome(experiment, allocation, None, "v2")], 2.0, cohorts_for)

    [(delivery, _)] = alerts.deliveries(store, "acme", limit=10)
    assert delivery.event_type == "experiment.variant_retired"
    data = json.loads(delivery.payload_json)["data"]
    assert (data["variant_id"], data["retired_by"], data["p_best"]) == ("v2", "auto", 0.01)
    assert data["rule"] == {"p_best_below": 0.05, "for_hours": 72.0, "min_sends": 2000}


def test_no_webhook_no_outbox_row(workspace: Workspace) -> None:
    assert (
        alerts.notify(workspace.store, TenantId(workspace.tenant.tenant_id), "webhook.test", {}, 1.0) is None
    )
    assert alerts.deliveries(workspace.store, workspace.tenant.name, limit=10) == []
