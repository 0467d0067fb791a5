"""`copyloom serve` as a real process: the API and the learner together, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from copyloom.domain.pseudonyms import pseudonymise
from copyloom.server import free_port
from copyloom.services.experiments import experiment_report
from copyloom.services.journal import replay_journals
from copyloom.storage.db import Store, open_store
from copyloom.storage.tables import assignments
from tests.helpers import Workspace


@pytest.fixture
def served(store: Store, database_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "COPYLOOM_DATABASE_URL": database_url,
        "COPYLOOM_JOURNAL_DIR": str(tmp_path / "journal"),
        "COPYLOOM_PORT": str(port),
        "COPYLOOM_PUBLIC_BASE_URL": "https://cl.example.test",
        "COPYLOOM_LEARN_INTERVAL_S": "0.3",
        "COPYLOOM_CACHE_REFRESH_S": "0.2",
        "COPYLOOM_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "copyloom", "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def start_serve(
    database_url: str, *options: str, journal_dir: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`copyloom serve` on a free port, once it answers."""
    port = free_port()
    env = {
        **os.environ,
        "COPYLOOM_DATABASE_URL": database_url,
        "COPYLOOM_JOURNAL_DIR": str(journal_dir or tempfile.mkdtemp(prefix="copyloom-journal-")),
        "COPYLOOM_PORT": str(port),
        "COPYLOOM_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "copyloom", "serve", *options], env=env)
    url = f"http://127.0.0.1:{port}"
    _wait_until_up(url, process)
    return process, url


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "copyloom serve exited"
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("copyloom serve did not come up in 30 s")


def test_serve_answers_and_its_learner_moves_the_weights(served: str, workspace: Workspace) -> None:
    headers = {"Authorization": f"Bearer {workspace.token}"}
    with httpx.Client(base_url=served, headers=headers) as client:
        served_variant = {
            f"u{i}": client.get(
                f"/v1/content/{workspace.experiment_id}", params={"recipient": f"u{i}", "dispatch": "d"}
            ).json()["variant_id"]
            for i in range(400)
        }
        v2_users = [user for user, variant in served_variant.items() if variant == "v2"]
        # Sent ten minutes ago: a broadcast's learner leaves cohorts younger than 5 minutes out.
        with workspace.store.write() as conn:
            conn.execute(
                sa.update(assignments).values(
                    assigned_at=assignments.c.assigned_at - 600, cohort_s=assignments.c.cohort_s - 600
                )
            )
        clicks = [
            {
                "event_type": "users.messages.email.Click",
                "id": f"click-{user}",
                "time": 1764338400,
                "user": {"user_id": user},
                "properties": {"dispatch_id": "d"},
            }
            for user in v2_users[:60]
        ]
        assert client.post("/v1/events", json={"events": clicks}).json()["accepted"] == 60

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        report = experiment_report(workspace.store, workspace.experiment_id)
        weights = {v.variant_id: v.weight for v in report.variants}
        if weights["v2"] > 0.9:
            break
        time.sleep(0.2)
    assert weights["v2"] > 0.9, weights
    assert report.leader == "v2"
    assert sum(v.sends for v in report.variants) == 400


def test_several_worker_processes_agree_on_every_recipient(
    store: Store, database_url: str, workspace: Workspace
) -> None:
    process, url = start_serve(database_url, "--workers", "2")
    try:
        headers = {"Authorization": f"Bearer {workspace.token}"}

        def call(i: int) -> str:
            with httpx.Client(base_url=url, headers=headers) as client:  # a new connection: any worker
                params = {"recipient": f"u{i % 50}", "dispatch": "d"}
                return str(
                    client.get(f"/v1/content/{workspace.experiment_id}", params=params).json()["variant_id"]
                )

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(call, range(400)))
    finally:
        process.terminate()
        process.wait(timeout=30)

    per_recipient: dict[int, set[str]] = {}
    for i, variant in enumerate(answers):
        per_recipient.setdefault(i % 50, set()).add(variant)
    assert all(len(v) == 1 for v in per_recipient.values())
    report = experiment_report(workspace.store, workspace.experiment_id)
    assert sum(v.sends for v in report.variants) == 50


def test_sigkill_under_load_loses_no_answered_assignment(
    store: Store, database_url: str, workspace: Workspace, tmp_path: Path
) -> None:
    process, url = start_serve(database_url, "--no-learner", "--no-ingest", journal_dir=tmp_path / "journal")
    headers = {"Authorization": f"Bearer {workspace.token}"}
    answered: list[tuple[str, str]] = []
    killed = threading.Event()
    clients: list[httpx.Client] = []
    per_thread = threading.local()

    def call(i: int) -> None:
        if killed.is_set():
            return
        if not hasattr(per_thread, "client"):  # one client per thread: a new one costs ~50 ms under load
            per_thread.client = httpx.Client(base_url=url, headers=headers, timeout=5)
            clients.append(per_thread.client)
        try:
            body = per_thread.client.get(
                f"/v1/content/{workspace.experiment_id}", params={"recipient": f"r{i}", "dispatch": "d"}
            )
            if body.status_code == 200:
                answered.append((f"r{i}", body.json()["variant_id"]))
        except httpx.TransportError:
            pass  # the server died before answering: nothing was promised

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(call, i) for i in range(3000)]
        while len(answered) < 300:
            time.sleep(0.01)
        process.kill()
        process.wait(timeout=30)
        killed.set()
        for future in futures:
            future.result()
    for client in clients:
        client.close()

    assert 300 <= len(answered) < 3000, "the kill must land mid-load"
    # A commit slower than the journal threshold is answered from the journal: durable too, and in the
    # store once the next process replays it (as here).
    replay_journals(workspace.store, tmp_path / "journal")
    stored = _stored_variants(workspace)
    missing = [
        (r, v) for r, v in answered if stored.get(pseudonymise(workspace.tenant.pseudonym_key, r)) != v
    ]
    assert missing == []


def _stored_variants(workspace: Workspace) -> dict[str, str]:
    with workspace.store.read() as conn:
        rows = conn.execute(sa.select(assignments.c.recipient_key, assignments.c.variant_id)).all()
    return dict(rows)


def test_a_serving_process_freezes_its_startup_heap() -> None:
    """Run in a child interpreter: freezing changes the collector of the process that does it."""
    code = (
        "import gc; from copyloom.server import freeze_startup_heap; freeze_startup_heap(); "
        "print(gc.get_freeze_count(), *gc.get_threshold())"
    )
    frozen, *thresholds = map(int, subprocess.check_output([sys.executable, "-c", code], text=True).split())

    assert frozen > 10_000, "start-up objects are out of the collector's sight"
    assert thresholds == [50_000, 20, 20]


def test_a_serving_process_checkpoints_its_sqlite_wal_in_the_background(tmp_path: Path) -> None:
    database = tmp_path / "serve.db"
    subprocess.run(
        [sys.executable, "-m", "copyloom", "init"],
        env={**os.environ, "COPYLOOM_DATABASE_URL": f"sqlite:///{database}"},
        check=True,
    )
    process, _url = start_serve(f"sqlite:///{database}")
    try:
        wal = database.with_name("serve.db-wal")
        store = open_store(f"sqlite:///{database}", background_checkpoint=True)
        with store.write() as conn:  # a commit that leaves its pages in the WAL only
            conn.exec_driver_sql("CREATE TABLE filler (text TEXT)")
            conn.exec_driver_sql("INSERT INTO filler VALUES (zeroblob(2000000))")
        size_before = database.stat().st_size
        deadline = time.monotonic() + 10
        while database.stat().st_size <= size_before + 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.1)
        grown_while_serving = database.stat().st_size - size_before  # before any connection closes
        store.dispose()
    finally:
        process.terminate()
        process.wait(timeout=30)

    assert wal.exists()
    assert grown_while_serving > 1_000_000, "the server's checkpoint loop copied the WAL in"
