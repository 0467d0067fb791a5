"""The serving runtime of an API worker: token and experiment caches, sticky assignment, feedback."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import anyio.to_thread

from copyloom.domain import EmailEvent, Experiment, Tenant, Variant, VariantId, pseudonymise
from copyloom.errors import NotFound, StoreUnavailable, Unauthorized
from copyloom.services import feedback, tenants
from copyloom.services.assignment import AssignmentRequest, GroupCommitWriter, choose_variant
from copyloom.services.feedback import EventTally
from copyloom.services.journal import JournalStats, OutageJournal
from copyloom.services.pixel import install_pixel_secret, make_pixel_token
from copyloom.storage import experiments as experiment_repo
from copyloom.storage.db import Store

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Served:
    """The wording a recipient gets, and the pixel token of its assignment (None when not assigned)."""

    experiment: Experiment
    variant: Variant
    pixel_token: str | None


@dataclass(frozen=True, slots=True)
class _LiveEntry:
    experiment: Experiment
    weights: tuple[float, ...]
    allocated_at: float | None


class ServingRuntime:
    """Everything an API worker needs, built once at start-up.

    Tokens and experiments (with their current weights) are cached and re-read at most every
    `cache_refresh_s`, so a status change or a learner update reaches every worker within that time.
    A refresh that fails because the store is unreachable keeps the cached entry: serving goes on from
    the last known weights, and with a `journal`, assignments go to it until the store is back.
    """

    def __init__(
        self,
        store: Store,
        *,
        cache_refresh_s: float,
        group_commit_window_ms: float,
        group_commit_max_batch: int,
        cohort_width_s: int,
        clock: Clock = time.time,
        journal: OutageJournal | None = None,
        journal_after_ms: float = 1000.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.journal = journal
        self.pixel_secret = install_pixel_secret(store)
        self.writer = GroupCommitWriter(
            store,
            window_ms=group_commit_window_ms,
            max_batch=group_commit_max_batch,
            cohort_width_s=cohort_width_s,
            journal=journal,
            journal_after_ms=journal_after_ms,
        )
        self._refresh_s = cache_refresh_s
        self._tenants: dict[str, tuple[Tenant | None, float]] = {}
        self._experiments: dict[str, tuple[_LiveEntry | None, float]] = {}

    async def stop(self) -> None:
        await self.writer.stop()
        if self.journal is not None:
            await self.journal.close(self.store)

    def journal_stats(self) -> JournalStats | None:
        return None if self.journal is None else self.journal.stats()

    def health(self) -> dict[str, object]:
        """`ok`, or `degraded` with the journal's depth while the store is unreachable."""
        stats = self.journal_stats()
        if stats is None or not stats.degraded:
            return {"status": "ok"}
        return {
            "status": "degraded",
            "store": "unreachable",
            "journal_depth": stats.depth,
            "degraded_since": stats.degraded_since,
        }

    async def authenticate(self, token: str | None) -> Tenant:
        """The tenant of a bearer token. Raises Unauthorized for a missing, unknown or revoked one."""
        if not token:
            raise Unauthorized("Authorization: missing bearer token")
        cached = self._tenants.get(token)
        if cached is None or cached[1] < time.monotonic():
            try:
                tenant: Tenant | None = await anyio.to_thread.run_sync(
                    tenants.authenticate, self.store, token
                )
            except Unauthorized:
                tenant = None
            except StoreUnavailable:
                if cached is None:
                    raise
                tenant = cached[0]  # the last known answer, until the store is back
            cached = (tenant, time.monotonic() + self._refresh_s)
            self._tenants[token] = cached
        if cached[0] is None:
            raise Unauthorized("Authorization: unknown or revoked token")
        return cached[0]

    async def serve(self, tenant: Tenant, experiment_id: str, recipient: str, dispatch_id: str) -> Served:
        """The variant for a recipient: sticky, and stored before this returns when the experiment is live.

        Raises:
            NotFound: no such experiment for this tenant.
        """
        entry = await self._live_entry(experiment_id)
        if entry is None or entry.experiment.tenant_id != tenant.tenant_id:
            raise NotFound(f"experiment: no experiment '{experiment_id}'")
        experiment = entry.experiment
        if not experiment.is_live:
            return Served(experiment, experiment.fixed_variant(), None)
        recipient_key = pseudonymise(tenant.pseudonym_key, recipient, tenant.id_transform)
        salt = dispatch_id if experiment.definition.sticky == "dispatch" else ""
        proposed = choose_variant(
            experiment.variant_ids, entry.weights, experiment.experiment_id, recipient_key, salt
        )
        request = AssignmentRequest(
            tenant.tenant_id, experiment, recipient_key, dispatch_id, proposed, self.clock()
        )
        row = await self.writer.submit(request)
        # A journalled assignment has no id until replay: its email goes out without an open pixel.
        token = None if row.assignment_id is None else make_pixel_token(self.pixel_secret, row.assignment_id)
        return Served(experiment, experiment.variant(row.variant_id), token)

    def weights_age_s(self) -> dict[str, float]:
        """Seconds since the learner computed the served weights, per live experiment in this cache."""
        now = self.clock()
        return {
            experiment_id: now - entry.allocated_at
            for experiment_id, (entry, _expires) in self._experiments.items()
            if entry is not None and entry.experiment.is_live and entry.allocated_at is not None
        }

    async def serve_fixed(self, tenant: Tenant, experiment_id: str) -> Served:
        """The control (or the winner) without an assignment: the answer when the budget runs out."""
        entry = await self._live_entry(experiment_id)
        if entry is None or entry.experiment.tenant_id != tenant.tenant_id:
            raise NotFound(f"experiment: no experiment '{experiment_id}'")
        return Served(entry.experiment, entry.experiment.fixed_variant(), None)

    async def record_events(self, tenant: Tenant, events: Sequence[EmailEvent]) -> EventTally:
        return await anyio.to_thread.run_sync(
            feedback.record_events, self.store, tenant, events, self.clock()
        )

    async def record_open(self, token: str) -> bool:
        return await anyio.to_thread.run_sync(
            feedback.record_pixel_open, self.store, self.pixel_secret, token, self.clock()
        )

    async def _live_entry(self, experiment_id: str) -> _LiveEntry | None:
        cached = self._experiments.get(experiment_id)
        if cached is None or cached[1] < time.monotonic():
            try:
                entry = await anyio.to_thread.run_sync(self._load_entry, experiment_id)
            except StoreUnavailable:
                if cached is None:
                    raise
                entry = cached[0]  # the last known experiment and weights, until the store is back
            cached = (entry, time.monotonic() + self._refresh_s)
            self._experiments[experiment_id] = cached
        return cached[0]

    def _load_entry(self, experiment_id: str) -> _LiveEntry | None:
        with self.store.read() as conn:
            experiment = experiment_repo.load_experiment(conn, experiment_id)
            if experiment is None:
                return None
            allocation = experiment_repo.latest_allocations(conn, [experiment_id]).get(experiment_id)
        return _LiveEntry(
            experiment,
            _weights(experiment.variant_ids, allocation.weights if allocation else None),
            allocation.computed_at if allocation else None,
        )


def _weights(variant_ids: Sequence[VariantId], stored: Mapping[str, float] | None) -> tuple[float, ...]:
    if not stored:
        return tuple(1.0 for _ in variant_ids)
    return tuple(max(0.0, float(stored.get(v, 0.0))) for v in variant_ids)
