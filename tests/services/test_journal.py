"""The outage journal: answers while the store is unreachable, and replay into the store exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from copyloom.domain.values import RecipientKey, TenantId
from copyloom.services.assignment import AssignmentRequest, GroupCommitWriter, assign_batch
from copyloom.services.experiments import get_experiment
from copyloom.services.journal import JournalledAssignment, OutageJournal, replay_journals
from copyloom.storage.assignments import NewAssignment
from copyloom.storage.db import Store, open_store
from copyloom.storage.journal import JournalWriter, journal_files
from copyloom.storage.tables import assignments
from tests.helpers import Workspace


def journalled(workspace: Workspace, recipient: str, variant: str, dispatch: str = "d") -> NewAssignment:
    return NewAssignment(
        TenantId(workspace.tenant.tenant_id),
        workspace.experiment_id,
        RecipientKey(recipient),
        dispatch,
        variant,
        1_764_338_400.0,
        1_764_338_400,
    )


def write_journal(directory: Path, rows: list[NewAssignment], name: str = "1-1-000001.journal") -> Path:
    directory.mkdir(exist_ok=True)
    writer = JournalWriter(directory / name)
    writer.append(rows)
    writer.close()
    return directory / name


def stored_rows(store: Store) -> list[tuple[str, str, str]]:
    with store.read() as conn:
        query = sa.select(assignments.c.recipient_key, assignments.c.dispatch_id, assignments.c.variant_id)
        return sorted((str(k), str(d), str(v)) for k, d, v in conn.execute(query))


def test_replay_stores_each_assignment_once_even_when_run_twice(workspace: Workspace, tmp_path: Path) -> None:
    rows = [journalled(workspace, f"k{i}", "v1" if i % 2 else "v2") for i in range(50)]
    path = write_journal(tmp_path / "journal", rows)
    copy = shutil.copy(path, tmp_path / "copy")

    first = replay_journals(workspace.store, tmp_path / "journal")
    shutil.copy(copy, path)  # as if the process died after the commit, before removing the file
    second = replay_journals(workspace.store, tmp_path / "journal")

    assert (first.files, first.stored, first.conflicts) == (1, 50, 0)
    assert (second.files, second.stored, second.conflicts) == (1, 50, 0)
    assert stored_rows(workspace.store) == sorted((r.recipient_key, "d", r.variant_id) for r in rows)
    assert journal_files(tmp_path / "journal") == []


def test_the_stored_row_wins_and_the_journal_entry_is_counted_as_a_conflict(
    workspace: Workspace, tmp_path: Path
) -> None:
    experiment = get_experiment(workspace.store, workspace.experiment_id)
    before = AssignmentRequest(
        TenantId(workspace.tenant.tenant_id), experiment, RecipientKey("k1"), "d", "v1", 1000.0
    )
    assign_batch(workspace.store, [before], 60)
    write_journal(
        tmp_path / "journal", [journalled(workspace, "k1", "v2"), journalled(workspace, "k2", "v2")]
    )

    outcome = replay_journals(workspace.store, tmp_path / "journal")

    assert (outcome.stored, outcome.conflicts) == (1, 1)
    assert stored_rows(workspace.store) == [("k1", "d", "v1"), ("k2", "d", "v2")]


_REPLAY_SCRIPT = """
import sys
from pathlib import Path
from copyloom.services.journal import replay_journals
from copyloom.storage.db import open_store
replay_journals(open_store(sys.argv[1]), Path(sys.argv[2]), chunk=100)
"""


def test_a_replay_killed_midway_is_finished_by_the_next_exactly_once(
    database_url: str, workspace: Workspace, tmp_path: Path
) -> None:
    rows = [journalled(workspace, f"k{i:05d}", ("control", "v1", "v2")[i % 3]) for i in range(20_000)]
    write_journal(tmp_path / "journal", rows)
    process = subprocess.Popen(
        [sys.executable, "-c", _REPLAY_SCRIPT, database_url, str(tmp_path / "journal")]
    )
    try:
        deadline = time.monotonic() + 60
        while _count(workspace.store) == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    partial = _count(workspace.store)

    outcome = replay_journals(workspace.store, tmp_path / "journal")

    assert 0 < partial < 20_000, "the kill must land mid-replay"
    assert outcome.stored == 20_000
    assert outcome.conflicts == 0
    assert stored_rows(workspace.store) == sorted((r.recipient_key, "d", r.variant_id) for r in rows)
    assert journal_files(tmp_path / "journal") == []


def _count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(assignments)).scalar_one())


def test_while_the_store_is_unreachable_answers_come_from_the_journal_and_stay_sticky(
    workspace: Workspace, tmp_path: Path
) -> None:
    # A real failure: SQLite cannot open a database in a folder that does not exist.
    unreachable = open_store(f"sqlite:///{tmp_path / 'missing' / 'copyloom.db'}")
    experiment = get_experiment(workspace.store, workspace.experiment_id)

    def request(recipient: str, dispatch: str, proposed: str) -> AssignmentRequest:
        tenant_id = TenantId(workspace.tenant.tenant_id)
        return AssignmentRequest(tenant_id, experiment, RecipientKey(recipient), dispatch, proposed, 1000.0)

    async def run() -> tuple[list[str], OutageJournal]:
        journal = OutageJournal(tmp_path / "journal")
        writer = GroupCommitWriter(
            unreachable, window_ms=1, max_batch=64, cohort_width_s=60, journal=journal, journal_after_ms=1000
        )
        writer.start()
        first = await asyncio.gather(
            writer.submit(request("k1", "d1", "v1")), writer.submit(request("k2", "d1", "v2"))
        )
        again = await writer.submit(request("k1", "d1", "v2"))  # a second render, weights moved meanwhile
        next_dispatch = await writer.submit(request("k1", "d2", "control"))  # per-recipient stickiness
        await writer.stop()
        answers = [*first, again, next_dispatch]
        assert all(isinstance(a, JournalledAssignment) and a.assignment_id is None for a in answers)
        return [a.variant_id for a in answers], journal

    variants, journal = asyncio.run(run())

    assert variants == ["v1", "v2", "v1", "v1"]
    stats = journal.stats()
    assert stats.degraded
    assert (stats.depth, stats.journalled) == (3, 3), "a key journalled before is not journalled again"
    assert stored_rows(workspace.store) == []

    outcome = asyncio.run(journal.replay_pass(workspace.store))

    assert outcome.stored == 3
    assert not journal.stats().degraded
    assert journal.stats().depth == 0
    assert stored_rows(workspace.store) == [("k1", "d1", "v1"), ("k1", "d2", "v1"), ("k2", "d1", "v2")]


def test_a_torn_last_record_is_skipped_and_the_rest_replayed(workspace: Workspace, tmp_path: Path) -> None:
    path = write_journal(tmp_path / "journal", [journalled(workspace, "k1", "v1")])
    with path.open("ab") as file:  # a crash in the middle of the next batch's write
        file.write(b'0badc0de {"tenant":')

    outcome = replay_journals(workspace.store, tmp_path / "journal")

    assert (outcome.stored, outcome.bad_lines) == (1, 1)
    assert stored_rows(workspace.store) == [("k1", "d", "v1")]
    assert journal_files(tmp_path / "journal") == []


def test_the_store_takes_over_again_under_steady_traffic(workspace: Workspace, tmp_path: Path) -> None:
    experiment = get_experiment(workspace.store, workspace.experiment_id)
    tenant_id = TenantId(workspace.tenant.tenant_id)

    async def run() -> tuple[dict[str, str], bool]:
        journal = OutageJournal(tmp_path / "journal")
        writer = GroupCommitWriter(
            workspace.store,
            window_ms=1,
            max_batch=64,
            cohort_width_s=60,
            journal=journal,
            journal_after_ms=1000,
        )
        writer.start()
        journal.mark_degraded("test")  # the outage is declared; the store behind it is real and back
        answers: dict[str, str] = {}
        recovered = asyncio.Event()

        async def traffic(lane: int) -> None:
            i = 0
            while not recovered.is_set() or i < 20:  # keeps calling through the recovery and after it
                recipient = f"k{lane}-{i}"
                request = AssignmentRequest(tenant_id, experiment, RecipientKey(recipient), "d", "v1", 1000.0)
                answers[recipient] = (await writer.submit(request)).variant_id
                i += 1

        lanes = [asyncio.create_task(traffic(lane)) for lane in range(32)]
        await asyncio.sleep(0.2)
        await asyncio.wait_for(journal.replay_pass(workspace.store), timeout=60)
        recovered.set()
        degraded_after = journal.stats().degraded
        await asyncio.gather(*lanes)
        await writer.stop()
        return answers, degraded_after

    answers, degraded_after = asyncio.run(run())

    assert not degraded_after
    assert stored_rows(workspace.store) == sorted((k, "d", v) for k, v in answers.items())
    assert journal_files(tmp_path / "journal") == []


def test_a_record_the_store_refuses_is_dropped_and_counted_and_the_rest_replayed(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Before, one such record failed its whole chunk on every pass: the file was never replayed."""
    rows = [journalled(workspace, f"k{i}", "v1") for i in range(30)]
    rows[5] = journalled(workspace, "k5", "v1", dispatch="d\ud800")  # no store can encode it
    rows[20] = journalled(workspace, "k20", "v1", dispatch="a\x00b")  # PostgreSQL refuses NUL in text
    refused = {5} if workspace.store.is_sqlite else {5, 20}
    write_journal(tmp_path / "journal", rows)

    outcome = replay_journals(workspace.store, tmp_path / "journal")

    assert (outcome.stored, outcome.refused) == (30 - len(refused), len(refused))
    assert len(stored_rows(workspace.store)) == 30 - len(refused)
    assert journal_files(tmp_path / "journal") == []


def test_segments_and_propensities_round_trip_through_the_journal_into_the_store(
    workspace: Workspace, tmp_path: Path
) -> None:
    journal = OutageJournal(tmp_path / "journal")
    journal.mark_degraded("test: store down")
    base = journalled(workspace, "k1", "v1", "d1")
    first = dataclasses.replace(base, segment="tier=loyal", propensity=0.7)
    # A new dispatch of the same recipient, sticky per recipient: it keeps v1 and v1's propensity.
    second = dataclasses.replace(
        base, dispatch_id="d2", variant_id="v2", segment="tier=loyal", propensity=0.2
    )

    answers = asyncio.run(journal.assign_if_degraded([first, second], [True, True]))
    asyncio.run(journal.close(workspace.store))

    assert answers == [JournalledAssignment("v1"), JournalledAssignment("v1")]
    with workspace.store.read() as conn:
        query = sa.select(
            assignments.c.dispatch_id,
            assignments.c.variant_id,
            assignments.c.segment,
            assignments.c.propensity,
        )
        stored = sorted(conn.execute(query).all())
    assert stored == [("d1", "v1", "tier=loyal", 0.7), ("d2", "v1", "tier=loyal", 0.7)]
