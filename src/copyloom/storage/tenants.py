"""Tenants, their serving and management tokens (stored as SHA-256 hashes only) and install-wide settings."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from copyloom.domain.values import BotClickRule, Credential, IdTransform, Tenant, TenantId, TokenScope
from copyloom.storage.db import id_chunks, insert_ignoring_conflicts
from copyloom.storage.tables import settings_table, tenants, tokens


def insert_tenant(conn: Connection, tenant: Tenant, now: float) -> None:
    conn.execute(
        tenants.insert().values(
            tenant_id=tenant.tenant_id,
            name=tenant.name,
            pseudonym_key=tenant.pseudonym_key.hex(),
            id_transform=tenant.id_transform,
            bot_clicks=tenant.bot_clicks,
            created_at=now,
        )
    )


def tenant_by_name(conn: Connection, name: str) -> Tenant | None:
    row = conn.execute(sa.select(tenants).where(tenants.c.name == name)).mappings().first()
    return _tenant(row) if row else None


def tenant_by_id(conn: Connection, tenant_id: TenantId) -> Tenant | None:
    row = conn.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id)).mappings().first()
    return _tenant(row) if row else None


def list_tenants(conn: Connection) -> list[Tenant]:
    rows = conn.execute(sa.select(tenants).order_by(tenants.c.name)).mappings()
    return [_tenant(row) for row in rows]


def set_id_transform(conn: Connection, tenant_id: TenantId, transform: IdTransform) -> None:
    conn.execute(tenants.update().where(tenants.c.tenant_id == tenant_id).values(id_transform=transform))


def set_bot_clicks(conn: Connection, tenant_id: TenantId, rule: BotClickRule) -> None:
    conn.execute(tenants.update().where(tenants.c.tenant_id == tenant_id).values(bot_clicks=rule))


def credential_by_token_hash(conn: Connection, token_hash: str) -> Credential | None:
    """The tenant and scope of an active token, None for an unknown or revoked one."""
    query = (
        sa.select(tokens.c.scope, tenants)
        .join(tokens, tokens.c.tenant_id == tenants.c.tenant_id)
        .where(tokens.c.token_hash == token_hash, tokens.c.revoked_at.is_(None))
    )
    row = conn.execute(query).mappings().first()
    return _credential(row) if row else None


def credentials_by_token_hashes(conn: Connection, token_hashes: Sequence[str]) -> dict[str, Credential]:
    """The tenant and scope of each active token among these hashes (revoked and unknown ones left out)."""
    found: dict[str, Credential] = {}
    for chunk in id_chunks(token_hashes):
        query = (
            sa.select(tokens.c.token_hash, tokens.c.scope, tenants)
            .join(tokens, tokens.c.tenant_id == tenants.c.tenant_id)
            .where(tokens.c.token_hash.in_(chunk), tokens.c.revoked_at.is_(None))
        )
        found.update((row["token_hash"], _credential(row)) for row in conn.execute(query).mappings())
    return found


def insert_token(
    conn: Connection, tenant_id: TenantId, token_hash: str, scope: TokenScope, now: float
) -> None:
    conn.execute(
        tokens.insert().values(token_hash=token_hash, tenant_id=tenant_id, scope=scope, created_at=now)
    )


def revoke_tokens(conn: Connection, tenant_id: TenantId, now: float, scope: TokenScope | None = None) -> int:
    """Revoke the active tokens of a tenant, of one scope or (None) of every scope; returns how many."""
    query = tokens.update().where(tokens.c.tenant_id == tenant_id, tokens.c.revoked_at.is_(None))
    if scope is not None:
        query = query.where(tokens.c.scope == scope)
    return conn.execute(query.values(revoked_at=now)).rowcount


def get_setting(conn: Connection, key: str) -> str | None:
    value = conn.execute(sa.select(settings_table.c.value).where(settings_table.c.key == key)).scalar()
    return None if value is None else str(value)


def put_setting_if_absent(conn: Connection, key: str, value: str) -> None:
    insert_ignoring_conflicts(conn, settings_table, [{"key": key, "value": value}], ["key"])


def _tenant(row: RowMapping) -> Tenant:
    return Tenant(
        tenant_id=TenantId(row["tenant_id"]),
        name=row["name"],
        pseudonym_key=bytes.fromhex(row["pseudonym_key"]),
        id_transform=row["id_transform"],
        bot_clicks=row["bot_clicks"],
    )


def _credential(row: RowMapping) -> Credential:
    return Credential(_tenant(row), row["scope"])
