"""Migrations: `upgrade` builds the schema the tables describe, on SQLite and PostgreSQL, idempotently."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from copyloom.storage import migrate
from copyloom.storage.db import Store, open_store
from copyloom.storage.tables import metadata


def test_migrations_match_the_tables(store: Store) -> None:
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)

    assert differences == []


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    store = open_store(database_url)

    first = migrate.upgrade(store)
    second = migrate.upgrade(store)

    assert first == second == migrate.head_revision() == migrate.current_revision(store)
    store.dispose()


def test_sqlite_store_runs_in_wal_mode(tmp_path: object) -> None:
    store = open_store(f"sqlite:///{tmp_path}/wal.db")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.dispose()
