"""The store's SQLite set-up: a store that checkpoints in the background leaves its commits light."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from copyloom.storage.db import Store, open_store


def fill(store: Store, rows: int) -> None:
    with store.write() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (n INTEGER PRIMARY KEY, text TEXT)")
    for start in range(0, rows, 1000):
        with store.write() as conn:
            conn.execute(
                sa.text("INSERT INTO filler (n, text) VALUES (:n, :text)"),
                [{"n": n, "text": "x" * 500} for n in range(start, start + 1000)],
            )


def test_by_default_commits_checkpoint_the_wal_themselves(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    fill(store, 20_000)  # about 2,500 pages: past the 1,000-page automatic checkpoint

    size = (tmp_path / "a.db").stat().st_size
    store.dispose()

    assert size > 5_000_000, "the rows reached the database file without an explicit checkpoint"


def test_a_background_checkpointing_store_leaves_the_wal_to_its_checkpoint_call(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    store = open_store(f"sqlite:///{path}", background_checkpoint=True)
    fill(store, 20_000)
    size_before = path.stat().st_size

    store.checkpoint()

    size_after = path.stat().st_size
    store.dispose()
    assert store.checkpoints_in_background
    assert size_before < 1_000_000, "no commit copied the WAL into the database file"
    assert size_after > 5_000_000, "the checkpoint did"


def test_checkpoint_runs_on_either_backend(store: Store) -> None:
    store.checkpoint()  # a no-op on PostgreSQL

    with store.read() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
