"""Fixtures for tests that need a store: real SQLite and PostgreSQL stores, a real HTTP server, tenants
and experiments. The conftest.py of each folder whose tests use them imports them from here, so the
pure tests (engine, domain, bench) never import a driver or a web framework.

PostgreSQL runs on 127.0.0.1:5432 on the project's machines (trust auth, database `test`). Each test
gets its own schema. With CI=true an unreachable server fails the tests; elsewhere they skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from copyloom.server import ThreadedServer, build_app
from copyloom.settings import Settings, load_settings
from copyloom.storage import migrate
from copyloom.storage.db import Store, open_store
from tests.helpers import METRICS_TOKEN, Api, Workspace, make_workspace

PG_DSN = os.environ.get("COPYLOOM_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_DSN} is unreachable: {exc}"


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    problem = _postgres_reachable()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem + " (CI=true: the PostgreSQL tests must run)")
        pytest.skip(problem)
    return PG_DSN


def _postgres_schema_url(dsn: str) -> Iterator[str]:
    schema = "t_" + secrets.token_hex(6)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, then a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'copyloom.db'}"
        return
    yield from _postgres_schema_url(request.getfixturevalue("postgres_dsn"))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = open_store(database_url)
    migrate.upgrade(store)
    yield store
    store.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings({}).replace(
        database_url=database_url,
        public_base_url="https://cl.example.test",
        journal_dir=str(tmp_path / "journal"),  # never a folder shared with another test's store
        metrics_token=METRICS_TOKEN,
    )


@pytest.fixture
def workspace(store: Store) -> Workspace:
    return make_workspace(store, "acme")


@pytest.fixture
def api(settings: Settings, store: Store) -> Iterator[Api]:
    # A loaded test machine can stall a commit for a second: budgets far past that keep these tests about
    # what they test (tests/web/test_budget.py and tests/test_outage.py cover the budget and the journal).
    fast = settings.replace(
        cache_refresh_s=0.05, max_body_bytes=64_000, response_budget_ms=10_000.0, journal_after_ms=10_000.0
    )
    with (
        ThreadedServer(build_app(fast, store, with_learner=False)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield Api(server.url, client)
