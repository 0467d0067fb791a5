"""The outage journal: serving on while the store is unreachable, and replaying exactly once after.

When a group commit fails because the store is unreachable (or takes longer than the journal
threshold), the worker turns *degraded*: each batch is appended to a local journal file (one fsync per
batch) and answered from it, with the deterministic choice on the last known weights. An in-memory
index of what was journalled keeps a recipient who calls again during the outage on the same variant.
A recipient whose sticky row is only in the store cannot be looked up then: they get the deterministic
choice, and on replay the store's row wins (the journal entry is dropped and counted as a conflict).

A background loop probes the store every few seconds; once it takes writes again, every journal file in
the directory (this process's and those left by dead ones) is replayed, in chunked transactions with
the unique key (experiment, recipient, dispatch) deciding, and removed after its last commit: replaying
a file twice, or again after a crash mid-replay, stores each assignment exactly once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
from sqlalchemy.engine import Connection

from copyloom.domain.values import VariantId
from copyloom.errors import StoreUnavailable
from copyloom.storage import assignments as repo
from copyloom.storage import journal as files
from copyloom.storage.assignments import NewAssignment
from copyloom.storage.db import Store

log = logging.getLogger(__name__)

REPLAY_CHUNK = 1000
_DRAIN_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class JournalledAssignment:
    """An answer from the journal: the variant, and no assignment id (the store has not seen it yet)."""

    variant_id: VariantId
    assignment_id: None = None


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """What one replay pass did. `stored`: records now in the store as journalled (inserted, or already
    there from an earlier, interrupted replay); `conflicts`: records dropped because the store holds
    another variant for the same key; `bad_lines`: torn or corrupt lines skipped; `refused`: records the
    store refused for what they hold (dropped, so that one never blocks the file)."""

    files: int = 0
    stored: int = 0
    conflicts: int = 0
    bad_lines: int = 0
    refused: int = 0

    def __add__(self, other: ReplayOutcome) -> ReplayOutcome:
        return ReplayOutcome(
            self.files + other.files,
            self.stored + other.stored,
            self.conflicts + other.conflicts,
            self.bad_lines + other.bad_lines,
            self.refused + other.refused,
        )


@dataclass(frozen=True, slots=True)
class JournalStats:
    """The journal as health checks and metrics see it."""

    degraded: bool
    degraded_since: float | None
    depth: int
    journalled: int
    replayed: int
    conflicts: int
    bad_lines: int
    refused: int = 0


def replay_journals(store: Store, directory: Path, chunk: int = REPLAY_CHUNK) -> ReplayOutcome:
    """Replay every claimable journal file in `directory` into the store, removing each after its commit.

    Files being written by a live process, or replayed by another, are skipped (their lock is held).

    Raises:
        StoreUnavailable: the store failed; the file being replayed stays for the next pass.
    """
    return replay_paths(store, files.journal_files(directory))


def replay_paths(store: Store, paths: Sequence[Path], chunk: int = REPLAY_CHUNK) -> ReplayOutcome:
    """Replay these journal files (each only if it can be claimed), removing each after its commit."""
    outcome = ReplayOutcome()
    for path in paths:
        with files.claimed(path) as is_ours:
            if not is_ours:
                continue
            outcome += replay_file(store, path, chunk)
            files.remove_journal(path)
    return outcome


def replay_file(store: Store, path: Path, chunk: int = REPLAY_CHUNK) -> ReplayOutcome:
    """Insert the records of one (claimed) journal file, `chunk` records per transaction."""
    contents = files.read_journal(path)
    outcome = ReplayOutcome(files=1, bad_lines=contents.bad_lines)
    for start in range(0, len(contents.records), chunk):
        outcome += _replay_records(store, contents.records[start : start + chunk])
    if outcome.refused:
        log.error("journal %s: %d records refused by the store, dropped", path.name, outcome.refused)
    if outcome.conflicts:
        log.warning("journal %s: %d records lost to the store's rows", path.name, outcome.conflicts)
    return outcome


def _replay_records(store: Store, records: Sequence[NewAssignment]) -> ReplayOutcome:
    """Insert records in one transaction; if the store refuses them for what they hold (not an outage),
    in halves down to the one record, which is dropped and counted: it never blocks the file."""
    try:
        with store.write() as conn:
            repo.insert_assignments(conn, records)
            stored = _stored_variants(conn, records)
    except StoreUnavailable:
        raise
    except Exception:
        if len(records) == 1:
            return ReplayOutcome(refused=1)
        middle = len(records) // 2
        return _replay_records(store, records[:middle]) + _replay_records(store, records[middle:])
    return _compare(records, stored)


def _stored_variants(conn: Connection, records: Sequence[NewAssignment]) -> dict[tuple[str, str, str], str]:
    by_experiment: dict[str, list[str]] = {}
    for r in records:
        by_experiment.setdefault(r.experiment_id, []).append(r.recipient_key)
    stored: dict[tuple[str, str, str], str] = {}
    for experiment_id, keys in by_experiment.items():
        for row in repo.assignments_of_recipients(conn, experiment_id, keys):
            stored[(row.experiment_id, row.recipient_key, row.dispatch_id)] = row.variant_id
    return stored


def _compare(records: Sequence[NewAssignment], stored: dict[tuple[str, str, str], str]) -> ReplayOutcome:
    """Count each record as stored (its variant is the store's) or as a conflict (another variant won)."""
    kept = lost = 0
    for r in records:
        if stored.get((r.experiment_id, r.recipient_key, r.dispatch_id)) == r.variant_id:
            kept += 1
        else:
            lost += 1
    return ReplayOutcome(stored=kept, conflicts=lost)


class OutageJournal:
    """The journal of one API process: its degraded state, its open file, and the index of what it
    journalled during the current outage. Lives on the event loop; file IO runs on threads."""

    def __init__(self, directory: Path, *, clock_ns: int | None = None) -> None:
        self.directory = directory
        self._name_prefix = f"{os.getpid()}-{clock_ns or time.time_ns()}"
        self._sequence = 0
        self._writer: files.JournalWriter | None = None
        self._lock = asyncio.Lock()
        self._degraded_since: float | None = None
        self._by_key: dict[tuple[str, str, str], VariantId] = {}
        self._by_recipient: dict[tuple[str, str], tuple[VariantId, float | None]] = {}
        self._own_files: dict[Path, int] = {}
        self._journalled = 0
        self._replay_total = ReplayOutcome()

    @property
    def is_degraded(self) -> bool:
        return self._degraded_since is not None

    def mark_degraded(self, reason: str) -> None:
        if self._degraded_since is None:
            log.warning("store unreachable (%s): serving from memory, assignments go to the journal", reason)
            self._degraded_since = time.time()

    def stats(self) -> JournalStats:
        return JournalStats(
            degraded=self.is_degraded,
            degraded_since=self._degraded_since,
            depth=sum(self._own_files.values()),
            journalled=self._journalled,
            replayed=self._replay_total.stored,
            conflicts=self._replay_total.conflicts,
            bad_lines=self._replay_total.bad_lines,
            refused=self._replay_total.refused,
        )

    async def assign_if_degraded(
        self, rows: Sequence[NewAssignment], per_recipient: Sequence[bool], *, degrade: str | None = None
    ) -> list[JournalledAssignment] | None:
        """Journal a batch and answer it, or None when the store is healthy (the caller commits it).

        `rows` carry the proposed variants; a key journalled before keeps its variant, and with
        `per_recipient` stickiness so does a new dispatch of a journalled recipient. `degrade` (the
        reason the store just failed) turns the journal degraded first, under the same lock, so that a
        replay pass finishing meanwhile cannot leave the degraded state before this batch is journalled.

        Raises:
            StoreUnavailable: the journal file cannot be written either (disk full, no permission).
        """
        async with self._lock:
            if degrade is not None:
                self.mark_degraded(degrade)
            if not self.is_degraded:
                return None
            answers, new_rows = self._answers(rows, per_recipient)
            if new_rows:
                writer = self._open_writer()
                try:
                    await anyio.to_thread.run_sync(writer.append, new_rows)
                except OSError as exc:
                    raise StoreUnavailable(f"journal: cannot append ({exc.strerror})") from exc
                self._remember(new_rows)
            return answers

    def _answers(
        self, rows: Sequence[NewAssignment], per_recipient: Sequence[bool]
    ) -> tuple[list[JournalledAssignment], list[NewAssignment]]:
        answers: list[JournalledAssignment] = []
        new_rows: list[NewAssignment] = []
        batch_keys: dict[tuple[str, str, str], VariantId] = {}
        batch_recipients: dict[tuple[str, str], tuple[VariantId, float | None]] = {}
        for row, sticky in zip(rows, per_recipient, strict=True):
            key = (row.experiment_id, row.recipient_key, row.dispatch_id)
            variant = self._by_key.get(key) or batch_keys.get(key)
            if variant is None:
                recipient = (row.experiment_id, row.recipient_key)
                first = self._by_recipient.get(recipient) or batch_recipients.get(recipient)
                choice = first if sticky and first is not None else (row.variant_id, row.propensity)
                variant = choice[0]
                batch_keys[key] = variant
                batch_recipients.setdefault(recipient, choice)
                new_rows.append(_with_choice(row, *choice))
            answers.append(JournalledAssignment(variant))
        return answers, new_rows

    def _remember(self, rows: Sequence[NewAssignment]) -> None:
        for row in rows:
            self._by_key[(row.experiment_id, row.recipient_key, row.dispatch_id)] = row.variant_id
            self._by_recipient.setdefault(
                (row.experiment_id, row.recipient_key), (row.variant_id, row.propensity)
            )
        assert self._writer is not None
        self._own_files[self._writer.path] = self._own_files.get(self._writer.path, 0) + len(rows)
        self._journalled += len(rows)

    def _open_writer(self) -> files.JournalWriter:
        if self._writer is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._sequence += 1
            name = f"{self._name_prefix}-{self._sequence:06d}{files.SUFFIX}"
            self._writer = files.JournalWriter(self.directory / name)
        return self._writer

    async def replay_loop(self, store: Store, *, interval_s: float) -> None:
        """Until cancelled: every `interval_s`, probe the store when degraded, and replay every journal
        file in the directory once the store takes writes (at start-up too: files of dead processes)."""
        while True:
            try:
                await self.replay_pass(store)
            except StoreUnavailable as exc:
                self.mark_degraded(exc.message)
            except Exception:  # the loop must outlive any one failed pass
                log.exception("journal replay pass failed")
            await asyncio.sleep(interval_s)

    async def replay_pass(self, store: Store) -> ReplayOutcome:
        """Probe (when degraded), replay everything claimable, and leave the degraded state when the
        file written since the last seal is empty.

        Raises:
            StoreUnavailable: the store is still unreachable.
        """
        if self.is_degraded:
            await anyio.to_thread.run_sync(store.check_writable)
        total = ReplayOutcome()
        for _ in range(_DRAIN_ROUNDS):  # replay while batches keep being journalled meanwhile
            async with self._lock:
                self._seal()
            outcome = await anyio.to_thread.run_sync(replay_journals, store, self.directory)
            total += outcome
            self._count(outcome)
            async with self._lock:
                if self._writer is None:
                    self._recover()
                    return total
        # Under steady traffic a new file is always open by now: replay that last (small) file with the
        # journal held, so the batches waiting on it go to the store, and the index is never left stale.
        async with self._lock:
            last = [self._writer.path] if self._writer is not None else []
            self._seal()
            outcome = await anyio.to_thread.run_sync(replay_paths, store, last)
            self._count(outcome)
            self._recover()
        return total + outcome

    def _seal(self) -> None:
        """Close the current file so it can be claimed; the next journalled batch opens a new one."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _count(self, outcome: ReplayOutcome) -> None:
        self._replay_total += outcome
        self._own_files = {p: n for p, n in self._own_files.items() if p.exists()}
        if outcome.files:
            log.info(
                "journal replayed: %d files, %d assignments stored, %d conflicts, %d bad lines",
                outcome.files,
                outcome.stored,
                outcome.conflicts,
                outcome.bad_lines,
            )

    def _recover(self) -> None:
        if self._degraded_since is not None:
            log.warning("store reachable again after %.0f s", time.time() - self._degraded_since)
        self._degraded_since = None
        self._by_key.clear()
        self._by_recipient.clear()

    async def close(self, store: Store) -> None:
        """Seal the open file and, when the store is reachable, replay it before the process exits."""
        async with self._lock:
            self._seal()
        try:
            await self.replay_pass(store)
        except StoreUnavailable as exc:
            log.warning("journal left for the next process to replay: %s", exc.message)


def _with_choice(row: NewAssignment, variant: VariantId, propensity: float | None) -> NewAssignment:
    """The row with the recipient's earlier choice (a sticky variant keeps its first propensity)."""
    if row.variant_id == variant and row.propensity == propensity:
        return row
    return dataclasses.replace(row, variant_id=variant, propensity=propensity)
