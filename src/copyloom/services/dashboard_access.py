"""Dashboard sign-in per tenant: a password apart from the serving tokens, and server-side sessions.

The password is shown once and stored only as a salted scrypt hash; sessions are random tokens stored
only as a SHA-256 hash, each with its own CSRF token, and end at sign-out, expiry or password rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from copyloom.domain.values import TenantId
from copyloom.errors import NotFound, Unauthorized
from copyloom.services.tenants import hash_token
from copyloom.storage import dashboard as repo
from copyloom.storage import tenants as tenant_repo
from copyloom.storage.db import Store

PASSWORD_PREFIX = "cld_"  # noqa: S105 - a public prefix that makes leaked passwords easy to scan for
# scrypt with N=2^14, r=8, p=1 (16 MiB, tens of milliseconds): the interactive-login parameters of
# RFC 7914 section 2. The scheme is stored with each hash so that they can be raised later.
_SCHEME = "scrypt:16384:8:1"
_WRONG = "dashboard: wrong tenant name or password"
_NO_SESSION = "dashboard: unknown or expired session; sign in again"


@dataclass(frozen=True, slots=True)
class DashboardSession:
    tenant_id: TenantId
    tenant_name: str
    csrf_token: str
    expires_at: float


def issue_dashboard_password(store: Store, tenant_name: str, now: float) -> str:
    """Give the tenant a new random dashboard password, replacing the old one and ending its sessions.

    Returns:
        The password in clear: the only time it is ever shown.

    Raises:
        NotFound: no tenant of that name.
    """
    password = PASSWORD_PREFIX + secrets.token_urlsafe(18)
    salt = secrets.token_hex(16)
    with store.write() as conn:
        tenant = tenant_repo.tenant_by_name(conn, tenant_name)
        if tenant is None:
            raise NotFound(f"tenant: no tenant named '{tenant_name}'")
        credential = repo.StoredCredential(tenant.tenant_id, _SCHEME, salt, _hash(password, salt, _SCHEME))
        repo.replace_credential(conn, credential, now)
        repo.delete_sessions_of(conn, tenant.tenant_id)
    return password


def sign_in(
    store: Store, tenant_name: str, password: str, now: float, ttl_s: float
) -> tuple[str, DashboardSession]:
    """Check a tenant's dashboard password and open a session lasting `ttl_s` seconds.

    Returns:
        The session token (for the cookie; stored only as its hash) and the session.

    Raises:
        Unauthorized: unknown tenant, no dashboard password issued, or a wrong password, all with the
            same message and the same hashing work, so that neither says which.
    """
    with store.read() as conn:
        tenant = tenant_repo.tenant_by_name(conn, tenant_name)
        credential = repo.credential_of(conn, tenant.tenant_id) if tenant else None
    if tenant is None or credential is None:
        _hash(password, "0" * 32, _SCHEME)
        raise Unauthorized(_WRONG)
    computed = _hash(password, credential.salt, credential.scheme)
    if not hmac.compare_digest(computed, credential.password_hash):
        raise Unauthorized(_WRONG)
    token = secrets.token_urlsafe(32)
    session = DashboardSession(tenant.tenant_id, tenant.name, secrets.token_urlsafe(32), now + ttl_s)
    with store.write() as conn:
        repo.delete_expired_sessions(conn, tenant.tenant_id, now)
        repo.insert_session(
            conn,
            hash_token(token),
            tenant.tenant_id,
            csrf_token=session.csrf_token,
            now=now,
            expires_at=session.expires_at,
        )
    return token, session


def session_for(store: Store, session_token: str, now: float) -> DashboardSession:
    """The live session a token opens.

    Raises:
        Unauthorized: the token is unknown, expired, signed out or ended by a password rotation.
    """
    with store.read() as conn:
        stored = repo.session_by_hash(conn, hash_token(session_token))
    if stored is None or stored.expires_at <= now:
        raise Unauthorized(_NO_SESSION)
    return DashboardSession(stored.tenant_id, stored.tenant_name, stored.csrf_token, stored.expires_at)


def sign_out(store: Store, session_token: str) -> None:
    """End a session; an unknown token is already signed out."""
    with store.write() as conn:
        repo.delete_session(conn, hash_token(session_token))


def _hash(password: str, salt: str, scheme: str) -> str:
    name, n, r, p = scheme.split(":")
    assert name == "scrypt", scheme  # the only scheme ever written
    key = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), maxmem=64 * 2**20, dklen=32
    )
    return key.hex()
