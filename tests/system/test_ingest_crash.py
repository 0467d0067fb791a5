"""`kill -9` of the ingester mid-file, then a restart, leaves exactly the counts of one clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from copyloom.domain.pseudonyms import pseudonymise
from copyloom.domain.values import TenantId
from copyloom.ingest import currents_writer as cw
from copyloom.services import experiments as experiment_service
from copyloom.services import ingestion
from copyloom.services.assignment import AssignmentRequest, assign_batch
from copyloom.storage import migrate
from copyloom.storage.db import Store, open_store
from copyloom.storage.tables import ingested_files
from tests.helpers import Workspace, children_of, make_workspace

USERS = [f"user-{i}" for i in range(40_000)]


def write_bucket(folder: Path) -> None:
    """Four files; the second is big enough to be killed inside; c.avro clicks again on a.avro's sends."""
    cw.write(folder / "a.avro", "Click", [cw.record("Click", u, "d-1") for u in USERS[:5_000]])
    cw.write(folder / "b.avro", "Click", [cw.record("Click", u, "d-1") for u in USERS])
    cw.write(folder / "b2.avro", "Open", [cw.record("Open", u, "d-1") for u in USERS[:20_000]])
    cw.write(folder / "c.avro", "Click", [cw.record("Click", u, "d-1") for u in USERS[:5_000]])


def prepare(store: Store) -> Workspace:
    workspace = make_workspace(store, "acme")
    experiment = experiment_service.get_experiment(store, workspace.experiment_id)
    for start in range(0, len(USERS), 10_000):
        requests = [
            AssignmentRequest(
                TenantId(workspace.tenant.tenant_id),
                experiment,
                pseudonymise(workspace.tenant.pseudonym_key, u),
                "d-1",
                ["control", "v1", "v2"][(start + i) % 3],
                1_764_338_400.0,
            )
            for i, u in enumerate(USERS[start : start + 10_000])
        ]
        assign_batch(store, requests, 60)
    return workspace


def counts(workspace: Workspace) -> dict[str, object]:
    report = experiment_service.experiment_report(workspace.store, workspace.experiment_id)
    status = ingestion.ingest_status(workspace.store, "acme")
    return {
        "variants": {v.variant_id: (v.sends, v.clicks, v.opens) for v in report.variants},
        "files": status.files,
        "events": status.events,
        "accepted": status.accepted,
        "duplicates": status.duplicates,
    }


def ingest_command(database_url: str, folder: Path) -> list[str]:
    return [sys.executable, "-m", "copyloom", "ingest", str(folder), "--tenant", "acme", "--once"]


def env_for(database_url: str) -> dict[str, str]:
    return {**os.environ, "COPYLOOM_DATABASE_URL": database_url, "COPYLOOM_LOG_LEVEL": "WARNING"}


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone
    except OSError:
        return False


def files_done(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(ingested_files)).scalar() or 0)


@pytest.mark.slow
def test_sigkill_mid_file_then_restart_counts_exactly_once(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    bucket = tmp_path / "bucket"
    write_bucket(bucket)
    workspace = prepare(store)
    process = subprocess.Popen(ingest_command(database_url, bucket), env=env_for(database_url))
    deadline = time.monotonic() + 120
    while files_done(store) < 1 and time.monotonic() < deadline:  # a.avro done: b.avro is being read
        time.sleep(0.05)
    time.sleep(0.5)
    decoders = children_of(process.pid)  # b.avro is big enough to be decoded by a child process
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    killed_at = files_done(store)
    deadline = time.monotonic() + 30
    while any(map(alive, decoders)) and time.monotonic() < deadline:
        time.sleep(0.05)

    subprocess.run(ingest_command(database_url, bucket), env=env_for(database_url), check=True, timeout=300)

    assert 1 <= killed_at < 4, "the kill must land after the first file and before the last"
    assert decoders, "the file being read when killed was being decoded by a child process"
    assert not any(map(alive, decoders)), "a decoder process outlived its ingester"
    clean_store = open_store(f"sqlite:///{tmp_path / 'clean.db'}")
    migrate.upgrade(clean_store)
    clean = prepare(clean_store)
    subprocess.run(
        ingest_command(f"sqlite:///{tmp_path / 'clean.db'}", bucket),
        env=env_for(f"sqlite:///{tmp_path / 'clean.db'}"),
        check=True,
        timeout=300,
    )
    assert counts(workspace) == counts(clean)
    clicks_and_opens = [(c, o) for _sends, c, o in counts(workspace)["variants"].values()]  # type: ignore[attr-defined]
    assert tuple(map(sum, zip(*clicks_and_opens, strict=True))) == (
        40_000,
        20_000,
    )  # c.avro's clicks repeat a.avro's
