"""Workers: where operators run. Threads by default; long-lived worker processes for operators that ask for them.

A worker calls the operator and hands an :class:`Outcome` to the scheduler's callback; it never changes a task's
state. The one thing a worker writes is the task's progress (best effort, guarded by the lease token), which also
tells it whether the task was cancelled meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select, update

from mie.dataplane.service import DataPlane
from mie.errors import OperatorError, OperatorTimeoutError
from mie.operators.context import Runtime
from mie.operators.invoke import invoke
from mie.operators.registry import OperatorRegistry
from mie.storage.sql.db import Database, dumps
from mie.storage.sql.tables import tasks
from mie.types import JSONDict

if TYPE_CHECKING:
    from mie.storage.faces import FaceCollections
    from mie.storage.people import People

log = logging.getLogger(__name__)

#: Progress is written at most this often per task (a chatty operator must not load the database).
PROGRESS_INTERVAL = 0.5

_SET_PROGRESS = (
    update(tasks)
    .where((tasks.c.id == bindparam("b_id")) & (tasks.c.lease_owner == bindparam("b_token")))
    .values(progress=bindparam("v_progress"))
)
_STILL_MINE = select(tasks.c.id).where(
    (tasks.c.id == bindparam("b_id")) & (tasks.c.lease_owner == bindparam("b_token")) & (tasks.c.state == "running")
)


@dataclass(frozen=True)
class TaskRun:
    """A claimed task, as handed to a worker."""

    task_id: int
    token: str
    operation: str
    arn: str | None
    payload: JSONDict
    #: Seconds the call may take.
    timeout: float = 3600.0
    #: ``process`` when the operator must run in a worker process.
    isolation: str = "thread"


@dataclass(frozen=True)
class Outcome:
    """What a worker reports: the operator's output, or an error."""

    task_id: int
    token: str
    output: JSONDict | None = None
    error: str | None = None
    retryable: bool = False
    error_metadata: JSONDict | None = None


def error_outcome(task_id: int, token: str, exc: BaseException) -> Outcome:
    """Turn an operator exception into an outcome, keeping MasExecutionError's details (MIE lost them)."""
    name = type(exc).__name__
    metadata: JSONDict = {}
    detail = str(exc)
    if exc.args and isinstance(exc.args[0], dict):
        carried = exc.args[0].get("MetaData")
        if isinstance(carried, dict):
            metadata = {k: v for k, v in carried.items() if isinstance(k, str) and k.lower().endswith("error")}
        detail = "; ".join(f"{k}: {v}" for k, v in metadata.items()) or detail
    retryable = name == "MasExecutionError" or bool(getattr(exc, "retryable", False))
    return Outcome(
        task_id,
        token,
        error=f"{name}: {detail}" if detail else name,
        retryable=retryable,
        error_metadata=metadata or None,
    )


@dataclass
class TaskSignals:
    """Progress reporting and cancellation for one running task, backed by its row."""

    db: Database
    task_id: int
    token: str
    cancelled: threading.Event = field(default_factory=threading.Event)
    #: When the call began (wall clock): progress carries it so that readers can estimate the time remaining.
    started: float = field(default_factory=time.time)
    _last_write: float = 0.0
    _last_message: str | None = None

    def report(self, percent: float | None, message: str | None) -> bool:
        """Store progress (throttled); False when the task is no longer this worker's."""
        if self.cancelled.is_set():
            return False
        now = time.monotonic()
        if now - self._last_write < PROGRESS_INTERVAL and message == self._last_message and percent != 100:
            return True
        self._last_write, self._last_message = now, message
        value = dumps({"Percent": percent, "Message": message, "Updated": time.time(), "Started": self.started})
        try:
            with self.db.write() as conn:
                mine = conn.execute(
                    _SET_PROGRESS, {"b_id": self.task_id, "b_token": self.token, "v_progress": value}
                ).rowcount
        except Exception:  # progress is best effort: a busy database must not fail the operator
            log.warning("could not store progress of task %s", self.task_id, exc_info=True)
            return True
        if not mine:
            self.cancelled.set()
        return bool(mine)

    def is_cancelled(self) -> bool:
        """True when the task was cancelled, deleted, timed out or taken over."""
        if self.cancelled.is_set():
            return True
        try:
            with self.db.read() as conn:
                mine = conn.execute(_STILL_MINE, {"b_id": self.task_id, "b_token": self.token}).first()
        except Exception:
            log.warning("could not check task %s for cancellation", self.task_id, exc_info=True)
            return False
        if mine is None:
            self.cancelled.set()
        return mine is None


def run_task(
    run: TaskRun,
    registry: OperatorRegistry,
    dataplane: DataPlane,
    signals: TaskSignals,
    scratch_root: Path | None,
    *,
    faces: FaceCollections | None = None,
    people: People | None = None,
) -> Outcome:
    """Call the operator of ``run`` and describe what happened (never raises)."""
    try:
        if run.arn is None:
            raise LookupError(f"operation '{run.operation}' does not exist any more")
        target = registry.resolve(run.arn)
        runtime = Runtime(
            dataplane=dataplane,
            report_progress=signals.report,
            is_cancelled=signals.is_cancelled,
            deadline=time.monotonic() + run.timeout,
            scratch_root=scratch_root,
            faces=faces,
            people=people,
        )
        output = invoke(target, run.payload, runtime, timeout=run.timeout)
        return Outcome(run.task_id, run.token, output=output)
    except BaseException as exc:  # an operator must never take its worker down
        if signals.cancelled.is_set() and not isinstance(exc, OperatorError):
            log.info("task %s (%s) stopped after cancellation: %s", run.task_id, run.operation, exc)
        return error_outcome(run.task_id, run.token, exc)


def timeout_outcome(run: TaskRun) -> Outcome:
    """The outcome of a call that ran out of time."""
    exc = OperatorTimeoutError(f"{run.operation} ran longer than its time limit of {run.timeout:g} s")
    return error_outcome(run.task_id, run.token, exc)


class ThreadWorkers:
    """Operators called in a pool of threads of this process."""

    def __init__(
        self,
        size: int,
        *,
        registry: OperatorRegistry,
        dataplane: DataPlane,
        db: Database,
        done: Callable[[TaskRun, Outcome], None],
        scratch_root: Path | None = None,
        faces: FaceCollections | None = None,
        people: People | None = None,
    ) -> None:
        self._pool = ThreadPoolExecutor(size, thread_name_prefix="mie-worker")
        self._faces = faces
        self._people = people
        self._registry = registry
        self._dataplane = dataplane
        self._db = db
        self._done = done
        self._scratch_root = scratch_root
        self._signals: dict[tuple[int, str], TaskSignals] = {}
        self._lock = threading.Lock()

    def submit(self, run: TaskRun) -> None:
        """Run ``run`` on a free thread (or the next one to become free)."""
        signals = TaskSignals(self._db, run.task_id, run.token)
        with self._lock:
            self._signals[(run.task_id, run.token)] = signals
        self._pool.submit(self._call, run, signals)

    def _call(self, run: TaskRun, signals: TaskSignals) -> None:
        outcome = run_task(
            run, self._registry, self._dataplane, signals, self._scratch_root, faces=self._faces, people=self._people
        )
        with self._lock:
            self._signals.pop((run.task_id, run.token), None)
        self._done(run, outcome)

    def abandon(self, run: TaskRun) -> None:
        """Give up on a call (timed out or cancelled): its context reports cancellation so cooperative code stops.
        A thread cannot be killed; its eventual outcome is ignored because the task is no longer its lease's."""
        with self._lock:
            signals = self._signals.get((run.task_id, run.token))
        if signals is not None:
            signals.cancelled.set()

    def shutdown(self) -> None:
        """Stop taking work; running calls go on in their threads until they return."""
        self._pool.shutdown(wait=False, cancel_futures=True)
