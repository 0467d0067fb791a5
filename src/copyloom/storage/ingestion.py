"""Ingestion bookkeeping: each tenant's event source, and every file done or quarantined."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from copyloom.domain.values import TenantId
from copyloom.storage.tables import event_sources, ingested_files


@dataclass(frozen=True, slots=True)
class StoredSource:
    tenant_id: TenantId
    uri: str
    credentials_ref: str | None


@dataclass(frozen=True, slots=True)
class FileRecord:
    object_key: str
    status: str  # "done" or "quarantined"
    size_bytes: int
    events: int
    accepted: int
    duplicates: int
    ignored: int
    unattributed: int
    newest_event_s: int | None
    reason: str | None
    finished_at: float


def put_source(conn: Connection, source: StoredSource, now: float) -> None:
    conn.execute(event_sources.delete().where(event_sources.c.tenant_id == source.tenant_id))
    conn.execute(
        event_sources.insert().values(
            tenant_id=source.tenant_id, uri=source.uri, credentials_ref=source.credentials_ref, updated_at=now
        )
    )


def all_sources(conn: Connection) -> list[StoredSource]:
    rows = conn.execute(
        sa.select(event_sources.c.tenant_id, event_sources.c.uri, event_sources.c.credentials_ref)
    )
    return [StoredSource(TenantId(t), uri, ref) for t, uri, ref in rows]


def known_keys(conn: Connection, tenant_id: TenantId, source_uri: str) -> set[str]:
    """Keys already done or quarantined for this source: a re-listed file is skipped."""
    query = sa.select(ingested_files.c.object_key).where(
        ingested_files.c.tenant_id == tenant_id, ingested_files.c.source_uri == source_uri
    )
    return set(conn.execute(query).scalars())


def is_known(conn: Connection, tenant_id: TenantId, source_uri: str, key: str) -> bool:
    query = sa.select(sa.literal(1)).where(
        ingested_files.c.tenant_id == tenant_id,
        ingested_files.c.source_uri == source_uri,
        ingested_files.c.object_key == key,
    )
    return conn.execute(query).first() is not None


def try_lock_file(conn: Connection, tenant_id: TenantId, source_uri: str, key: str) -> bool:
    """On PostgreSQL, take a transaction-scoped advisory lock on the file, or report another worker has it.

    SQLite needs none: its write transactions (`BEGIN IMMEDIATE`) already run one at a time.
    """
    if conn.dialect.name == "sqlite":
        return True
    lock_key = sa.func.hashtextextended(f"{tenant_id}|{source_uri}|{key}", 0)
    return bool(conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(lock_key))).scalar())


def record_file(conn: Connection, tenant_id: TenantId, source_uri: str, record: FileRecord) -> None:
    conn.execute(
        ingested_files.insert().values(
            tenant_id=tenant_id,
            source_uri=source_uri,
            object_key=record.object_key,
            status=record.status,
            size_bytes=record.size_bytes,
            events=record.events,
            accepted=record.accepted,
            duplicates=record.duplicates,
            ignored=record.ignored,
            unattributed=record.unattributed,
            newest_event_s=record.newest_event_s,
            reason=record.reason,
            finished_at=record.finished_at,
        )
    )


def forget_quarantined(conn: Connection, tenant_id: TenantId, key: str) -> int:
    """Drop the quarantine record of a file so the next run retries it; returns how many were dropped."""
    result = conn.execute(
        ingested_files.delete().where(
            ingested_files.c.tenant_id == tenant_id,
            ingested_files.c.object_key == key,
            ingested_files.c.status == "quarantined",
        )
    )
    return result.rowcount


def file_records(conn: Connection, tenant_id: TenantId) -> list[tuple[str, FileRecord]]:
    query = (
        sa.select(ingested_files)
        .where(ingested_files.c.tenant_id == tenant_id)
        .order_by(ingested_files.c.finished_at)
    )
    return [
        (
            row["source_uri"],
            FileRecord(
                object_key=row["object_key"],
                status=row["status"],
                size_bytes=row["size_bytes"],
                events=row["events"],
                accepted=row["accepted"],
                duplicates=row["duplicates"],
                ignored=row["ignored"],
                unattributed=row["unattributed"],
                newest_event_s=row["newest_event_s"],
                reason=row["reason"],
                finished_at=row["finished_at"],
            ),
        )
        for row in conn.execute(query).mappings()
    ]
