"""Journal files: checksummed lines, one fsync per batch, torn records, and claims by lock."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from copyloom.domain.values import RecipientKey, TenantId
from copyloom.storage import journal
from copyloom.storage.assignments import NewAssignment


def row(i: int) -> NewAssignment:
    return NewAssignment(
        TenantId("tn_1"), "ex_1", RecipientKey(f"key-{i}"), "d", "v1", 1_764_338_400.0 + i, 1_764_338_400
    )


def test_a_batch_reads_back_as_written(tmp_path: Path) -> None:
    writer = journal.JournalWriter(tmp_path / "1-1-000001.journal")
    writer.append([row(1), row(2)])
    writer.append([row(3)])
    writer.close()

    contents = journal.read_journal(tmp_path / "1-1-000001.journal")

    assert contents.records == [row(1), row(2), row(3)]
    assert contents.bad_lines == 0


def test_the_source_of_an_assignment_is_journalled_and_older_lines_without_it_still_read() -> None:
    sourced = NewAssignment(TenantId("tn_1"), "ex_1", RecipientKey("k"), "d", "v1", 1.0, 0, "camp-a")
    payload = (
        b'{"assigned_at":1.0,"cohort_s":0,"dispatch":"d","experiment":"ex_1","recipient_key":"k",'
        b'"tenant":"tn_1","variant":"v1"}'
    )
    older = b"%08x %s\n" % (zlib.crc32(payload), payload)

    assert journal.decode_record(journal.encode_record(sourced)) == sourced
    assert journal.decode_record(older) == NewAssignment(
        TenantId("tn_1"), "ex_1", RecipientKey("k"), "d", "v1", 1.0, 0, ""
    )


def test_the_segment_and_propensity_are_journalled_and_older_lines_without_them_still_read() -> None:
    segmented = NewAssignment(
        TenantId("tn_1"), "ex_1", RecipientKey("k"), "d", "v1", 1.0, 0, "", "country=GB|tier=loyal", 0.25
    )
    payload = (
        b'{"assigned_at":1.0,"cohort_s":0,"dispatch":"d","experiment":"ex_1","recipient_key":"k",'
        b'"source":"camp-a","tenant":"tn_1","variant":"v1"}'
    )
    older = b"%08x %s\n" % (zlib.crc32(payload), payload)

    assert journal.decode_record(journal.encode_record(segmented)) == segmented
    decoded = journal.decode_record(older)
    assert decoded is not None
    assert (decoded.segment, decoded.propensity) == ("", None)


def test_a_line_whose_propensity_is_not_a_number_is_a_bad_line() -> None:
    payload = (
        b'{"assigned_at":1.0,"cohort_s":0,"dispatch":"d","experiment":"ex_1","recipient_key":"k",'
        b'"tenant":"tn_1","variant":"v1","propensity":"high"}'
    )

    assert journal.decode_record(b"%08x %s\n" % (zlib.crc32(payload), payload)) is None


def test_one_fsync_per_batch_not_per_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = journal.JournalWriter(tmp_path / "1-1-000001.journal")
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:  # a spy: the real fsync still runs
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(journal.os, "fsync", counting_fsync)
    writer.append([row(i) for i in range(100)])
    writer.close()

    assert len(synced) == 1


def test_a_torn_last_record_is_ignored_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "1-1-000001.journal"
    writer = journal.JournalWriter(path)
    writer.append([row(1), row(2)])
    writer.close()
    whole = journal.encode_record(row(3))
    with path.open("ab") as file:  # what a crash in the middle of a write leaves
        file.write(whole[: len(whole) // 2])

    with caplog.at_level(logging.WARNING):
        contents = journal.read_journal(path)

    assert contents.records == [row(1), row(2)]
    assert contents.bad_lines == 1
    assert "line 3: torn, ignored" in caplog.text
    assert "key-3" not in caplog.text, "a record is never logged"


def test_a_line_that_fails_its_checksum_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "1-1-000001.journal"
    lines = [journal.encode_record(row(i)) for i in range(3)]
    lines[1] = lines[1].replace(b"key-1", b"key-7")
    path.write_bytes(b"".join(lines))

    contents = journal.read_journal(path)

    assert contents.records == [row(0), row(2)]
    assert contents.bad_lines == 1


def test_a_file_being_written_cannot_be_claimed_until_it_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "1-1-000001.journal"
    writer = journal.JournalWriter(path)
    writer.append([row(1)])

    with journal.claimed(path) as while_open:
        assert not while_open
    writer.close()
    with journal.claimed(path) as first, journal.claimed(path) as second:
        assert first
        assert not second, "two replayers never hold the same file"


def test_a_removed_file_cannot_be_claimed(tmp_path: Path) -> None:
    path = tmp_path / "1-1-000001.journal"
    journal.JournalWriter(path).close()
    journal.remove_journal(path)

    with journal.claimed(path) as claim:
        assert not claim
    assert journal.journal_files(tmp_path) == []


@pytest.mark.integration  # starts a process
def test_the_file_of_a_killed_process_can_be_claimed(tmp_path: Path) -> None:
    path = tmp_path / "1-1-000001.journal"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from copyloom.storage.journal import JournalWriter\n"
        "JournalWriter(Path(sys.argv[1]))\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"locked\n"
        with journal.claimed(path) as while_alive:
            assert not while_alive
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()

    deadline = time.monotonic() + 5
    while True:
        with journal.claimed(path) as claim:
            if claim or time.monotonic() > deadline:
                break
        time.sleep(0.05)
    assert claim
