"""Connections and transactions for SQLite (WAL) and PostgreSQL, and schema migration with Alembic."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from mie.errors import StorageError
from mie.storage.codec import dumps, loads

__all__ = ["Database", "dumps", "loads", "temporary_engine"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _owner_only(path: Path) -> None:
    """Create the SQLite file (and its folder) readable by its owner only, and tighten an existing one.

    SQLite gives the ``-wal`` and ``-shm`` files the database file's permissions, so they follow; existing ones are
    tightened too. The database holds secrets (webhook signing keys) in clear.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for item in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(item, 0o600)


class Database:
    """Owns the SQLAlchemy engines of one database.

    ``write()`` opens a transaction that holds the write lock from its first statement (SQLite
    ``BEGIN IMMEDIATE``): in WAL mode a deferred transaction that reads and then writes fails with
    SQLITE_BUSY when another writer committed in between, and busy_timeout does not help with that.
    ``read()`` opens a plain transaction that never blocks writers.

    SQLite has one writer at a time, and a writer that finds the lock taken waits in SQLite's busy handler, which
    sleeps and retries (1, 2, 5, 10 ... 100 ms): under load most of a write's latency was spent asleep there.
    Writers of this process therefore queue on an in-process lock first, handed over the moment the previous
    transaction ends; the busy handler is left for writers in other processes (CLI commands).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        # Re-entrant so that a (mistaken) nested write fails as it did before, on SQLite's own lock, not by hanging.
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.is_sqlite else contextlib.nullcontext()
        )
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                _owner_only(Path(parsed.database))
            self._writer = self._sqlite_engine(url, immediate=True)
            self._reader = self._sqlite_engine(url, immediate=False)
        else:
            self._writer = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
            self._reader = self._writer

    @staticmethod
    def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # A small pool of long-lived connections; SQLite connections are cheap but pragmas are per connection.
            pool_size=8,
            max_overflow=16,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin event below issue BEGIN itself (pysqlite's own handling is off).
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives process crashes (kill -9); only power loss can drop the last commits.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Straight to the driver: every transaction begins here, and SQLAlchemy's statement machinery would
            # cost more than the BEGIN itself.
            driver = conn.connection.dbapi_connection
            assert driver is not None  # a connection in use always has its driver connection
            driver.execute(begin)

        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction, committed on success and rolled back on error."""
        with self._write_lock:
            try:
                with self._writer.begin() as conn:
                    yield conn
            except OperationalError as exc:
                raise StorageError(f"database error: {exc.orig}") from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        try:
            with self._reader.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StorageError(f"database error: {exc.orig}") from exc

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self._writer.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._writer.dispose()
        if self._reader is not self._writer:
            self._reader.dispose()


def temporary_engine(url: str) -> Engine:
    """An engine without pooling, for one-off tools and tests."""
    return create_engine(url, poolclass=NullPool)
