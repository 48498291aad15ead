"""The change log: an outbox table written in the same transaction as each change, read by consumers by offset.

Writers call :meth:`ChangeLog.append` (or :meth:`ChangeLog.append_many`) inside their transaction and
:meth:`ChangeLog.notify` after it commits, so a consumer woken by ``notify`` always finds the rows. Nothing is lost
across a restart: the rows are the log. Every outbox row is written here, so its format and ordering live in one place.

Consumers read ``seq > offset``, so a row must never become visible after a row with a larger ``seq``: that row
would be skipped for ever. SQLite has one writer at a time (``BEGIN IMMEDIATE``), so commit order is ``seq`` order
and rows are inserted at once. PostgreSQL runs writers concurrently and takes ``seq`` from a sequence at insert
time, so a transaction that inserted early and commits late would publish a smaller ``seq`` behind a reader's
back. There the events of a transaction are held until it commits and inserted by a commit hook that first takes a
transaction-level advisory lock: appends are serialised from the insert to the commit, so ``seq`` order is commit
order. The lock is held for one insert and the commit only, and nothing else is locked after it, so it cannot
take part in a deadlock. As a bonus a rolled-back transaction draws no ``seq``, so numbers are not wasted (only a
database crash can still skip some: consumers follow the order, they must not expect every number).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, RootTransaction, func, insert, literal, select
from sqlalchemy import event as sa_event

from mie.storage.sql.db import Database, dumps, loads
from mie.storage.sql.tables import outbox
from mie.types import JSONDict

DATAPLANE = "Dataplane"
WORKFLOW_EXECUTION = "WorkflowExecution"

#: One change event: ``(source, asset_id, payload)``.
Change = tuple[str, str | None, JSONDict]

#: Key of the PostgreSQL advisory lock that orders outbox appends ("mieoutbx"); any constant shared by every node.
OUTBOX_LOCK_KEY = 0x6D69656F75746278
#: Seconds between reads of a long poll waiting in an event loop when no notify came (events of other nodes).
ASYNC_POLL = 1.0

# Built once: the insert runs in every transaction that changes something.
_INSERT = insert(outbox)
_LOCK = select(func.pg_advisory_xact_lock(literal(OUTBOX_LOCK_KEY, BigInteger)))
# PostgreSQL: rows waiting for their transaction's commit, by transaction (a rolled-back one just drops its entry).
_pending: weakref.WeakKeyDictionary[RootTransaction, list[dict[str, Any]]] = weakref.WeakKeyDictionary()
_hooked: weakref.WeakSet[Engine] = weakref.WeakSet()
_hook_lock = threading.Lock()


def _defers(conn: Connection) -> bool:
    """Whether outbox rows of ``conn`` wait for the commit (PostgreSQL) or are inserted at once (SQLite)."""
    return conn.dialect.name == "postgresql"


def install_commit_hook(engine: Engine) -> None:
    """Make ``engine`` insert held outbox rows when a transaction commits (idempotent).

    One listener per engine, installed before the engine is shared between threads (SQLAlchemy's event
    registration must not race with the event running); :meth:`ChangeLog.append_many` installs it on first use
    too, for connections of other engines.
    """
    with _hook_lock:
        if engine not in _hooked:
            sa_event.listen(engine, "commit", _flush)
            _hooked.add(engine)


def _flush(conn: Connection) -> None:
    """Commit hook: insert the transaction's held rows under the advisory lock, just before COMMIT."""
    transaction = conn.get_transaction()
    rows = _pending.pop(transaction, None) if transaction is not None else None
    if rows:
        conn.execute(_LOCK)
        conn.execute(_INSERT, rows)


class ChangeLog:
    """Append, read and follow the outbox."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cond = threading.Condition()
        self._version = 0
        #: Long polls waiting in event loops (``wait_async``): each loop's event is set on ``notify``.
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        if not db.is_sqlite:
            with db.read() as conn:
                install_commit_hook(conn.engine)

    @staticmethod
    def append(conn: Connection, source: str, asset_id: str | None, payload: JSONDict) -> None:
        """Add one event inside the caller's transaction."""
        ChangeLog.append_many(conn, [(source, asset_id, payload)])

    @staticmethod
    def append_many(conn: Connection, events: Iterable[Change]) -> None:
        """Add ``(source, asset_id, payload)`` events, in order, inside the caller's transaction (one statement).

        On PostgreSQL the rows are inserted when the transaction commits (see the module docstring), so they are
        not visible to reads inside the transaction.
        """
        created = time.time()
        rows = [
            {"source": source, "asset_id": asset_id, "created": created, "payload": dumps(payload)}
            for source, asset_id, payload in events
        ]
        if not rows:
            return
        if not _defers(conn):
            conn.execute(_INSERT, rows)
            return
        transaction = conn.get_transaction()
        if transaction is None:
            raise RuntimeError("ChangeLog.append_many needs a connection inside a transaction")
        if conn.engine not in _hooked:
            install_commit_hook(conn.engine)
        held = _pending.get(transaction)
        if held is None:
            _pending[transaction] = rows
        else:
            held.extend(rows)

    def notify(self) -> None:
        """Wake followers; call after the transaction that appended has committed."""
        with self._cond:
            self._version += 1
            self._cond.notify_all()
            waiters = list(self._async_waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that event loop is closed: its waiter is gone
                loop.call_soon_threadsafe(event.set)

    def last_seq(self) -> int:
        """The newest sequence number (0 when the log is empty)."""
        with self._db.read() as conn:
            return int(conn.execute(select(func.coalesce(func.max(outbox.c.seq), 0))).scalar_one())

    def read(self, after: int = 0, limit: int = 100, source: str | None = None) -> list[JSONDict]:
        """Events with ``seq > after``, oldest first, at most ``limit``."""
        query = select(outbox).where(outbox.c.seq > after).order_by(outbox.c.seq).limit(limit)
        if source:
            query = query.where(outbox.c.source == source)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "seq": row.seq,
                "source": row.source,
                "AssetId": row.asset_id,
                "created": row.created,
                "payload": loads(row.payload),
            }
            for row in rows
        ]

    def wait(self, after: int, timeout: float) -> list[JSONDict]:
        """Like :meth:`read`, but block up to ``timeout`` seconds for an event when there is none yet."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._version
            events = self.read(after)
            remaining = deadline - time.monotonic()
            if events or remaining <= 0:
                return events
            with self._cond:
                if self._version == seen:
                    self._cond.wait(remaining)

    async def wait_async(self, after: int, timeout: float) -> list[JSONDict]:
        """:meth:`wait` for an event loop: the wait holds no thread (a long poll per client must not take one from
        the pool every synchronous route runs in). Reads run briefly on the loop's default executor.

        Besides :meth:`notify`, the log is read again every :data:`ASYNC_POLL` seconds, so events committed by
        another node (PostgreSQL) are seen too.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waiter = (loop, asyncio.Event())
        with self._cond:
            self._async_waiters.add(waiter)
        try:
            while True:
                waiter[1].clear()  # before reading: a notify from now on wakes the wait below
                events = await asyncio.to_thread(self.read, after)
                remaining = deadline - loop.time()
                if events or remaining <= 0:
                    return events
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter[1].wait(), min(remaining, ASYNC_POLL))
        finally:
            with self._cond:
                self._async_waiters.discard(waiter)

    def follow(self, after: int, stop: threading.Event, batch: int = 100) -> Iterator[JSONDict]:
        """Yield events after ``after`` for ever (until ``stop`` is set), waking on ``notify``."""
        while not stop.is_set():
            for event in self.wait(after, timeout=1.0):
                after = int(event["seq"])
                yield event

    def __repr__(self) -> str:
        return f"ChangeLog({self._db.url!r})"


def execution_event(record: JSONDict) -> dict[str, Any]:
    """MIE's workflow-stream payload for a status change."""
    return {
        "Id": record["Id"],
        "AssetId": record.get("AssetId"),
        "Status": record.get("Status"),
        "CurrentStage": record.get("CurrentStage"),
        "Message": record.get("Message"),
        "Globals": record.get("Globals", {}),
        "Configuration": record.get("Configuration", {}),
        "Created": record.get("Created"),
    }
