"""The serving runtime of an API worker: token and experiment caches, sticky assignment, feedback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread

from copyloom.domain.events import EmailEvent
from copyloom.domain.pseudonyms import pseudonymiser
from copyloom.domain.values import (
    PLACEHOLDER_DISPATCH_IDS,
    Credential,
    Experiment,
    IdTransform,
    RecipientKey,
    SegmentId,
    Status,
    Tenant,
    TokenScope,
    Variant,
    VariantId,
)
from copyloom.errors import CopyloomError, InvalidInput, NotFound, Unauthorized
from copyloom.services import feedback, tenants
from copyloom.services.assignment import (
    AssignmentRequest,
    GroupCommitWriter,
    choose_from_cumulative,
    propensity_of,
)
from copyloom.services.expiring import ExpiringKeys
from copyloom.services.feedback import EventTally
from copyloom.services.journal import JournalStats, OutageJournal
from copyloom.services.live_entries import LiveEntry, call_segment, live_entry
from copyloom.services.pixel import install_pixel_secret, pixel_signer
from copyloom.services.recent import RecentAnswer, RecentAssignments
from copyloom.storage import experiments as experiment_repo
from copyloom.storage.db import Store

Clock = Callable[[], float]
ASSIGNING: frozenset[Status] = frozenset({"live", "finished"})
"""Statuses whose answers are assigned and stored: a finished experiment's sends of the variant it
serves are stored like live ones, so their pixel opens and clicks keep counting. A draft or paused one
serves the control without assignment."""
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Served:
    """The wording a recipient gets, and the pixel token of its assignment (None when not assigned)."""

    experiment: Experiment
    variant: Variant
    pixel_token: str | None


@dataclass(frozen=True, slots=True)
class RefreshStats:
    """How the cache refresher fares: failures since start, seconds since the last refresh that worked
    (or since start), and the reason of the last attempt when it failed (None when it worked)."""

    failures: int
    age_s: float
    failing: str | None


class ServingRuntime:
    """Everything an API worker needs, built once at start-up.

    Tokens and experiments (with their current weights) live in memory. Once `start` has run, a
    background task re-reads every one of them from the store each `cache_refresh_s`, so a status
    change, a revoked token or a learner update reaches every worker within that time while requests
    read only memory; the store is read on the request path only for a token or experiment this
    worker has not seen yet. Repeat requests are answered from `RecentAssignments`. A refresh that
    fails because the store is unreachable keeps what is cached: serving goes on from the last known
    weights, and with a `journal`, assignments go to it until the store is back; `health` then says
    `degraded` and `refresh_stats` counts the failures.

    Unknown tokens and experiment ids are remembered as unknown for `cache_refresh_s` each, at most
    `unknown_ids_remembered` of each kind (the oldest forgotten first): repeats need no store read, the
    refresher never re-reads them, and no client can grow the worker's memory by making ids up.
    """

    def __init__(
        self,
        store: Store,
        *,
        cache_refresh_s: float,
        group_commit_window_ms: float,
        group_commit_max_batch: int,
        cohort_width_s: int,
        recent_assignments_per_experiment: int,
        journal_after_ms: float,
        unknown_ids_remembered: int,
        clock: Clock = time.time,
        journal: OutageJournal | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.journal = journal
        self.pixel_secret = install_pixel_secret(store)
        self._sign_pixel = pixel_signer(self.pixel_secret)
        self.writer = GroupCommitWriter(
            store,
            window_ms=group_commit_window_ms,
            max_batch=group_commit_max_batch,
            cohort_width_s=cohort_width_s,
            journal=journal,
            journal_after_ms=journal_after_ms,
        )
        self.recent = RecentAssignments(recent_assignments_per_experiment)
        self._refresh_s = cache_refresh_s
        self._tenants: dict[str, Credential] = {}
        self.unknown_tokens = ExpiringKeys(unknown_ids_remembered, cache_refresh_s)
        self.unknown_experiments = ExpiringKeys(unknown_ids_remembered, cache_refresh_s)
        self._experiments: dict[str, LiveEntry] = {}
        self._refreshed_at = time.monotonic()
        self._refresh_failures = 0
        self._refresh_failing: str | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._in_flight: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._pseudonymisers: dict[tuple[bytes, IdTransform], Callable[[str], RecipientKey]] = {}
        self.on_refused: Callable[[str, int], None] = lambda _path, _rows: None
        self.attribution_window_s: float | None = None  # reports' mature cut-off; None: the delay model's
        self.on_other_source: Callable[[], None] = lambda: None
        """Called for a content call from a campaign or Canvas step its experiment does not name."""
        """Told of rows the store refused for what they hold, by path (`assignment`, `events`, `journal`)."""
        self.writer.on_refused = lambda: self.on_refused("assignment", 1)

    def start(self) -> None:
        """Start the group-commit writer and the cache refresher (on the running event loop)."""
        self.writer.start()
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop(), name="cache-refresh")

    async def stop(self) -> None:
        if self._refresher is not None:
            # Not cancelled: a cancelled task would leave its store read running on in a thread,
            # holding a connection past the store's disposal. It stops at its next wake-up instead.
            self._stopping.set()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None
        await self.writer.stop()
        if self.journal is not None:
            await self.journal.close(self.store)

    def journal_stats(self) -> JournalStats | None:
        return None if self.journal is None else self.journal.stats()

    def cache_sizes(self) -> dict[str, int]:
        """Entries in each of this worker's in-memory maps that requests fill, for tests and operators."""
        return {
            "tenants": len(self._tenants),
            "unknown_tokens": len(self.unknown_tokens),
            "experiments": len(self._experiments),
            "unknown_experiments": len(self.unknown_experiments),
            "pseudonymisers": len(self._pseudonymisers),
            "in_flight": len(self._in_flight),
        }

    def refresh_stats(self) -> RefreshStats:
        return RefreshStats(
            self._refresh_failures, time.monotonic() - self._refreshed_at, self._refresh_failing
        )

    def health(self) -> dict[str, object]:
        """`ok`, or `degraded` with the reasons: the store is unreachable (with the journal's depth), or
        the last cache refresh failed (with its reason and the seconds since one worked)."""
        health: dict[str, object] = {"status": "ok"}
        stats = self.journal_stats()
        if stats is not None and stats.degraded:
            health.update(
                status="degraded",
                store="unreachable",
                journal_depth=stats.depth,
                degraded_since=stats.degraded_since,
            )
        refresh = self.refresh_stats()
        if refresh.failing is not None:
            health.update(status="degraded", cache_refresh=refresh.failing, cache_age_s=refresh.age_s)
        return health

    async def authenticate(self, token: str | None, scope: TokenScope = "serving") -> Tenant:
        """The tenant of a bearer token of `scope`, its scope checked in memory like the token itself.

        Raises:
            Unauthorized: a missing, unknown or revoked token.
            Forbidden: a token of the other scope (a management token on content, or the reverse).
        """
        if not token:
            raise Unauthorized("Authorization: missing bearer token")
        credential = self._tenants.get(token)
        if credential is None:
            if token in self.unknown_tokens:
                raise Unauthorized("Authorization: unknown or revoked token")
            try:
                credential = await self._single_flight(
                    ("token", token),
                    lambda: anyio.to_thread.run_sync(tenants.credential_of, self.store, token),
                )
            except Unauthorized:
                self.unknown_tokens.add(token)
                raise
            self._tenants[token] = credential
        return tenants.tenant_in_scope(credential, scope)

    async def serve(
        self,
        tenant: Tenant,
        experiment_id: str,
        recipient: str,
        dispatch_id: str,
        deadline: float | None = None,
        *,
        source: str = "",
        context: Mapping[str, str] | None = None,
    ) -> Served:
        """The variant for a recipient: sticky, and stored before this returns when the experiment is live
        or finished (a finished one stores the variant it serves, so that its opens and clicks count).

        `source` is the Braze campaign or Canvas step of the call ("" when the snippet sends none): a call
        from one the experiment does not name gets the control (or the winner), unassigned, like a preview.

        `context` holds the raw values of the call's `ctx_<name>` parameters, by field name: they are
        mapped to the recipient's segment here (`domain.context.segment_of`) and dropped; a call without
        them goes to the all-`unknown` segment. The draw uses the segment's weights.

        A (recipient, dispatch) this worker answered recently is answered from memory; a new one waits
        for the group commit that stores it.

        Raises:
            NotFound: no such experiment for this tenant.
            InvalidInput: a context field the experiment does not declare (named, never its value).
            TimeoutError: no answer by `deadline` (event-loop time), counting a first read of the
                experiment and the commit; no assignment is promised then.
        """
        entry = self._experiments.get(experiment_id)
        if entry is None:
            async with asyncio.timeout_at(deadline):
                entry = await self._load_missing(experiment_id)
        if entry is None or entry.experiment.tenant_id != tenant.tenant_id:
            raise NotFound(f"experiment: no experiment '{experiment_id}'")
        experiment = entry.experiment
        segment = call_segment(experiment, context or {})
        # Braze's previews and test sends: no recipient's real email, so nothing is assigned or counted.
        if experiment.status not in ASSIGNING or dispatch_id in PLACEHOLDER_DISPATCH_IDS:
            return Served(experiment, experiment.fixed_variant(), None)
        if not experiment.definition.serves_in(source):
            self.on_other_source()
            return Served(experiment, experiment.fixed_variant(), None)
        recipient_key = self._pseudonymiser(tenant)(recipient)
        recent = self.recent.get(experiment_id, recipient_key, dispatch_id)
        if recent is not None:
            return Served(experiment, entry.variants[recent.variant_id], recent.pixel_token)
        proposed, propensity = self._proposed(entry, recipient_key, dispatch_id, segment)
        request = AssignmentRequest(
            tenant.tenant_id,
            experiment,
            recipient_key,
            dispatch_id,
            proposed,
            self.clock(),
            source,
            segment,
            propensity,
        )
        row = await self.writer.submit(request, deadline)
        # A journalled assignment has no id until replay: its email goes out without an open pixel.
        if row.assignment_id is None:
            return Served(experiment, entry.variants[row.variant_id], None)
        token = self._sign_pixel(row.assignment_id)
        self.recent.put(experiment_id, recipient_key, dispatch_id, RecentAnswer(row.variant_id, token))
        return Served(experiment, entry.variants[row.variant_id], token)

    @staticmethod
    def _proposed(
        entry: LiveEntry, recipient_key: RecipientKey, dispatch_id: str, segment: SegmentId
    ) -> tuple[VariantId, float]:
        """A live experiment's draw on its segment's weights, with the probability of what it drew; a
        finished one's chosen variant, with probability 1."""
        experiment = entry.experiment
        if not experiment.is_live:
            return experiment.fixed_variant().variant_id, 1.0
        salt = dispatch_id if experiment.definition.sticky == "dispatch" else ""
        weights = entry.weights_for(segment)
        variant = choose_from_cumulative(
            entry.variant_ids, weights.cumulative, experiment.experiment_id, recipient_key, salt
        )
        return variant, propensity_of(entry.variant_ids, weights.weights, variant)

    def _pseudonymiser(self, tenant: Tenant) -> Callable[[str], RecipientKey]:
        """The tenant's keyed HMAC, set up once per key and transform rather than once per request."""
        settings = (tenant.pseudonym_key, tenant.id_transform)
        found = self._pseudonymisers.get(settings)
        if found is None:
            found = self._pseudonymisers[settings] = pseudonymiser(*settings)
        return found

    def health_counts(self) -> dict[tuple[str, str], int]:
        """Live experiments in this worker's cache by (health check, verdict) of their latest look."""
        live = (entry for entry in self._experiments.values() if entry.experiment.is_live)
        return dict(Counter(key for entry in live for key in entry.checks))

    def weights_age_s(self) -> dict[str, float]:
        """Seconds since the learner computed the served weights, per live experiment in this cache."""
        now = self.clock()
        return {
            experiment_id: now - entry.allocated_at
            for experiment_id, entry in self._experiments.items()
            if entry.experiment.is_live and entry.allocated_at is not None
        }

    async def serve_fixed(self, tenant: Tenant, experiment_id: str) -> Served:
        """The control (or the winner) without an assignment: the answer when the budget runs out."""
        entry = self._experiments.get(experiment_id) or await self._load_missing(experiment_id)
        if entry is None or entry.experiment.tenant_id != tenant.tenant_id:
            raise NotFound(f"experiment: no experiment '{experiment_id}'")
        return Served(entry.experiment, entry.experiment.fixed_variant(), None)

    async def record_events(self, tenant: Tenant, events: Sequence[EmailEvent]) -> EventTally:
        """Count a batch of one tenant's events in one transaction.

        Raises:
            InvalidInput: the store refused events of the batch (nothing is counted); the first is named.
        """
        try:
            return await anyio.to_thread.run_sync(
                feedback.record_events, self.store, tenant, events, self.clock()
            )
        except feedback.EventsRefused as exc:
            log.error("events: the store refused %d of a batch of %d", len(exc.positions), len(events))
            self.on_refused("events", len(exc.positions))
            where = f"events[{exc.positions[0]}]" if exc.positions else "events"
            raise InvalidInput(f"{where}: refused by the store; the batch was not counted") from None

    async def record_open(self, token: str) -> bool:
        return await anyio.to_thread.run_sync(
            feedback.record_pixel_open, self.store, self.pixel_secret, token, self.clock()
        )

    async def _load_missing(self, experiment_id: str) -> LiveEntry | None:
        """Read an experiment this worker has not served yet (later reads come from the refresher); None
        for an unknown one, remembered as unknown for a while."""
        if experiment_id in self._experiments:
            return self._experiments[experiment_id]
        if experiment_id in self.unknown_experiments:
            return None
        entries = await self._single_flight(
            ("experiment", experiment_id),
            lambda: anyio.to_thread.run_sync(self._load_entries, [experiment_id]),
        )
        entry: LiveEntry | None = entries[experiment_id]
        if entry is None:
            self.unknown_experiments.add(experiment_id)
        else:
            self._experiments[experiment_id] = entry
        return entry

    async def _single_flight(self, key: tuple[str, str], load: Callable[[], Awaitable[T]]) -> T:
        """One store read for many concurrent first requests for the same key, all sharing its result.

        Shielded: a request that times out stops waiting without cancelling the read for the others.
        """
        pending = self._in_flight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(load())
            self._in_flight[key] = pending
            pending.add_done_callback(lambda _done: self._in_flight.pop(key, None))
        result: T = await asyncio.shield(pending)
        return result

    async def _refresh_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._refresh_s):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            try:
                await self.refresh()
            # Whatever the failure (the store is down, a statement it refuses), the refresher must live
            # on: keep serving what we have, say so in /healthz and /metrics, and try again.
            except Exception as exc:
                self._refresh_failures += 1
                self._refresh_failing = exc.code if isinstance(exc, CopyloomError) else type(exc).__name__
                log.warning("cache refresh failed: %s", self._refresh_failing)
            else:
                self._refreshed_at = time.monotonic()
                self._refresh_failing = None

    async def refresh(self) -> None:
        """Re-read every cached experiment, its weights and every known token from the store."""
        entries = await anyio.to_thread.run_sync(self._load_entries, list(self._experiments))
        for experiment_id, entry in entries.items():
            cached = self._experiments.get(experiment_id)
            if entry is None or cached is None or entry.experiment.status != cached.experiment.status:
                self.recent.forget(experiment_id)
            if entry is None:
                self._experiments.pop(experiment_id, None)
            else:
                self._experiments[experiment_id] = entry
        tokens = list(self._tenants)
        found = await anyio.to_thread.run_sync(tenants.credentials_of_tokens, self.store, tokens)
        for token in tokens:
            if token in found:
                self._tenants[token] = found[token]
            else:
                self._tenants.pop(token, None)

    def _load_entries(self, experiment_ids: Sequence[str]) -> dict[str, LiveEntry | None]:
        with self.store.read() as conn:
            found: dict[str, Experiment] = {
                e.experiment_id: e for e in experiment_repo.experiments_by_ids(conn, experiment_ids)
            }
            allocations = experiment_repo.latest_allocations(conn, list(found))
        entries: dict[str, LiveEntry | None] = {}
        for experiment_id in experiment_ids:
            experiment = found.get(experiment_id)
            if experiment is None:
                entries[experiment_id] = None
                continue
            entries[experiment_id] = live_entry(experiment, allocations.get(experiment_id))
        return entries
