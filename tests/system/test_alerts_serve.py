"""`copyloom serve` delivers alerts: its delivery loop runs next to the learner and retries a receiver
that was down until it is back, under the same `webhook-id`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook as Verifier

from copyloom.domain.values import TenantId
from copyloom.server import free_port
from copyloom.services import alerts
from tests.helpers import Workspace
from tests.webhook_receiver import Receiver


@pytest.mark.slow
def test_serve_retries_an_alert_until_the_receiver_is_back(
    workspace: Workspace, database_url: str, tmp_path: Path
) -> None:
    receiver = Receiver()
    webhook = alerts.add_webhook(
        workspace.store, workspace.tenant.name, "ops", receiver.url, time.time(), allow_loopback_http=True
    )
    event_id = alerts.notify(
        workspace.store, TenantId(workspace.tenant.tenant_id), "webhook.test", {"n": 1}, time.time()
    )
    port = free_port()
    env = {
        **os.environ,
        "COPYLOOM_DATABASE_URL": database_url,
        "COPYLOOM_JOURNAL_DIR": str(tmp_path / "journal"),
        "COPYLOOM_PORT": str(port),
        "COPYLOOM_LOG_LEVEL": "WARNING",
        "COPYLOOM_WEBHOOK_ALLOW_LOOPBACK_HTTP": "true",
    }
    process = subprocess.Popen([sys.executable, "-m", "copyloom", "serve"], env=env)
    try:
        _wait_for_a_failed_attempt(workspace)  # nothing listens yet: the connection is refused
        with receiver:
            deadline = time.monotonic() + 20  # the first retry is due 5 s (±20 %) after the refusal
            while not receiver.received and time.monotonic() < deadline:
                assert process.poll() is None, "copyloom serve exited"
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=30)

    [request] = receiver.received
    assert request.headers["webhook-id"] == event_id
    assert Verifier(webhook.secret).verify(request.body, request.headers)["data"] == {"n": 1}
    [(delivery, attempts)] = alerts.deliveries(workspace.store, workspace.tenant.name, limit=5)
    assert delivery.status == "delivered"
    assert [a.status_code for a in attempts] == [None, 200]


def _wait_for_a_failed_attempt(workspace: Workspace) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        [(delivery, _)] = alerts.deliveries(workspace.store, workspace.tenant.name, limit=5)
        if delivery.attempts:
            return
        time.sleep(0.1)
    pytest.fail("copyloom serve made no attempt in 30 s")
