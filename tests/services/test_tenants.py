"""Tenants and tokens: a serving and a management token each, shown once, stored hashed, rotatable and
revocable scope by scope."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from copyloom.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from copyloom.services import tenants as service
from copyloom.storage.db import Store
from copyloom.storage.tables import tokens


def test_each_token_authenticates_its_tenant_in_its_scope_and_is_stored_only_as_a_hash(store: Store) -> None:
    tenant, issued = service.create_tenant(store, "acme", 1.0)

    assert service.authenticate(store, issued.serving, "serving") == tenant
    assert service.authenticate(store, issued.management, "management") == tenant
    with store.read() as conn:
        stored = {row.token_hash: row.scope for row in conn.execute(sa.select(tokens))}
    assert stored == {
        service.hash_token(issued.serving): "serving",
        service.hash_token(issued.management): "management",
    }
    assert issued.serving not in stored
    assert issued.management not in stored
    assert issued.serving != issued.management


def test_a_token_of_the_other_scope_is_forbidden(store: Store) -> None:
    _, issued = service.create_tenant(store, "acme", 1.0)

    with pytest.raises(Forbidden, match="takes the tenant's management token"):
        service.authenticate(store, issued.serving, "management")
    with pytest.raises(Forbidden, match="takes the tenant's serving token"):
        service.authenticate(store, issued.management, "serving")


def test_each_tenant_gets_its_own_32_byte_pseudonymisation_key(store: Store) -> None:
    a, _ = service.create_tenant(store, "acme", 1.0)
    b, _ = service.create_tenant(store, "globex", 1.0)

    assert len(a.pseudonym_key) == len(b.pseudonym_key) == 32
    assert a.pseudonym_key != b.pseudonym_key


def test_rotation_revokes_the_old_token_of_its_scope_only(store: Store) -> None:
    tenant, old = service.create_tenant(store, "acme", 1.0)

    new = service.rotate_token(store, "acme", 2.0)

    assert service.authenticate(store, new) == tenant
    with pytest.raises(Unauthorized):
        service.authenticate(store, old.serving)
    assert service.authenticate(store, old.management, "management") == tenant


def test_the_management_token_rotates_on_its_own(store: Store) -> None:
    tenant, old = service.create_tenant(store, "acme", 1.0)

    new = service.rotate_token(store, "acme", 2.0, "management")

    assert service.authenticate(store, new, "management") == tenant
    with pytest.raises(Unauthorized):
        service.authenticate(store, old.management, "management")
    assert service.authenticate(store, old.serving) == tenant


def test_revoke_leaves_no_working_token(store: Store) -> None:
    _, issued = service.create_tenant(store, "acme", 1.0)

    assert service.revoke_tokens(store, "acme", 2.0) == 2
    for token in (issued.serving, issued.management):
        with pytest.raises(Unauthorized, match="unknown or revoked"):
            service.credential_of(store, token)


def test_revoking_one_scope_keeps_the_other(store: Store) -> None:
    tenant, issued = service.create_tenant(store, "acme", 1.0)

    assert service.revoke_tokens(store, "acme", 2.0, "management") == 1
    with pytest.raises(Unauthorized):
        service.authenticate(store, issued.management, "management")
    assert service.authenticate(store, issued.serving) == tenant


def test_names_are_unique_and_checked(store: Store) -> None:
    service.create_tenant(store, "acme", 1.0)

    with pytest.raises(Conflict, match="already exists"):
        service.create_tenant(store, "acme", 1.0)
    with pytest.raises(InvalidInput, match="name:"):
        service.create_tenant(store, "no spaces please", 1.0)
    with pytest.raises(NotFound, match="no tenant named 'nobody'"):
        service.rotate_token(store, "nobody", 1.0)
