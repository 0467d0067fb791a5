"""Journal files: the local, append-only record of assignments made while the store was unreachable.

One file per process (named by pid, start time and a sequence number), one line per assignment:
`<crc32 of the JSON, 8 hex digits> <JSON>`. A batch is written with one `write` and one `fsync`. The
writing process holds an exclusive `flock` on its open file; a replayer claims a file with the same
lock, so a file is never replayed while it is written, nor by two replayers at once. A process that
dies (even by SIGKILL) drops its locks, so its file can be claimed by anyone.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from copyloom.domain.values import RecipientKey, TenantId
from copyloom.storage.assignments import NewAssignment

log = logging.getLogger(__name__)

SUFFIX = ".journal"


@dataclass(frozen=True, slots=True)
class JournalContents:
    """The valid records of a file, and how many lines were ignored (torn or corrupt)."""

    records: list[NewAssignment]
    bad_lines: int


def encode_record(row: NewAssignment) -> bytes:
    """One journal line for an assignment (recipient keys are already pseudonymised)."""
    payload = json.dumps(
        {
            "tenant": row.tenant_id,
            "experiment": row.experiment_id,
            "recipient_key": row.recipient_key,
            "dispatch": row.dispatch_id,
            "variant": row.variant_id,
            "assigned_at": row.assigned_at,
            "cohort_s": row.cohort_s,
            "source": row.source_id,
            "segment": row.segment,
            "propensity": row.propensity,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def decode_record(line: bytes) -> NewAssignment | None:
    """The assignment of a journal line, or None when the line is torn or fails its checksum."""
    if not line.endswith(b"\n") or len(line) < 10 or line[8:9] != b" ":
        return None
    payload = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(payload):
            return None
        data = json.loads(payload)
        return NewAssignment(
            tenant_id=TenantId(data["tenant"]),
            experiment_id=str(data["experiment"]),
            recipient_key=RecipientKey(data["recipient_key"]),
            dispatch_id=str(data["dispatch"]),
            variant_id=str(data["variant"]),
            assigned_at=float(data["assigned_at"]),
            cohort_s=int(data["cohort_s"]),
            source_id=str(data.get("source", "")),  # journals written before sources were kept
            segment=str(data.get("segment", "")),  # ... and before segments and propensities were
            propensity=_propensity(data.get("propensity")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _propensity(raw: object) -> float | None:
    if raw is None:
        return None
    if not isinstance(raw, (int, float)) or isinstance(raw, bool):
        raise TypeError("propensity: expected a number")
    return float(raw)


def read_journal(path: Path) -> JournalContents:
    """Every valid record of a journal file. A torn last line (a crash mid-write) or a line that fails
    its checksum is skipped with a warning naming the file and line, never the record."""
    records: list[NewAssignment] = []
    bad = 0
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            record = decode_record(line)
            if record is None:
                bad += 1
                torn = not line.endswith(b"\n")
                log.warning(
                    "journal %s line %d: %s, ignored", path.name, number, "torn" if torn else "bad checksum"
                )
                continue
            records.append(record)
    return JournalContents(records, bad)


class JournalWriter:
    """An open journal file of this process, locked for as long as it is open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        _fsync_directory(path.parent)

    def append(self, rows: Sequence[NewAssignment]) -> None:
        """Write the records of one batch, then one fsync: they survive a crash once this returns."""
        data = b"".join(encode_record(row) for row in rows)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)  # also releases the lock: the file can now be claimed and replayed


def journal_files(directory: Path) -> list[Path]:
    """The journal files in a directory, oldest name first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX))


@contextmanager
def claimed(path: Path) -> Iterator[bool]:
    """Try to claim a file for replay: yields True while this process holds it, False when another
    process is writing or replaying it, or it was replayed and removed in the meantime."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        # Another replayer may have finished and removed the file between our open and our lock.
        yield os.fstat(fd).st_nlink > 0
    finally:
        os.close(fd)


def remove_journal(path: Path) -> None:
    """Delete a replayed file (call while holding its claim, after the store committed its records)."""
    path.unlink()
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
