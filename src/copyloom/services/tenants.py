"""Tenants and their serving tokens: shown once, stored only as a SHA-256 hash, rotatable."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence

from copyloom.domain.values import BotClickRule, IdTransform, Tenant, TenantId
from copyloom.errors import Conflict, InvalidInput, NotFound, Unauthorized
from copyloom.storage import tenants as repo
from copyloom.storage.db import Store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
TOKEN_PREFIX = "cl_"  # noqa: S105 - a public prefix that makes leaked tokens easy to scan for


def hash_token(token: str) -> str:
    """Tokens carry 256 random bits, so a plain (unsalted, fast) SHA-256 is a safe way to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_tenant(store: Store, name: str, now: float) -> tuple[Tenant, str]:
    """Create a tenant with a fresh pseudonymisation key and a first token.

    Returns:
        The tenant and its token in clear: the only time the token is ever shown.

    Raises:
        InvalidInput: a name that is not 1-100 letters, digits, '.', '_' or '-'.
        Conflict: the name is taken.
    """
    if not _NAME.match(name):
        raise InvalidInput(
            "name: use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    tenant = Tenant(TenantId("tn_" + secrets.token_hex(8)), name, secrets.token_bytes(32))
    token = new_token()
    with store.write() as conn:
        if repo.tenant_by_name(conn, name) is not None:
            raise Conflict(f"name: a tenant named '{name}' already exists")
        repo.insert_tenant(conn, tenant, now)
        repo.insert_token(conn, tenant.tenant_id, hash_token(token), now)
    return tenant, token


def rotate_token(store: Store, name: str, now: float) -> str:
    """Revoke the tenant's tokens and issue a new one (returned in clear, once)."""
    token = new_token()
    with store.write() as conn:
        tenant = _require(repo.tenant_by_name(conn, name), name)
        repo.revoke_tokens(conn, tenant.tenant_id, now)
        repo.insert_token(conn, tenant.tenant_id, hash_token(token), now)
    return token


def revoke_tokens(store: Store, name: str, now: float) -> int:
    """Revoke every active token of the tenant; returns how many there were."""
    with store.write() as conn:
        tenant = _require(repo.tenant_by_name(conn, name), name)
        return repo.revoke_tokens(conn, tenant.tenant_id, now)


def set_id_transform(store: Store, name: str, transform: IdTransform) -> Tenant:
    """Choose how content-endpoint recipients are hashed to match Braze's Currents field transformation."""
    with store.write() as conn:
        tenant = _require(repo.tenant_by_name(conn, name), name)
        repo.set_id_transform(conn, tenant.tenant_id, transform)
        return _require(repo.tenant_by_name(conn, name), name)


def set_bot_clicks(store: Store, name: str, rule: BotClickRule) -> Tenant:
    """Choose which Currents clicks count as bot clicks (see `BotClickRule`)."""
    with store.write() as conn:
        tenant = _require(repo.tenant_by_name(conn, name), name)
        repo.set_bot_clicks(conn, tenant.tenant_id, rule)
        return _require(repo.tenant_by_name(conn, name), name)


def get_tenant(store: Store, name: str) -> Tenant:
    with store.read() as conn:
        return _require(repo.tenant_by_name(conn, name), name)


def list_tenants(store: Store) -> list[Tenant]:
    with store.read() as conn:
        return repo.list_tenants(conn)


def authenticate(store: Store, token: str) -> Tenant:
    """The tenant owning an active token.

    Raises:
        Unauthorized: unknown or revoked token.
    """
    with store.read() as conn:
        tenant = repo.tenant_by_token_hash(conn, hash_token(token))
    if tenant is None:
        raise Unauthorized("Authorization: unknown or revoked token")
    return tenant


def tenants_of_tokens(store: Store, tokens: Sequence[str]) -> dict[str, Tenant]:
    """The tenant of each token that is still active (for a worker's periodic token refresh)."""
    hashes = {hash_token(token): token for token in tokens}
    with store.read() as conn:
        found = repo.tenants_by_token_hashes(conn, list(hashes))
    return {hashes[token_hash]: tenant for token_hash, tenant in found.items()}


def _require(tenant: Tenant | None, name: str) -> Tenant:
    if tenant is None:
        raise NotFound(f"tenant: no tenant named '{name}'")
    return tenant
