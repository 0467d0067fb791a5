"""Tenants and tokens: shown once, stored hashed, rotatable and revocable."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from copyloom.errors import Conflict, InvalidInput, NotFound, Unauthorized
from copyloom.services import tenants as service
from copyloom.storage.db import Store
from copyloom.storage.tables import tokens


def test_token_authenticates_its_tenant_and_is_stored_only_as_a_hash(store: Store) -> None:
    tenant, token = service.create_tenant(store, "acme", 1.0)

    assert service.authenticate(store, token) == tenant
    with store.read() as conn:
        stored = conn.execute(sa.select(tokens.c.token_hash)).scalars().all()
    assert stored == [service.hash_token(token)]
    assert token not in stored


def test_each_tenant_gets_its_own_32_byte_pseudonymisation_key(store: Store) -> None:
    a, _ = service.create_tenant(store, "acme", 1.0)
    b, _ = service.create_tenant(store, "globex", 1.0)

    assert len(a.pseudonym_key) == len(b.pseudonym_key) == 32
    assert a.pseudonym_key != b.pseudonym_key


def test_rotation_revokes_the_old_token(store: Store) -> None:
    tenant, old = service.create_tenant(store, "acme", 1.0)

    new = service.rotate_token(store, "acme", 2.0)

    assert service.authenticate(store, new) == tenant
    with pytest.raises(Unauthorized):
        service.authenticate(store, old)


def test_revoke_leaves_no_working_token(store: Store) -> None:
    _, token = service.create_tenant(store, "acme", 1.0)

    assert service.revoke_tokens(store, "acme", 2.0) == 1
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        service.authenticate(store, token)


def test_names_are_unique_and_checked(store: Store) -> None:
    service.create_tenant(store, "acme", 1.0)

    with pytest.raises(Conflict, match="already exists"):
        service.create_tenant(store, "acme", 1.0)
    with pytest.raises(InvalidInput, match="name:"):
        service.create_tenant(store, "no spaces please", 1.0)
    with pytest.raises(NotFound, match="no tenant named 'nobody'"):
        service.rotate_token(store, "nobody", 1.0)
