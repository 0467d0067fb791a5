"""Dashboard sign-in: a password per tenant stored only hashed, and server-side sessions."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from copyloom.errors import NotFound, Unauthorized
from copyloom.services import dashboard_access as access
from copyloom.storage.db import Store
from copyloom.storage.tables import metadata
from tests.helpers import make_workspace

HOUR_S = 3600.0


def everything_stored(store: Store) -> str:
    """Every value of every table, as one text to search."""
    with store.read() as conn:
        return repr([list(conn.execute(sa.select(table))) for table in metadata.sorted_tables])


def test_the_right_password_opens_a_session_of_that_tenant(store: Store) -> None:
    workspace = make_workspace(store, "acme", start=False)
    password = access.issue_dashboard_password(store, "acme", 100.0)

    token, session = access.sign_in(store, "acme", password, 200.0, HOUR_S)

    assert (session.tenant_id, session.tenant_name) == (workspace.tenant.tenant_id, "acme")
    assert session.expires_at == 200.0 + HOUR_S
    assert access.session_for(store, token, 300.0) == session
    assert len(session.csrf_token) >= 43
    assert session.csrf_token != token


def test_password_and_session_token_are_stored_only_hashed(store: Store) -> None:
    make_workspace(store, "acme", start=False)
    password = access.issue_dashboard_password(store, "acme", 100.0)
    token, _ = access.sign_in(store, "acme", password, 200.0, HOUR_S)

    stored = everything_stored(store)

    assert password not in stored
    assert token not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert hashlib.sha256(password.encode()).hexdigest() not in stored


def test_each_password_gets_its_own_salt(store: Store) -> None:
    make_workspace(store, "acme", start=False)
    make_workspace(store, "globex", start=False)
    access.issue_dashboard_password(store, "acme", 100.0)
    access.issue_dashboard_password(store, "globex", 100.0)

    with store.read() as conn:
        rows = list(conn.exec_driver_sql("SELECT salt, password_hash, scheme FROM dashboard_credentials"))

    assert len({row[0] for row in rows}) == 2
    assert all(row[2].startswith("scrypt:") for row in rows)


@pytest.mark.parametrize("who", ["wrong password", "other tenant", "unknown tenant", "no password yet"])
def test_every_mismatch_is_refused_with_the_same_message(store: Store, who: str) -> None:
    make_workspace(store, "acme", start=False)
    make_workspace(store, "globex", start=False)
    password = access.issue_dashboard_password(store, "acme", 100.0)
    globex_password = access.issue_dashboard_password(store, "globex", 100.0)
    attempts = {
        "wrong password": ("acme", password[:-1] + ("x" if password[-1] != "x" else "y")),
        "other tenant": ("acme", globex_password),
        "unknown tenant": ("initech", password),
        "no password yet": ("hooli", password),
    }
    make_workspace(store, "hooli", start=False)

    with pytest.raises(Unauthorized) as raised:
        access.sign_in(store, *attempts[who], 200.0, HOUR_S)

    assert raised.value.message == "dashboard: wrong tenant name or password"


def test_a_session_ends_when_it_expires(store: Store) -> None:
    make_workspace(store, "acme", start=False)
    password = access.issue_dashboard_password(store, "acme", 100.0)
    token, _ = access.sign_in(store, "acme", password, 200.0, HOUR_S)

    assert access.session_for(store, token, 200.0 + HOUR_S - 1).tenant_name == "acme"
    with pytest.raises(Unauthorized, match="unknown or expired session"):
        access.session_for(store, token, 200.0 + HOUR_S)


def test_sign_out_ends_only_that_session(store: Store) -> None:
    make_workspace(store, "acme", start=False)
    password = access.issue_dashboard_password(store, "acme", 100.0)
    first, _ = access.sign_in(store, "acme", password, 200.0, HOUR_S)
    second, _ = access.sign_in(store, "acme", password, 200.0, HOUR_S)

    access.sign_out(store, first)
    access.sign_out(store, first)  # twice is harmless

    with pytest.raises(Unauthorized):
        access.session_for(store, first, 300.0)
    assert access.session_for(store, second, 300.0).tenant_name == "acme"


def test_rotating_the_password_signs_every_session_out_and_retires_the_old_password(store: Store) -> None:
    make_workspace(store, "acme", start=False)
    make_workspace(store, "globex", start=False)
    old = access.issue_dashboard_password(store, "acme", 100.0)
    token, _ = access.sign_in(store, "acme", old, 200.0, HOUR_S)
    globex_token, _ = access.sign_in(
        store, "globex", access.issue_dashboard_password(store, "globex", 100.0), 200.0, HOUR_S
    )

    new = access.issue_dashboard_password(store, "acme", 300.0)

    assert new != old
    with pytest.raises(Unauthorized):
        access.session_for(store, token, 400.0)
    with pytest.raises(Unauthorized):
        access.sign_in(store, "acme", old, 400.0, HOUR_S)
    assert access.sign_in(store, "acme", new, 400.0, HOUR_S)[1].tenant_name == "acme"
    assert access.session_for(store, globex_token, 400.0).tenant_name == "globex"


def test_an_unknown_token_is_unauthorized(store: Store) -> None:
    with pytest.raises(Unauthorized, match="sign in again"):
        access.session_for(store, "not-a-session", 0.0)


def test_a_password_for_an_unknown_tenant_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no tenant named 'initech'"):
        access.issue_dashboard_password(store, "initech", 0.0)
