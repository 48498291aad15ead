"""Workers: where operators run. Threads by default; long-lived worker processes for operators that ask for them.

A worker calls the operator and reports its :class:`Outcome` through the store, guarded by the lease token (see
mie.engine.tracker); it never changes a task's state. It also writes the task's progress (best effort, guarded by
the lease token), which also tells it whether the task was cancelled meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mie.dataplane.service import DataPlane
from mie.engine.outcome import Outcome, error_outcome, timeout_outcome
from mie.engine.tracker import Reported, RunTracker, TaskRun
from mie.errors import OperatorError
from mie.operators.context import Runtime
from mie.operators.invoke import invoke
from mie.operators.registry import OperatorRegistry
from mie.storage.codec import dumps
from mie.storage.engine import WorkerStore

if TYPE_CHECKING:
    from mie.storage.faces import FaceCollections
    from mie.storage.people import People

log = logging.getLogger(__name__)

#: Progress is written at most this often per task (a chatty operator must not load the database).
PROGRESS_INTERVAL = 0.5

__all__ = ["Outcome", "TaskRun", "TaskSignals", "ThreadWorkers", "error_outcome", "run_task", "timeout_outcome"]


@dataclass
class TaskSignals:
    """Progress reporting and cancellation for one running task, backed by its row."""

    store: WorkerStore
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
            mine = self.store.set_progress(self.task_id, self.token, value)
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
            mine = self.store.still_mine(self.task_id, self.token)
        except Exception:
            log.warning("could not check task %s for cancellation", self.task_id, exc_info=True)
            return False
        if not mine:
            self.cancelled.set()
        return not mine


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


class ThreadWorkers:
    """A :class:`mie.engine.dispatch.Dispatcher` calling operators in a pool of threads of this process."""

    def __init__(
        self,
        size: int,
        *,
        registry: OperatorRegistry,
        dataplane: DataPlane,
        store: WorkerStore,
        lease_seconds: float,
        scratch_root: Path | None = None,
        faces: FaceCollections | None = None,
        people: People | None = None,
    ) -> None:
        self._size = size
        self._pool = ThreadPoolExecutor(size, thread_name_prefix="mie-worker")
        self._faces = faces
        self._people = people
        self._registry = registry
        self._dataplane = dataplane
        self._store = store
        self._scratch_root = scratch_root
        self._signals: dict[tuple[int, str], TaskSignals] = {}
        self._lock = threading.Lock()
        self._tracker = RunTracker(store, lease_seconds, self.abandon, name="threads")

    def start(self, reported: Reported) -> None:
        """Call ``reported(run)`` after each reported outcome."""
        self._tracker.on_reported(reported)

    def capacity(self) -> int:
        """Free threads."""
        return self._size - self._tracker.running()

    def running(self) -> int:
        """Calls running or waiting for a thread."""
        return self._tracker.running()

    def submit(self, run: TaskRun) -> None:
        """Run ``run`` on a free thread (or the next one to become free)."""
        signals = TaskSignals(self._store, run.task_id, run.token)
        with self._lock:
            self._signals[(run.task_id, run.token)] = signals
        self._tracker.begin(run)
        self._pool.submit(self._call, run, signals)

    def _call(self, run: TaskRun, signals: TaskSignals) -> None:
        outcome = run_task(
            run, self._registry, self._dataplane, signals, self._scratch_root, faces=self._faces, people=self._people
        )
        with self._lock:
            self._signals.pop((run.task_id, run.token), None)
        self._tracker.finish(run, outcome)

    def abandon(self, run: TaskRun) -> None:
        """Give up on a call (timed out or cancelled): its context reports cancellation so cooperative code stops.
        A thread cannot be killed; its eventual outcome is dropped (the call was reported as timed out)."""
        with self._lock:
            signals = self._signals.get((run.task_id, run.token))
        if signals is not None:
            signals.cancelled.set()

    def shutdown(self, grace: float = 0.0) -> None:
        """Stop taking work; wait up to ``grace`` seconds for running calls (threads cannot be killed: the rest go
        on until they return, their outcomes no longer count), then stop the heartbeat."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace
        while self._tracker.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._tracker.close()
