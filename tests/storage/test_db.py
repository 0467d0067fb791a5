"""The store's SQLite set-up: a store that checkpoints in the background leaves its commits light, and
writers on one database file take turns on a lock that a dead holder cannot keep."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest
import sqlalchemy as sa

from copyloom.errors import StoreUnavailable
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


def _hold_writer_lock(store: Store, held: Event, release: Event) -> None:
    assert store.writer_lock is not None
    with store.writer_lock.hold():
        held.set()
        release.wait(30)


def _write_in_thread(store: Store, n: int) -> threading.Thread:
    def write() -> None:
        with store.write() as conn:
            conn.execute(sa.text("INSERT INTO filler (n, text) VALUES (:n, 'x')"), {"n": n})

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_a_write_waits_while_another_process_holds_the_writer_lock(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    fill(store, 1)  # this process has opened its lock file before the fork
    fork = multiprocessing.get_context("fork")
    held, release = fork.Event(), fork.Event()
    holder = fork.Process(target=_hold_writer_lock, args=(store, held, release))
    holder.start()
    assert held.wait(30)

    writer = _write_in_thread(store, 1_000_001)
    writer.join(0.5)
    waited = writer.is_alive()
    release.set()
    holder.join(30)
    writer.join(30)

    with store.read() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM filler WHERE n = 1000001")).scalar()
    store.dispose()
    assert waited, "the forked holder's lock kept this process's write out"
    assert not writer.is_alive(), "the write went through once the lock was released"
    assert stored == 1


def test_the_writer_lock_of_a_killed_process_is_free_again(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'd.db'}")
    fill(store, 1)
    fork = multiprocessing.get_context("fork")
    held, release = fork.Event(), fork.Event()
    holder = fork.Process(target=_hold_writer_lock, args=(store, held, release))
    holder.start()
    assert held.wait(30)

    os.kill(holder.pid or 0, signal.SIGKILL)
    holder.join(30)
    writer = _write_in_thread(store, 1_000_002)
    writer.join(30)

    store.dispose()
    assert not writer.is_alive(), "the kernel released the dead holder's flock"


def _open_descriptors_of(path: str) -> int:
    folder = Path("/proc/self/fd")
    return sum(1 for fd in folder.iterdir() if os.path.realpath(fd) == path)


def test_disposing_of_the_store_closes_its_lock_file_and_a_later_write_reopens_it(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'g.db'}")
    assert store.writer_lock is not None
    fill(store, 1)
    held_after_a_write = _open_descriptors_of(store.writer_lock.path)

    store.dispose()
    held_after_dispose = _open_descriptors_of(store.writer_lock.path)
    with store.write() as conn:
        conn.execute(sa.text("INSERT INTO filler (n, text) VALUES (-1, 'again')"))

    store.dispose()
    assert (held_after_a_write, held_after_dispose) == (1, 0)
    with open_store(f"sqlite:///{tmp_path / 'g.db'}").read() as conn:
        assert conn.execute(sa.text("SELECT text FROM filler WHERE n = -1")).scalar() == "again"


def test_only_a_sqlite_file_has_a_writer_lock(tmp_path: Path) -> None:
    file_store = open_store(f"sqlite:///{tmp_path / 'e.db'}")

    assert file_store.writer_lock is not None
    assert file_store.writer_lock.path == str(tmp_path / "e.db-writer")
    assert open_store("sqlite://").writer_lock is None
    assert open_store("sqlite:///:memory:").writer_lock is None


def test_a_writer_lock_in_a_missing_folder_is_an_unavailable_store(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'gone' / 'f.db'}")

    with pytest.raises(
        StoreUnavailable, match=r"store: unavailable \(writer lock: No such file or directory\)"
    ):
        fill(store, 1)
