"""Dashboard sign-in: one password hash per tenant, and server-side sessions stored by token hash."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from copyloom.domain.values import TenantId
from copyloom.storage.tables import dashboard_credentials, dashboard_sessions, tenants


@dataclass(frozen=True, slots=True)
class StoredCredential:
    tenant_id: TenantId
    scheme: str
    salt: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class StoredSession:
    tenant_id: TenantId
    tenant_name: str
    csrf_token: str
    expires_at: float


def replace_credential(conn: Connection, credential: StoredCredential, now: float) -> None:
    """Store the tenant's dashboard password hash, replacing any earlier one."""
    conn.execute(
        dashboard_credentials.delete().where(dashboard_credentials.c.tenant_id == credential.tenant_id)
    )
    conn.execute(
        dashboard_credentials.insert().values(
            tenant_id=credential.tenant_id,
            scheme=credential.scheme,
            salt=credential.salt,
            password_hash=credential.password_hash,
            created_at=now,
        )
    )


def credential_of(conn: Connection, tenant_id: TenantId) -> StoredCredential | None:
    query = sa.select(
        dashboard_credentials.c.tenant_id,
        dashboard_credentials.c.scheme,
        dashboard_credentials.c.salt,
        dashboard_credentials.c.password_hash,
    ).where(dashboard_credentials.c.tenant_id == tenant_id)
    row = conn.execute(query).first()
    return StoredCredential(TenantId(row[0]), row[1], row[2], row[3]) if row else None


def insert_session(
    conn: Connection,
    session_hash: str,
    tenant_id: TenantId,
    *,
    csrf_token: str,
    now: float,
    expires_at: float,
) -> None:
    conn.execute(
        dashboard_sessions.insert().values(
            session_hash=session_hash,
            tenant_id=tenant_id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
        )
    )


def session_by_hash(conn: Connection, session_hash: str) -> StoredSession | None:
    query = (
        sa.select(
            dashboard_sessions.c.tenant_id,
            tenants.c.name,
            dashboard_sessions.c.csrf_token,
            dashboard_sessions.c.expires_at,
        )
        .join(tenants, tenants.c.tenant_id == dashboard_sessions.c.tenant_id)
        .where(dashboard_sessions.c.session_hash == session_hash)
    )
    row = conn.execute(query).first()
    return StoredSession(TenantId(row[0]), row[1], row[2], float(row[3])) if row else None


def delete_session(conn: Connection, session_hash: str) -> None:
    conn.execute(dashboard_sessions.delete().where(dashboard_sessions.c.session_hash == session_hash))


def delete_sessions_of(conn: Connection, tenant_id: TenantId) -> int:
    """End every session of a tenant; returns how many there were."""
    result = conn.execute(dashboard_sessions.delete().where(dashboard_sessions.c.tenant_id == tenant_id))
    return result.rowcount


def delete_expired_sessions(conn: Connection, tenant_id: TenantId, now: float) -> None:
    conn.execute(
        dashboard_sessions.delete().where(
            dashboard_sessions.c.tenant_id == tenant_id, dashboard_sessions.c.expires_at <= now
        )
    )
