"""The store: one SQLAlchemy engine, with read and write transactions that behave alike on both backends."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from copyloom.errors import StoreUnavailable

# Ids per `IN (...)` list: far below PostgreSQL's 65,535 bind parameters per statement and SQLite's
# 32,766, whatever a caller asks for at once.
MAX_IDS_PER_QUERY = 500


def id_chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    """`ids` in lists of at most `MAX_IDS_PER_QUERY`, for queries with an `IN (...)` list."""
    for start in range(0, len(ids), MAX_IDS_PER_QUERY):
        yield list(ids[start : start + MAX_IDS_PER_QUERY])


_WRITE = "copyloom_write"
_DEFAULT_CACHE_KIB = 2000  # SQLite's default page cache
_BULK_CACHE_KIB = 65536
_WRITER_WAIT_S = 30.0  # as SQLite's busy timeout
_WRITER_POLL_S = 0.0002
_WRITER_BUSY = f"store: the SQLite writer lock was not free within {_WRITER_WAIT_S:.0f} s"


class WriterLock:
    """One writer at a time on a SQLite file, across threads and processes, taken before `BEGIN
    IMMEDIATE`: an exclusive `flock` on `<database>-writer` (released by the kernel if its holder dies,
    even by SIGKILL) behind a lock for the process's own threads.

    Without it, a writer that finds the database locked sleeps in SQLite's busy handler for 1, 2, 5,
    10, 15 … ms before it looks again, however soon the lock is free: with two serving processes on one
    file, those sleeps made the fixed-rate p99 latency (`benchmarks/serve.py`). Here a waiter looks again
    every 0.2 ms. The lock file's descriptor is opened per process, so a forked worker never shares its
    parent's lock.
    """

    def __init__(self, database: str) -> None:
        self.path = f"{database}-writer"
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock for the block.

        Raises:
            StoreUnavailable: not free within 30 s, or the lock file cannot be opened.
        """
        deadline = time.monotonic() + _WRITER_WAIT_S
        if not self._threads.acquire(timeout=_WRITER_WAIT_S):
            raise StoreUnavailable(_WRITER_BUSY)
        try:
            fd = self._descriptor()
            while not _try_flock(fd):
                if time.monotonic() > deadline:
                    raise StoreUnavailable(_WRITER_BUSY)
                time.sleep(_WRITER_POLL_S)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        """Close this process's descriptor of the lock file once no thread holds it (the next `hold`
        opens it again)."""
        with self._threads:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:  # as SQLite's own "unable to open database file": not a caller's bug
                raise StoreUnavailable(f"store: unavailable (writer lock: {exc.strerror})") from exc
            self._pid = os.getpid()
        return self._fd


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class Store:
    """A database reached through SQLAlchemy Core.

    SQLite runs in WAL mode with `synchronous=FULL` (an acknowledged commit survives `kill -9` and power
    loss) and write transactions start with `BEGIN IMMEDIATE`, so that concurrent writers queue instead
    of failing when a read lock cannot be upgraded: on a database file, on a `WriterLock`; SQLite's busy
    timeout still covers other programs writing to it.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        checkpoints_in_background: bool = False,
        writer_lock: WriterLock | None = None,
    ) -> None:
        self.engine = engine
        self.checkpoints_in_background = checkpoints_in_background
        self.writer_lock = writer_lock

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that commits on success and rolls back on any exception."""
        turn = nullcontext() if self.writer_lock is None else self.writer_lock.hold()
        with turn, self._connect(write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def bulk_write(self) -> Iterator[Connection]:
        """A write transaction for a large batch (a Currents file): like `write`, and on SQLite with a
        page cache of `_BULK_CACHE_KIB` for its duration.

        The default 2 MiB cache is far smaller than the indexes that tens of thousands of random event
        ids are inserted into, and pages evicted mid-transaction are written to the WAL more than once.
        """
        with self.write() as conn:
            if not self.is_sqlite:
                yield conn
                return
            conn.exec_driver_sql(f"PRAGMA cache_size=-{_BULK_CACHE_KIB}")
            try:
                yield conn
            finally:
                conn.exec_driver_sql(f"PRAGMA cache_size=-{_DEFAULT_CACHE_KIB}")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (rolled back at the end)."""
        with self._connect(write=False) as conn, conn.begin() as tx:
            yield conn
            tx.rollback()

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect().execution_options(**{_WRITE: write}) as conn:
                yield conn
        except (OperationalError, InterfaceError) as exc:
            # The server is down, unreachable or locked past the busy timeout: not a bug in the caller.
            raise StoreUnavailable(f"store: unavailable ({type(exc.orig).__name__})") from exc

    def check_writable(self) -> None:
        """Open a write transaction and commit it: the store is reachable and takes writes.

        Raises:
            StoreUnavailable: it does not.
        """
        with self.write() as conn:
            conn.execute(sa.text("SELECT 1"))

    def checkpoint(self) -> None:
        """Copy committed WAL pages into the SQLite database file, without waiting for readers or writers
        (PASSIVE): for a store opened with `background_checkpoint`, whose commits never do it."""
        if not self.is_sqlite:
            return
        with self._connect(write=False) as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")  # outside any transaction
            finally:
                cursor.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.writer_lock is not None:
            self.writer_lock.close()


def open_store(url: str, *, pool_size: int = 10, background_checkpoint: bool = False) -> Store:
    """Create the engine for a database URL (sqlite:///path or postgresql+psycopg://...).

    With `background_checkpoint`, a SQLite commit never copies the WAL into the database file itself
    (SQLite's default once the WAL passes 1,000 pages: the commit that crosses it copies and syncs);
    the owner calls `Store.checkpoint` off the request path instead. No effect on PostgreSQL.
    """
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, hide_parameters=True, connect_args={"timeout": 30, "check_same_thread": False}
        )
        _configure_sqlite(engine, autocheckpoint=not background_checkpoint)
        database = engine.url.database or ""
        is_file = database not in ("", ":memory:") and not database.startswith("file:")
        return Store(
            engine,
            checkpoints_in_background=background_checkpoint,
            writer_lock=WriterLock(os.path.abspath(database)) if is_file else None,
        )
    # A bounded connect: a server cut off without a reset must fail, not hang a thread for minutes.
    engine = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        hide_parameters=True,  # errors and logs name the statement, never a bound value
        connect_args={"connect_timeout": 5},
    )
    return Store(engine)


def _configure_sqlite(engine: Engine, *, autocheckpoint: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own is deferred and late).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        pragmas = (
            "journal_mode=WAL",
            "synchronous=FULL",
            "busy_timeout=30000",
            "foreign_keys=ON",
            "temp_store=MEMORY",
            *(() if autocheckpoint else ("wal_autocheckpoint=0",)),
        )
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def insert_ignoring_conflicts(
    conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> int:
    """INSERT rows, skipping any that clash with the unique key `keys`; returns how many were inserted."""
    if not rows:
        return 0
    # RETURNING, not rowcount: drivers report -1 for a conflict-skipping INSERT in some modes.
    stmt = (
        dialect_insert(conn, table)
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(table.c[keys[0]])
    )
    return sum(len(conn.execute(stmt, row).all()) for row in rows)


def dialect_insert(conn: Connection, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT with the dialect's ON CONFLICT support."""
    return sqlite.insert(table) if conn.dialect.name == "sqlite" else postgresql.insert(table)


def add_to_counter(conn: Connection, table: sa.Table, key: dict[str, Any], column: str, amount: int) -> None:
    """Upsert `table[key].column += amount`."""
    stmt = dialect_insert(conn, table).values(**key, **{column: amount})
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key), set_={column: table.c[column] + stmt.excluded[column]}
    )
    conn.execute(stmt)
