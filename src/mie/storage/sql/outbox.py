"""The outbox on SQL: one table written in the same transaction as each change (``mie.storage.outbox``).

Every outbox row is written by :func:`append_many`, so its format and ordering live in one place.

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

import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, RootTransaction, func, insert, literal, select
from sqlalchemy import event as sa_event

from mie.storage.outbox import Change
from mie.storage.sql.db import Database, dumps, loads
from mie.storage.sql.tables import outbox
from mie.types import JSONDict

#: Key of the PostgreSQL advisory lock that orders outbox appends ("mieoutbx"); any constant shared by every node.
OUTBOX_LOCK_KEY = 0x6D69656F75746278

# Built once: the insert runs in every transaction that changes something.
_INSERT = insert(outbox)
_LOCK = select(func.pg_advisory_xact_lock(literal(OUTBOX_LOCK_KEY, BigInteger)))
_LAST_SEQ = select(func.coalesce(func.max(outbox.c.seq), 0))
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
    registration must not race with the event running); :func:`append_many` installs it on first use too, for
    connections of other engines.
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


def append_many(conn: Connection, events: Iterable[Change]) -> None:
    """Add ``(source, asset_id, payload)`` events, in order, inside the caller's transaction (one statement).

    On PostgreSQL the rows are inserted when the transaction commits (see the module docstring), so they are not
    visible to reads inside the transaction.
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


class SqlOutbox:
    """:class:`~mie.storage.outbox.Outbox` on the ``outbox`` table of ``db``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        if not db.is_sqlite:
            with db.read() as conn:
                install_commit_hook(conn.engine)

    def append_many(self, tx: Any, events: Iterable[Change]) -> None:
        """Add events inside ``tx``, a :class:`~sqlalchemy.Connection` in a transaction of this database."""
        append_many(tx, events)

    def last_seq(self) -> int:
        """The newest sequence number (0 when the log is empty)."""
        with self._db.read() as conn:
            return int(conn.execute(_LAST_SEQ).scalar_one())

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

    def describe(self) -> str:
        """The database URL."""
        return self._db.url
