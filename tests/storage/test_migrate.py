"""Migrations: `upgrade` builds the schema the tables describe, on SQLite and PostgreSQL, idempotently."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from copyloom.services import tenants
from copyloom.storage import migrate
from copyloom.storage.db import Store, open_store
from copyloom.storage.experiments import load_experiment
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


def test_experiments_created_before_0005_keep_the_engine_defaults(database_url: str) -> None:
    store = open_store(database_url)
    config = migrate._config()
    with store.engine.begin() as conn:  # the schema as 0004 left it, with one experiment in it
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
        conn.exec_driver_sql(
            "INSERT INTO tenants (tenant_id, name, pseudonym_key, created_at) VALUES ('t1', 'acme', 'k', 0)"
        )
        conn.exec_driver_sql(
            "INSERT INTO experiments (experiment_id, tenant_id, name, mode, metric, recipient_field, sticky, "
            "status, created_at, updated_at) "
            "VALUES ('ex_old', 't1', 'old', 'broadcast', 'click', 'user_id', 'recipient', 'live', 0, 0)"
        )
        for position, variant in enumerate(("control", "v1")):
            conn.exec_driver_sql(
                "INSERT INTO variants (experiment_id, variant_id, position, is_control, texts_json) "
                f"VALUES ('ex_old', '{variant}', {position}, {str(position == 0).upper()}, "
                '\'{"subject": "s"}\')'
            )

    migrate.upgrade(store)
    with store.read() as conn:
        experiment = load_experiment(conn, "ex_old")

    assert experiment is not None
    definition = experiment.definition
    assert (definition.floor, definition.control_holdout, definition.min_sends_per_variant) == (
        0.01,
        0.0,
        100,
    )
    store.dispose()


def test_tokens_made_before_0012_are_serving_tokens(database_url: str) -> None:
    store = open_store(database_url)
    config = migrate._config()
    with store.engine.begin() as conn:  # the schema as 0011 left it, with one tenant and its token
        config.attributes["connection"] = conn
        command.upgrade(config, "0011")
        conn.exec_driver_sql(
            "INSERT INTO tenants (tenant_id, name, pseudonym_key, created_at) VALUES ('t1', 'acme', 'ab', 0)"
        )
        conn.exec_driver_sql(
            "INSERT INTO tokens (token_hash, tenant_id, created_at) "
            f"VALUES ('{tenants.hash_token('cl_old')}', 't1', 0)"
        )

    migrate.upgrade(store)
    credential = tenants.credential_of(store, "cl_old")

    assert (credential.tenant.name, credential.scope) == ("acme", "serving")
    store.dispose()
