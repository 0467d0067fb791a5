"""Sticky assignment of recipients to variants, written with group commit.

A new recipient gets a variant by a deterministic draw on the current weights, keyed by the experiment
and the recipient (and the dispatch, for per-dispatch stickiness), so two API workers that see the
first call for the same recipient at once almost always agree; when they do not, the store's unique
key on (experiment, recipient, dispatch) decides and both answer with the stored row.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import heapq
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import anyio.to_thread

from copyloom.domain.values import Experiment, RecipientKey, SegmentId, TenantId, VariantId
from copyloom.errors import StoreUnavailable
from copyloom.services.journal import JournalledAssignment, OutageJournal
from copyloom.storage import assignments as repo
from copyloom.storage.assignments import AssignmentRow, NewAssignment
from copyloom.storage.db import Store

log = logging.getLogger(__name__)


def choose_variant(
    variant_ids: Sequence[VariantId],
    weights: Sequence[float],
    experiment_id: str,
    recipient_key: str,
    salt: str = "",
) -> VariantId:
    """The variant a new recipient gets: a deterministic draw from `weights`.

    The draw is uniform on [0, 1) from the first 8 bytes of SHA-256(experiment | recipient | salt), so it
    is the same in every process given the same weights.
    """
    return choose_from_cumulative(
        variant_ids, cumulative_weights(weights), experiment_id, recipient_key, salt
    )


def cumulative_weights(weights: Sequence[float]) -> tuple[float, ...]:
    """Running totals of `weights`, computed once per weights update for `choose_from_cumulative`."""
    return tuple(itertools.accumulate(weights))


def choose_from_cumulative(
    variant_ids: Sequence[VariantId],
    cumulative: Sequence[float],
    experiment_id: str,
    recipient_key: str,
    salt: str = "",
) -> VariantId:
    """`choose_variant` given the running totals of the weights: one hash and one bisection."""
    digest = hashlib.sha256(f"{experiment_id}|{recipient_key}|{salt}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    index = bisect.bisect_right(cumulative, u * cumulative[-1])
    return variant_ids[min(index, len(variant_ids) - 1)]


def served_weights(experiment: Experiment, stored: Mapping[str, float] | None) -> tuple[float, ...]:
    """The served weight of each variant: the learner's, or even before it ran (or when the stored ones
    leave every live variant at zero); none for a retired one."""
    variants = experiment.definition.variants
    weights = tuple(
        max(0.0, float(stored.get(v.variant_id, 0.0))) if stored and v.is_active else 0.0 for v in variants
    )
    if sum(weights) > 0:
        return weights
    return tuple(1.0 if v.is_active else 0.0 for v in variants)


def cohort_start(assigned_at: float, width_s: int) -> int:
    return int(assigned_at // width_s) * width_s


@dataclass(frozen=True, slots=True)
class AssignmentRequest:
    tenant_id: TenantId
    experiment: Experiment
    recipient_key: RecipientKey
    dispatch_id: str
    proposed: VariantId
    requested_at: float
    source_id: str = ""
    """The Braze campaign or Canvas step the content call came from ("" when it named none)."""
    segment: SegmentId = ""
    """The recipient's segment (`domain.context`), "" without context: only the segment is kept."""
    propensity: float | None = None
    """The probability `proposed` was chosen with (its share of the segment's weights in force)."""


def propensity_of(variant_ids: Sequence[VariantId], weights: Sequence[float], variant: VariantId) -> float:
    """The probability a draw on `weights` gives `variant`: its weight over their sum."""
    total = sum(weights)
    return weights[variant_ids.index(variant)] / total if total > 0 else 0.0


Assigned = AssignmentRow | JournalledAssignment

_SHORT_WAIT_MIN_BATCH = 8
"""From this batch size up, the next batch stops waiting once as many requests are queued."""


@dataclass(slots=True)
class _Pending:
    request: AssignmentRequest
    future: asyncio.Future[Assigned] = field(repr=False)


def assign_batch(
    store: Store, requests: Sequence[AssignmentRequest], cohort_width_s: int
) -> list[AssignmentRow]:
    """Get or create the assignment of every request in one transaction; results in request order.

    Per experiment: one read of the recipients' rows and one INSERT … RETURNING of the new ones; only
    rows that another worker inserted in between (a lost race on PostgreSQL) are read again.
    """
    stored: dict[tuple[str, str, str], AssignmentRow] = {}
    with store.write() as conn:
        by_experiment: dict[str, list[AssignmentRequest]] = {}
        for r in requests:
            by_experiment.setdefault(r.experiment.experiment_id, []).append(r)
        for experiment_id, group in sorted(by_experiment.items()):  # one lock order for every worker
            existing = repo.assignments_of_recipients(conn, experiment_id, [r.recipient_key for r in group])
            new_rows = _missing_rows(group, existing, cohort_width_s)
            inserted = repo.insert_assignments(conn, new_rows)
            for row in (*existing, *inserted):
                stored[(row.experiment_id, row.recipient_key, row.dispatch_id)] = row
            lost = [
                n.recipient_key
                for n in new_rows
                if (experiment_id, n.recipient_key, n.dispatch_id) not in stored
            ]
            for row in repo.assignments_of_recipients(conn, experiment_id, lost):
                stored[(row.experiment_id, row.recipient_key, row.dispatch_id)] = row
    return [stored[(r.experiment.experiment_id, r.recipient_key, r.dispatch_id)] for r in requests]


def _missing_rows(
    group: Sequence[AssignmentRequest], existing: Sequence[AssignmentRow], cohort_width_s: int
) -> list[NewAssignment]:
    have = {(row.recipient_key, row.dispatch_id) for row in existing}
    # Per-recipient stickiness: a new dispatch of a known recipient keeps the first variant it got, and
    # the probability that variant was chosen with then.
    first_choice: dict[str, tuple[VariantId, float | None]] = {}
    for row in sorted(existing, key=lambda r: (r.assigned_at, r.assignment_id)):
        first_choice.setdefault(row.recipient_key, (row.variant_id, row.propensity))
    rows: list[NewAssignment] = []
    for r in group:
        key = (r.recipient_key, r.dispatch_id)
        if key in have:
            continue
        have.add(key)
        proposed = (r.proposed, r.propensity)
        choice = first_choice.get(r.recipient_key, proposed) if keeps_first_variant(r) else proposed
        first_choice.setdefault(r.recipient_key, choice)
        rows.append(_new_row(r, cohort_width_s, *choice))
    return rows


def keeps_first_variant(r: AssignmentRequest) -> bool:
    """Whether a new dispatch of a known recipient keeps the recipient's first variant: with per-recipient
    stickiness while live; a finished experiment gives every new dispatch the variant it serves."""
    return r.experiment.definition.sticky == "recipient" and r.experiment.is_live


def _new_row(
    r: AssignmentRequest, cohort_width_s: int, variant: VariantId, propensity: float | None
) -> NewAssignment:
    return NewAssignment(
        tenant_id=r.tenant_id,
        experiment_id=r.experiment.experiment_id,
        recipient_key=r.recipient_key,
        dispatch_id=r.dispatch_id,
        variant_id=variant,
        assigned_at=r.requested_at,
        cohort_s=cohort_start(r.requested_at, cohort_width_s),
        source_id=r.source_id,
        segment=r.segment,
        propensity=propensity,
    )


class GroupCommitWriter:
    """Collects concurrent assignment requests and commits them together.

    Each `submit` waits until the transaction holding its row has committed, so an answered assignment
    is always durable. While one batch commits, the next one fills: under load, batches grow by
    themselves; `window_ms` adds a short wait so that light traffic also shares transactions, cut short
    once as many requests wait as the last batch had.

    With a `journal`, a batch whose commit fails because the store is unreachable, or takes longer than
    `journal_after_ms`, is appended to the journal (fsynced) and answered from it; while the journal
    is degraded, batches go to it directly.
    """

    def __init__(
        self,
        store: Store,
        *,
        window_ms: float,
        max_batch: int,
        cohort_width_s: int,
        journal: OutageJournal | None = None,
        journal_after_ms: float,
    ) -> None:
        self._store = store
        self._journal = journal
        self._journal_after_s = journal_after_ms / 1000
        self._window_s = window_ms / 1000
        self._max_batch = max_batch
        self._cohort_width_s = cohort_width_s
        self._queue: asyncio.Queue[_Pending] | None = None
        self._enough = asyncio.Event()  # set when `_wanted` requests are queued
        self._wanted = 1
        self._last_batch = 1
        self._task: asyncio.Task[None] | None = None
        self._deadlines: list[tuple[float, int, asyncio.Future[Assigned]]] = []
        self._sequence = itertools.count()  # ties between equal deadlines: futures do not compare
        self._expiry: asyncio.TimerHandle | None = None
        self.batches = 0
        self.rows = 0
        self.on_batch: Callable[[int], None] | None = None
        self.rows_refused = 0
        self.on_refused: Callable[[], None] | None = None

    async def submit(self, request: AssignmentRequest, deadline: float | None = None) -> Assigned:
        """The stored (or journalled) assignment of `request`, once committed.

        Raises:
            TimeoutError: not committed by `deadline` (event-loop time); the commit may still store it.
        """
        if self._queue is None:
            self.start()
        assert self._queue is not None
        future: asyncio.Future[Assigned] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(request, future))
        if self._queue.qsize() >= self._wanted:
            self._enough.set()
        if deadline is not None:
            self._expire_at(deadline, future)
        return await future

    def _expire_at(self, deadline: float, future: asyncio.Future[Assigned]) -> None:
        """Fail `future` with TimeoutError at `deadline` unless answered by then: one timer for all waiting
        requests (a heap of deadlines), cheaper per request than an `asyncio.timeout` each."""
        heapq.heappush(self._deadlines, (deadline, next(self._sequence), future))
        if self._expiry is None or deadline < self._expiry.when():
            if self._expiry is not None:
                self._expiry.cancel()
            self._expiry = asyncio.get_running_loop().call_at(deadline, self._expire)

    def _expire(self) -> None:
        now = asyncio.get_running_loop().time()
        while self._deadlines and (self._deadlines[0][0] <= now or self._deadlines[0][2].done()):
            _deadline, _sequence, future = heapq.heappop(self._deadlines)
            if not future.done():
                future.set_exception(TimeoutError())
        self._expiry = None
        if self._deadlines:
            self._expiry = asyncio.get_running_loop().call_at(self._deadlines[0][0], self._expire)

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            if self._window_s > 0:
                await self._gather(len(batch))
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._last_batch = len(batch)
            await self._commit(batch)

    async def _gather(self, have: int) -> None:
        """Wait up to the window for company; after a large batch, no longer than it takes for as many
        requests as it had: under load, clients that send again once answered come back within a
        fraction of the window, and waiting out the rest would only add to every answer. After a small
        batch the whole window is waited: cutting it short then only makes more, smaller transactions,
        which on SQLite with several worker processes queue on its one writer lock."""
        assert self._queue is not None
        if self._last_batch >= _SHORT_WAIT_MIN_BATCH:
            self._wanted = max(1, self._last_batch - have)
        else:
            self._wanted = self._max_batch
        if self._queue.qsize() >= self._wanted:
            return
        self._enough.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._enough.wait(), self._window_s)

    async def _commit(self, batch: list[_Pending]) -> None:
        batch = [p for p in batch if not p.future.done()]  # a request past its budget was answered already
        if not batch:
            return
        requests = [p.request for p in batch]
        try:
            if await self._answer_from_journal(batch):
                return
            rows = await self._store_batch(requests)
        except StoreUnavailable as exc:
            if self._journal is None:
                log.error("group commit of %d assignments failed: %s", len(batch), exc.message)
                self._fail(batch, exc)
                return
            # Only the requests still waiting are journalled: the others were answered with the control.
            await self._answer_from_journal([p for p in batch if not p.future.done()], degrade=exc.message)
            return
        except Exception as exc:  # the store refused a row (or a bug): find it, answer the others
            await self._isolate(batch, exc)
            return
        self.batches += 1
        self.rows += len(batch)
        if self.on_batch is not None:
            self.on_batch(len(batch))
        for p, row in zip(batch, rows, strict=True):
            if not p.future.done():
                p.future.set_result(row)

    async def _isolate(self, batch: list[_Pending], exc: Exception) -> None:
        """A batch the store refused for what it holds, not for an outage (a `DataError`, an encoding
        error): committed again in halves, down to single rows, so that only the request whose row is
        refused fails (500) and every other request in the batch, whichever tenant sent it, is answered.
        A batch of n rows with one bad row takes at most 2 log2(n) further commits."""
        if len(batch) > 1:
            middle = len(batch) // 2
            await self._commit(batch[:middle])
            await self._commit(batch[middle:])
            return
        log.error("group commit: the store refused an assignment row (%s)", type(exc).__name__)
        self.rows_refused += 1
        if self.on_refused is not None:
            self.on_refused()
        self._fail(batch, exc)

    async def _store_batch(self, requests: list[AssignmentRequest]) -> list[AssignmentRow]:
        if self._journal is None:
            return await anyio.to_thread.run_sync(assign_batch, self._store, requests, self._cohort_width_s)
        try:
            # A commit stuck on a hung server or a held lock is abandoned (its thread may still commit
            # later: replay then finds the same row), and the batch is journalled within the budget.
            return await asyncio.wait_for(
                anyio.to_thread.run_sync(
                    assign_batch, self._store, requests, self._cohort_width_s, abandon_on_cancel=True
                ),
                timeout=self._journal_after_s,
            )
        except TimeoutError:
            raise StoreUnavailable(f"store: no commit within {self._journal_after_s * 1000:.0f} ms") from None

    async def _answer_from_journal(self, batch: list[_Pending], degrade: str | None = None) -> bool:
        """Journal and answer the batch when degraded (or turning degraded for the reason `degrade`);
        False when the store should take it."""
        if self._journal is None or (degrade is None and not self._journal.is_degraded):
            return False  # the common case, decided without building the journal's rows
        requests = [p.request for p in batch]
        try:
            answers = await self._journal.assign_if_degraded(
                [_new_row(r, self._cohort_width_s, r.proposed, r.propensity) for r in requests],
                [keeps_first_variant(r) for r in requests],
                degrade=degrade,
            )
        except StoreUnavailable as exc:
            log.error("journal append of %d assignments failed: %s", len(batch), exc.message)
            self._fail(batch, exc)
            return True
        if answers is None:
            return False
        for p, answer in zip(batch, answers, strict=True):
            if not p.future.done():
                p.future.set_result(answer)
        return True

    def _fail(self, batch: list[_Pending], exc: Exception) -> None:
        for p in batch:
            if not p.future.done():
                p.future.set_exception(exc)
