"""Ingesting Braze Currents files from S3 or a folder: each file exactly once, bad files quarantined.

A file's events and the record that the file is done commit in one transaction, so a crash at any
moment leaves either all of a file counted or none of it; a re-listed file is skipped. On PostgreSQL a
transaction-scoped advisory lock per file lets several workers share one source without waiting on or
double-counting each other's files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.engine import Connection

from copyloom.domain.logsafe import log_safe
from copyloom.domain.pseudonyms import pseudonymiser
from copyloom.domain.values import Tenant, TenantId
from copyloom.errors import CorruptFile, NotFound
from copyloom.ingest.currents_avro import read_currents_file
from copyloom.ingest.decoder_process import DecoderProcess
from copyloom.ingest.sources import Source, SourceObject, open_source
from copyloom.services.feedback import EventTally, count_events
from copyloom.storage import events as event_repo
from copyloom.storage import ingestion as repo
from copyloom.storage import tenants as tenant_repo
from copyloom.storage.db import Store
from copyloom.storage.ingestion import FileRecord, StoredSource

log = logging.getLogger(__name__)

FileStatus = Literal["done", "quarantined", "skipped"]

CHILD_DECODE_MIN_BYTES = 1 << 20
"""Files from this size up are decoded by a child process while the ingester counts (`DecoderProcess`):
a file of 1 MiB holds about 10,000 events. Smaller ones are decoded in process, so that a run of only
small files never starts one."""


@dataclass(frozen=True, slots=True)
class FileOutcome:
    key: str
    status: FileStatus
    size_bytes: int
    tally: EventTally = field(default_factory=EventTally)
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class QuarantinedFile:
    source_uri: str
    key: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class UnattributedCount:
    """Counted events (Click, Open, Send…) of one campaign or Canvas step and kind that matched no
    assignment, from Currents files and /v1/events posts alike."""

    source_id: str  # the Canvas step id, else the campaign id, else "" (the event named neither)
    kind: str
    events: int


@dataclass(frozen=True, slots=True)
class IngestStatus:
    """`unattributed` counts the Currents files' events; `unattributed_by_source` also counts the events
    posted to /v1/events, per campaign or Canvas step and event kind, most first."""

    files: int
    events: int
    accepted: int
    duplicates: int
    ignored: int
    unattributed: int
    quarantined: tuple[QuarantinedFile, ...]
    newest_event_s: int | None
    source: StoredSource | None
    unattributed_by_source: tuple[UnattributedCount, ...] = ()


def pending_objects(store: Store, tenant: Tenant, source: Source) -> list[SourceObject]:
    """Every object under the source not yet done or quarantined, in listing order."""
    with store.read() as conn:
        known = repo.known_keys(conn, tenant.tenant_id, source.uri)
    return [obj for obj in source.list_objects() if obj.key not in known]


def ingest_objects(
    store: Store,
    tenant: Tenant,
    source: Source,
    objects: Sequence[SourceObject],
    clock: Callable[[], float],
    *,
    on_file: Callable[[FileOutcome], None] | None = None,
    chunk_events: int = 5000,
    child_decode_min_bytes: int = CHILD_DECODE_MIN_BYTES,
) -> list[FileOutcome]:
    """Ingest the objects one file at a time; a bad file is quarantined and the others go on."""
    outcomes = []
    with DecoderProcess(tenant.pseudonym_key) as decoder:  # started at the first file big enough
        for obj in objects:
            outcome = ingest_file(
                store,
                tenant,
                source,
                obj,
                clock(),
                chunk_events=chunk_events,
                decoder=decoder if obj.size_bytes >= child_decode_min_bytes else None,
            )
            outcomes.append(outcome)
            if on_file is not None:
                on_file(outcome)
    return outcomes


def ingest_file(
    store: Store,
    tenant: Tenant,
    source: Source,
    obj: SourceObject,
    now: float,
    *,
    chunk_events: int = 5000,
    decoder: DecoderProcess | None = None,
) -> FileOutcome:
    """Count one Currents file in one transaction, or quarantine it with its reason.

    With a `decoder`, the file is decoded by its child process while this one counts; without, here.
    """
    try:
        with store.bulk_write() as conn:
            if not repo.try_lock_file(conn, tenant.tenant_id, source.uri, obj.key):
                return FileOutcome(obj.key, "skipped", obj.size_bytes, reason="another worker has it")
            if repo.is_known(conn, tenant.tenant_id, source.uri, obj.key):
                return FileOutcome(obj.key, "skipped", obj.size_bytes, reason="already ingested")
            tally = EventTally()
            with source.open(obj.key) as stream:
                if decoder is not None:
                    chunks = decoder.read(stream, obj.key, chunk_events=chunk_events)
                else:
                    chunks = read_currents_file(
                        stream, obj.key, pseudonymiser(tenant.pseudonym_key), chunk_events=chunk_events
                    )
                with closing(chunks):
                    for chunk in chunks:
                        tally += count_events(conn, tenant, chunk, now)
            repo.record_file(conn, tenant.tenant_id, source.uri, _record(obj, "done", tally, None, now))
    except CorruptFile as exc:
        return _quarantine(store, tenant, source, obj, reason=exc.message, now=now)
    return FileOutcome(obj.key, "done", obj.size_bytes, tally)


def _quarantine(
    store: Store, tenant: Tenant, source: Source, obj: SourceObject, *, reason: str, now: float
) -> FileOutcome:
    log.warning("quarantined %s: %s", log_safe(obj.key), log_safe(reason))
    with store.write() as conn:
        if not repo.is_known(conn, tenant.tenant_id, source.uri, obj.key):
            repo.record_file(
                conn, tenant.tenant_id, source.uri, _record(obj, "quarantined", EventTally(), reason, now)
            )
    return FileOutcome(obj.key, "quarantined", obj.size_bytes, reason=reason)


def _record(obj: SourceObject, status: str, tally: EventTally, reason: str | None, now: float) -> FileRecord:
    return FileRecord(
        object_key=obj.key,
        status=status,
        size_bytes=obj.size_bytes,
        events=tally.received,
        accepted=tally.accepted,
        duplicates=tally.duplicate,
        ignored=tally.ignored,
        unattributed=tally.unattributed,
        newest_event_s=tally.newest_event_s,
        reason=reason,
        finished_at=now,
    )


def ingest_status(store: Store, tenant_name: str) -> IngestStatus:
    """Counts over every file ingested for the tenant, the quarantined files, the newest event time, and
    the unattributed events per campaign or Canvas step (the campaigns no experiment of the tenant serves,
    or a recipient field that does not match the id the events carry).

    Raises:
        NotFound: no tenant of that name.
    """
    with store.read() as conn:
        tenant = _tenant(conn, tenant_name)
        records = repo.file_records(conn, tenant.tenant_id)
        source = next((s for s in repo.all_sources(conn) if s.tenant_id == tenant.tenant_id), None)
        by_source = event_repo.unattributed_counts(conn, tenant.tenant_id)
    done = [r for _, r in records if r.status == "done"]
    newest = [r.newest_event_s for r in done if r.newest_event_s is not None]
    return IngestStatus(
        files=len(done),
        events=sum(r.events for r in done),
        accepted=sum(r.accepted for r in done),
        duplicates=sum(r.duplicates for r in done),
        ignored=sum(r.ignored for r in done),
        unattributed=sum(r.unattributed for r in done),
        quarantined=tuple(
            QuarantinedFile(uri, r.object_key, r.reason or "", r.finished_at)
            for uri, r in records
            if r.status == "quarantined"
        ),
        newest_event_s=max(newest) if newest else None,
        source=source,
        unattributed_by_source=tuple(
            UnattributedCount(source_id, kind, n)
            for (source_id, kind), n in sorted(by_source.items(), key=lambda item: (-item[1], item[0]))
        ),
    )


def retry_quarantined(store: Store, tenant_name: str, key: str) -> None:
    """Forget a file's quarantine so that the next run ingests it again.

    Raises:
        NotFound: no quarantined file with that key.
    """
    with store.write() as conn:
        tenant = _tenant(conn, tenant_name)
        if repo.forget_quarantined(conn, tenant.tenant_id, key) == 0:
            raise NotFound(f"key: no quarantined file '{key}' for tenant '{tenant_name}'")


def set_source(
    store: Store, tenant_name: str, uri: str, credentials_ref: str | None, now: float
) -> StoredSource:
    """Store the tenant's event source (polled by `copyloom worker`)."""
    open_source(uri, credentials_ref=credentials_ref)  # validates the URI
    with store.write() as conn:
        tenant = _tenant(conn, tenant_name)
        source = StoredSource(tenant.tenant_id, uri, credentials_ref)
        repo.put_source(conn, source, now)
    return source


def sources_to_poll(store: Store) -> list[tuple[Tenant, StoredSource]]:
    with store.read() as conn:
        pairs = []
        for source in repo.all_sources(conn):
            tenant = tenant_repo.tenant_by_id(conn, TenantId(source.tenant_id))
            if tenant is not None:
                pairs.append((tenant, source))
    return pairs


def poll_sources(store: Store, clock: Callable[[], float]) -> dict[str, int]:
    """One pass over every tenant's stored source; one failing source never stops the others.

    Returns:
        Files done per tenant name (-1 for a source that failed).
    """
    done: dict[str, int] = {}
    for tenant, stored in sources_to_poll(store):
        try:
            source = open_source(stored.uri, credentials_ref=stored.credentials_ref)
            outcomes = ingest_objects(store, tenant, source, pending_objects(store, tenant, source), clock)
        except Exception:  # isolate: one tenant's broken source never stops the others
            log.exception("ingest of %s for tenant %s failed", log_safe(stored.uri), tenant.name)
            done[tenant.name] = -1
            continue
        done[tenant.name] = sum(1 for o in outcomes if o.status == "done")
    return done


def _tenant(conn: Connection, name: str) -> Tenant:
    tenant = tenant_repo.tenant_by_name(conn, name)
    if tenant is None:
        raise NotFound(f"tenant: no tenant named '{name}'")
    return tenant
