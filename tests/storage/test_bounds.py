"""Store reads stay valid whatever a caller asks for at once: id lists are chunked below every backend's
bind-parameter limit, and database errors carry no bound values."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from copyloom.services import tenants
from copyloom.storage import experiments as experiment_repo
from copyloom.storage.db import Store
from tests.helpers import Workspace

# More than PostgreSQL's 65,535 bind parameters in one statement.
_MANY_IDS = 70_000


def test_experiments_and_allocations_by_ids_take_more_ids_than_a_statement_can_bind(
    workspace: Workspace,
) -> None:
    ids = [f"ex_unknown_{i}" for i in range(_MANY_IDS)] + [workspace.experiment_id]

    with workspace.store.read() as conn:
        found = experiment_repo.experiments_by_ids(conn, ids)
        allocations = experiment_repo.latest_allocations(conn, ids)

    assert [e.experiment_id for e in found] == [workspace.experiment_id]
    assert list(allocations) == [workspace.experiment_id]


def test_tokens_are_looked_up_in_chunks(workspace: Workspace) -> None:
    tokens = [f"unknown-{i}" for i in range(_MANY_IDS)] + [workspace.token]

    found = tenants.credentials_of_tokens(workspace.store, tokens)

    assert list(found) == [workspace.token]


def test_a_failing_statement_carries_no_bound_value(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    secret = "recipient-secret-value"
    caplog.set_level(logging.DEBUG)

    with pytest.raises(Exception) as raised, store.read() as conn:  # either store's own error
        conn.execute(sa.text("SELECT * FROM no_such_table WHERE x = :x"), {"x": secret})

    chain = [raised.value, raised.value.__cause__, raised.value.__context__]
    assert any(isinstance(exc, sa.exc.DBAPIError) for exc in chain)
    assert not any(secret in str(exc) for exc in chain)
    assert secret not in caplog.text
