"""The engine's store on SQLite and PostgreSQL (see mie.storage.engine): one unit of work = one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from mie.storage.sql import engine_tasks
from mie.storage.sql.db import Database
from mie.storage.sql.engine_executions import ExecutionStatements
from mie.storage.sql.engine_tasks import TaskStatements
from mie.types import JSONDict

#: Appends ``(source, asset_id, payload)`` change events inside a transaction (the change log's own writer, which
#: owns the outbox's row format and its commit ordering on PostgreSQL; handed over by the composition root).
ChangeAppender = Callable[[Connection, Iterable[tuple[str, str, Any]]], None]


class SqlEngineTx(TaskStatements, ExecutionStatements):
    """A unit of work on one SQLAlchemy connection inside its transaction."""

    __slots__ = ("_append", "conn")

    def __init__(self, conn: Connection, append: ChangeAppender) -> None:
        self.conn = conn
        self._append = append

    def append_changes(self, events: Sequence[tuple[str, str, JSONDict]]) -> None:
        if events:
            self._append(self.conn, events)


class SqlEngineStore:
    """:class:`mie.storage.engine.EngineStore` on a :class:`Database`."""

    def __init__(self, db: Database, append_changes: ChangeAppender) -> None:
        self.db = db
        self._append = append_changes

    @contextmanager
    def transaction(self) -> Iterator[SqlEngineTx]:
        with self.db.write() as conn:
            yield SqlEngineTx(conn, self._append)

    @contextmanager
    def reading(self) -> Iterator[SqlEngineTx]:
        with self.db.read() as conn:
            yield SqlEngineTx(conn, self._append)

    def joined(self, transaction: object) -> SqlEngineTx:
        if not isinstance(transaction, Connection):
            raise TypeError(f"not a transaction of this database: {transaction!r}")
        return SqlEngineTx(transaction, self._append)

    def set_progress(self, task_id: int, token: str, progress: str) -> bool:
        with self.db.write() as conn:
            return engine_tasks.set_progress(conn, task_id, token, progress)

    def still_mine(self, task_id: int, token: str) -> bool:
        with self.db.read() as conn:
            return engine_tasks.still_mine(conn, task_id, token)

    def renew(self, leases: Mapping[int, str], until: float) -> None:
        if leases:
            with self.db.write() as conn:
                SqlEngineTx(conn, self._append).renew_leases(leases, until)

    def report(self, task_id: int, token: str, outcome: str) -> bool:
        with self.db.write() as conn:
            return engine_tasks.report(conn, task_id, token, outcome)
