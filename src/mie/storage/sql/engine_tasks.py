"""The engine store's task statements (see mie.storage.engine.EngineTx), for SQLite and PostgreSQL.

The statements are built once, with bound parameters, and reused: SQLAlchemy then finds their compiled form in its
cache without rebuilding the expression or its cache key, which was most of the cost of a scheduler step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Executable,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from mie.storage.engine import DONE, PENDING, RUNNING, WAITING, DueTask, LostTask, StageTask, TaskProgress, TaskRow
from mie.storage.sql.tables import operations, tasks


class ByIds:
    """A statement over a list of keys: ``column = :b_id`` for one key (by far the most common case, and half
    the cost of an expanding ``IN``), ``column IN (...)`` for several."""

    def __init__(self, column: ColumnElement[Any], build: Callable[[ColumnElement[bool]], Executable]) -> None:
        self._one = build(column == bindparam("b_id"))
        self._many = build(column.in_(bindparam("b_ids", expanding=True)))

    def run(self, conn: Connection, keys: Sequence[Any], params: Mapping[str, Any] | None = None) -> CursorResult[Any]:
        """Execute for ``keys`` (with more bound ``params``)."""
        if len(keys) == 1:
            return conn.execute(self._one, {**(params or {}), "b_id": keys[0]})
        return conn.execute(self._many, {**(params or {}), "b_ids": list(keys)})


_IN_STAGE = (tasks.c.execution_id == bindparam("b_execution")) & (tasks.c.stage == bindparam("b_stage"))
_INSERT_TASKS = insert(tasks)
_TASKS_BY_ID = ByIds(tasks.c.id, lambda where: select(tasks).where(where))
_RELEASE = {"lease_owner": None, "lease_until": None, "outcome": None}
_RETRY = (
    update(tasks)
    .where(tasks.c.id == bindparam("b_id"))
    .values(state=PENDING, attempt=bindparam("v_attempt"), due_at=bindparam("v_due"), **_RELEASE)
)
_POLL = (
    update(tasks)
    .where(tasks.c.id == bindparam("b_id"))
    .values(
        state=PENDING,
        phase=bindparam("v_phase"),
        payload=bindparam("v_payload"),
        attempt=0,
        polls=bindparam("v_polls"),
        due_at=bindparam("v_due"),
        **_RELEASE,
    )
)
_STORE_DONE = (
    update(tasks).where(tasks.c.id == bindparam("b_id")).values(state=DONE, output=bindparam("b_output"), **_RELEASE)
)
_DELETE_IDS = ByIds(tasks.c.id, lambda where: delete(tasks).where(where))
_DELETE_EXECUTIONS = ByIds(tasks.c.execution_id, lambda where: delete(tasks).where(where))
_TASKS_OF = ByIds(
    tasks.c.execution_id,
    lambda where: (
        select(tasks.c.id, tasks.c.execution_id, tasks.c.stage, tasks.c.state, tasks.c.output)
        .where(where)
        .order_by(tasks.c.execution_id, tasks.c.stage, tasks.c.branch)
    ),
)
_WAITS = select(tasks.c.id, tasks.c.payload).where(_IN_STAGE & (tasks.c.state == WAITING))
_COUNT_STAGE = select(func.count()).where(_IN_STAGE)
_PROGRESS = (
    select(tasks.c.operation, tasks.c.state, tasks.c.phase, tasks.c.attempt, tasks.c.progress)
    .where(_IN_STAGE)
    .order_by(tasks.c.branch)
)
_RUNNING_OF = (
    select(tasks.c.operation, func.count())
    .where((tasks.c.state == RUNNING) & tasks.c.operation.in_(bindparam("b_ops", expanding=True)))
    .group_by(tasks.c.operation)
)
_OPERATIONS = ByIds(operations.c.name, lambda where: select(operations.c.name, operations.c.doc).where(where))

_LOST_COLUMNS = (tasks.c.id, tasks.c.attempt, tasks.c.payload, tasks.c.execution_id, tasks.c.stage, tasks.c.outcome)
_EXPIRED = select(*_LOST_COLUMNS).where((tasks.c.state == RUNNING) & (tasks.c.lease_until < bindparam("b_now")))
_NODE_TASKS = select(*_LOST_COLUMNS).where(
    (tasks.c.state == RUNNING) & tasks.c.lease_owner.like(bindparam("b_pattern"))
)
_LEASE_IS = (tasks.c.id == bindparam("b_id")) & (tasks.c.lease_owner == bindparam("b_token"))
_RENEW = update(tasks).where(_LEASE_IS & (tasks.c.state == RUNNING)).values(lease_until=bindparam("v_until"))
_RELEASE_LEASE = (
    update(tasks)
    .where(_LEASE_IS & (tasks.c.state == RUNNING))
    .values(state=PENDING, due_at=bindparam("v_due"), **_RELEASE)
)
# SKIP LOCKED keeps schedulers of several nodes (PostgreSQL) off each other's rows; SQLite ignores it.
_DUE = (
    select(tasks.c.id, tasks.c.operation, tasks.c.phase, tasks.c.payload)
    .where((tasks.c.state == PENDING) & (tasks.c.due_at <= bindparam("b_now")))
    .order_by(tasks.c.due_at, tasks.c.id)
    .limit(bindparam("b_limit"))
    .with_for_update(skip_locked=True)
)
_DUE_EXCEPT = (
    select(tasks.c.id, tasks.c.operation, tasks.c.phase, tasks.c.payload)
    .where(
        (tasks.c.state == PENDING)
        & (tasks.c.due_at <= bindparam("b_now"))
        & tasks.c.operation.not_in(bindparam("b_ops", expanding=True))
    )
    .order_by(tasks.c.due_at, tasks.c.id)
    .limit(bindparam("b_limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = ByIds(
    tasks.c.id,
    lambda where: (
        update(tasks)
        .where(where & (tasks.c.state == PENDING))
        .values(
            state=RUNNING,
            lease_owner=bindparam("v_token"),
            lease_until=bindparam("v_until"),
            progress=None,
            outcome=None,
        )
    ),
)
_MIN_DUE = select(func.min(tasks.c.due_at)).where(tasks.c.state == PENDING).scalar_subquery()
_MIN_DUE_EXCEPT = (
    select(func.min(tasks.c.due_at))
    .where((tasks.c.state == PENDING) & tasks.c.operation.not_in(bindparam("b_ops", expanding=True)))
    .scalar_subquery()
)
_MIN_LEASE = select(func.min(tasks.c.lease_until)).where(tasks.c.state == RUNNING).scalar_subquery()
_TIMERS = select(_MIN_DUE, _MIN_LEASE)
_TIMERS_EXCEPT = select(_MIN_DUE_EXCEPT, _MIN_LEASE)
_LEASE_TIMER = select(_MIN_LEASE)
_REPORTED = ByIds(
    tasks.c.id,
    lambda where: select(tasks).where(where & (tasks.c.state == RUNNING) & tasks.c.outcome.is_not(None)),
)

# The worker side (each its own transaction).
_SET_PROGRESS = update(tasks).where(_LEASE_IS).values(progress=bindparam("v_progress"))
_STILL_MINE = select(tasks.c.id).where(_LEASE_IS & (tasks.c.state == RUNNING))
_REPORT = update(tasks).where(_LEASE_IS & (tasks.c.state == RUNNING)).values(outcome=bindparam("v_outcome"))


class TaskStatements:
    """The task half of :class:`mie.storage.sql.engine_store.SqlEngineTx` (``self.conn`` is its connection)."""

    conn: Connection

    def tasks_by_ids(self, ids: Sequence[int]) -> Sequence[TaskRow]:
        if not ids:
            return []
        return cast(Sequence[TaskRow], _TASKS_BY_ID.run(self.conn, ids).all())

    def insert_tasks(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.conn.execute(_INSERT_TASKS, [{"outcome": None, **row} for row in rows])

    def retry_task(self, task_id: int, attempt: int, due: float) -> None:
        self.conn.execute(_RETRY, {"b_id": task_id, "v_attempt": attempt, "v_due": due})

    def poll_task(self, task_id: int, phase: str, payload: str, polls: int, due: float) -> None:
        self.conn.execute(
            _POLL, {"b_id": task_id, "v_phase": phase, "v_payload": payload, "v_polls": polls, "v_due": due}
        )

    def store_done(self, outputs: Mapping[int, str]) -> None:
        if outputs:
            self.conn.execute(_STORE_DONE, [{"b_id": task_id, "b_output": out} for task_id, out in outputs.items()])

    def delete_tasks(self, ids: Sequence[int]) -> None:
        if ids:
            _DELETE_IDS.run(self.conn, ids)

    def delete_tasks_of(self, execution_ids: Sequence[str]) -> None:
        if execution_ids:
            _DELETE_EXECUTIONS.run(self.conn, execution_ids)

    def stage_tasks_of(self, execution_ids: Sequence[str]) -> Sequence[StageTask]:
        return cast(Sequence[StageTask], _TASKS_OF.run(self.conn, execution_ids).all())

    def waiting_tasks(self, execution_id: str, stage: str) -> Sequence[tuple[int, str]]:
        rows = self.conn.execute(_WAITS, {"b_execution": execution_id, "b_stage": stage}).all()
        return [(r.id, r.payload) for r in rows]

    def count_stage_tasks(self, execution_id: str, stage: str) -> int:
        return int(self.conn.execute(_COUNT_STAGE, {"b_execution": execution_id, "b_stage": stage}).scalar_one())

    def stage_progress(self, execution_id: str, stage: str) -> Sequence[TaskProgress]:
        rows = self.conn.execute(_PROGRESS, {"b_execution": execution_id, "b_stage": stage}).all()
        return cast(Sequence[TaskProgress], rows)

    def running_counts(self, operations: Sequence[str]) -> dict[str, int]:
        wanted = sorted(set(operations))
        if not wanted:
            return {}
        return {op: int(n) for op, n in self.conn.execute(_RUNNING_OF, {"b_ops": wanted})}

    def operation_texts(self, names: Sequence[str]) -> Sequence[tuple[str, str]]:
        if not names:
            return []
        return [(r.name, r.doc) for r in _OPERATIONS.run(self.conn, names)]

    def due_tasks(self, now: float, limit: int, exclude: Sequence[str] = ()) -> Sequence[DueTask]:
        params: dict[str, Any] = {"b_now": now, "b_limit": limit}
        if exclude:
            return cast(Sequence[DueTask], self.conn.execute(_DUE_EXCEPT, {**params, "b_ops": list(exclude)}).all())
        return cast(Sequence[DueTask], self.conn.execute(_DUE, params).all())

    def claim_tasks(self, ids: Sequence[int], token: str, until: float) -> None:
        if ids:
            _CLAIM.run(self.conn, ids, {"v_token": token, "v_until": until})

    def renew_leases(self, leases: Mapping[int, str], until: float) -> None:
        if leases:
            self.conn.execute(_RENEW, [{"b_id": i, "b_token": t, "v_until": until} for i, t in leases.items()])

    def release_leases(self, leases: Mapping[int, str], due: float) -> None:
        if leases:
            self.conn.execute(_RELEASE_LEASE, [{"b_id": i, "b_token": t, "v_due": due} for i, t in leases.items()])

    def expired_tasks(self, now: float) -> Sequence[LostTask]:
        return cast(Sequence[LostTask], self.conn.execute(_EXPIRED, {"b_now": now}).all())

    def node_tasks(self, owner_prefix: str) -> Sequence[LostTask]:
        return cast(Sequence[LostTask], self.conn.execute(_NODE_TASKS, {"b_pattern": f"{owner_prefix}%"}).all())

    def timers(self, exclude: Sequence[str] | None) -> tuple[float | None, float | None]:
        if exclude is None:
            lease = self.conn.execute(_LEASE_TIMER).scalar_one()
            return None, None if lease is None else float(lease)
        if exclude:
            due, lease = self.conn.execute(_TIMERS_EXCEPT, {"b_ops": list(exclude)}).one()
        else:
            due, lease = self.conn.execute(_TIMERS).one()
        return (None if due is None else float(due)), (None if lease is None else float(lease))

    def reported(self, ids: Sequence[int]) -> Sequence[TaskRow]:
        if not ids:
            return []
        return cast(Sequence[TaskRow], _REPORTED.run(self.conn, ids).all())


def set_progress(conn: Connection, task_id: int, token: str, progress: str) -> bool:
    """See :meth:`mie.storage.engine.WorkerStore.set_progress`."""
    return bool(conn.execute(_SET_PROGRESS, {"b_id": task_id, "b_token": token, "v_progress": progress}).rowcount)


def still_mine(conn: Connection, task_id: int, token: str) -> bool:
    """See :meth:`mie.storage.engine.WorkerStore.still_mine`."""
    return conn.execute(_STILL_MINE, {"b_id": task_id, "b_token": token}).first() is not None


def report(conn: Connection, task_id: int, token: str, outcome: str) -> bool:
    """See :meth:`mie.storage.engine.WorkerStore.report`."""
    return bool(conn.execute(_REPORT, {"b_id": task_id, "b_token": token, "v_outcome": outcome}).rowcount)
