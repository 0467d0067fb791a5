"""Tenants and their tokens, one of each scope (serving, management): shown once, stored only as a SHA-256
hash, rotated and revoked scope by scope."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from copyloom.domain.values import (
    BotClickRule,
    Credential,
    IdTransform,
    Tenant,
    TenantId,
    TokenScope,
)
from copyloom.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from copyloom.storage import tenants as repo
from copyloom.storage.db import Store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
TOKEN_PREFIX = "cl_"  # noqa: S105 - a public prefix that makes leaked tokens easy to scan for


def hash_token(token: str) -> str:
    """Tokens carry 256 random bits, so a plain (unsalted, fast) SHA-256 is a safe way to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


_WHAT_SCOPES_DO: dict[TokenScope, str] = {
    "serving": "fetches content and posts events",
    "management": "manages experiments",
}


@dataclass(frozen=True, slots=True)
class TenantTokens:
    """A new tenant's tokens in clear, one per scope: the only time they are ever shown."""

    serving: str
    management: str


def create_tenant(store: Store, name: str, now: float) -> tuple[Tenant, TenantTokens]:
    """Create a tenant with a fresh pseudonymisation key, a serving token and a management token.

    Returns:
        The tenant and its tokens in clear: the only time the tokens are ever shown.

    Raises:
        InvalidInput: a name that is not 1-100 letters, digits, '.', '_' or '-'.
        Conflict: the name is taken.
    """
    if not _NAME.match(name):
        raise InvalidInput(
            "name: use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    tenant = Tenant(TenantId("tn_" + secrets.token_hex(8)), name, secrets.token_bytes(32))
    tokens = TenantTokens(serving=new_token(), management=new_token())
    with store.write() as conn:
        if repo.tenant_by_name(conn, name) is not None:
            raise Conflict(f"name: a tenant named '{name}' already exists")
        repo.insert_tenant(conn, tenant, now)
        repo.insert_token(conn, tenant.tenant_id, hash_token(tokens.serving), "serving", now)
        repo.insert_token(conn, tenant.tenant_id, hash_token(tokens.management), "management", now)
    return tenant, tokens


def rotate_token(store: Store, name: str, now: float, scope: TokenScope = "serving") -> str:
    """Revoke the tenant's tokens of `scope` and issue a new one (returned in clear, once); the tokens of
    the other scope keep working."""
    token = new_token()
    with store.write() as conn:
        tenant = _require(repo.tenant_by_name(conn, name), name)
        repo.revoke_tokens(conn, tenant.tenant_id, now, scope)
        repo.insert_token(conn, tenant.tenant_id, hash_token(token), scope, now)
    return token


def revoke_tokens(store: Store, name: str, now: float, scope: TokenScope | None = None) -> int:
    """Revoke the tenant's active tokens of `scope`, or of every scope (None); returns how many there were."""
    with store.write() as conn:
        tenant = _require(repo.tenant_by_name(conn, name), name)
        return repo.revoke_tokens(conn, tenant.tenant_id, now, scope)


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


def credential_of(store: Store, token: str) -> Credential:
    """The tenant and scope of an active token.

    Raises:
        Unauthorized: unknown or revoked token.
    """
    with store.read() as conn:
        found = repo.credential_by_token_hash(conn, hash_token(token))
    if found is None:
        raise Unauthorized("Authorization: unknown or revoked token")
    return found


def authenticate(store: Store, token: str, scope: TokenScope = "serving") -> Tenant:
    """The tenant owning an active token of `scope`.

    Raises:
        Unauthorized: unknown or revoked token.
        Forbidden: a token of the other scope.
    """
    return tenant_in_scope(credential_of(store, token), scope)


def tenant_in_scope(credential: Credential, scope: TokenScope) -> Tenant:
    """The credential's tenant when the credential has `scope`.

    Raises:
        Forbidden: naming what the route takes, e.g. ``Authorization: this route takes the tenant's
            management token (a serving token fetches content and posts events)``.
    """
    if credential.scope != scope:
        raise Forbidden(
            f"Authorization: this route takes the tenant's {scope} token (a {credential.scope} token "
            f"{_WHAT_SCOPES_DO[credential.scope]})"
        )
    return credential.tenant


def credentials_of_tokens(store: Store, tokens: Sequence[str]) -> dict[str, Credential]:
    """The tenant and scope of each token that is still active (for a worker's periodic token refresh)."""
    hashes = {hash_token(token): token for token in tokens}
    with store.read() as conn:
        found = repo.credentials_by_token_hashes(conn, list(hashes))
    return {hashes[token_hash]: credential for token_hash, credential in found.items()}


def _require(tenant: Tenant | None, name: str) -> Tenant:
    if tenant is None:
        raise NotFound(f"tenant: no tenant named '{name}'")
    return tenant
