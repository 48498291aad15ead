"""The worker side's bookkeeping of running calls: lease heartbeat, time limits, and one report per call.

A dispatcher (thread pool, process pool, or later a remote worker) registers each call it starts. One heartbeat
thread per tracker renews the leases of the calls still running (``task_lease_seconds / 3``, guarded by their
tokens) and enforces their time limits: a call past its limit is handed to the dispatcher's ``on_late`` (a thread
is abandoned, a process killed) and reported as timed out. Whatever ends first, the call's own outcome or its
timeout, is reported once, through the store (:meth:`mie.storage.engine.WorkerStore.report`); a later one is
dropped. Then ``on_reported`` tells the scheduler of this process (a hint: the row is what counts).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mie.engine.outcome import Outcome, encode, timeout_outcome
from mie.storage.engine import WorkerStore
from mie.types import JSONDict

log = logging.getLogger(__name__)


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


Reported = Callable[[TaskRun], None]


class RunTracker:
    """Running calls of one dispatcher (see the module docstring)."""

    def __init__(
        self, store: WorkerStore, lease_seconds: float, on_late: Callable[[TaskRun], None], *, name: str = "worker"
    ) -> None:
        self._store = store
        self._lease_seconds = lease_seconds
        self._on_late = on_late
        self._reported: Reported = lambda run: None
        self._lock = threading.Lock()
        # (task id, token) -> (run, monotonic deadline)
        self._running: dict[tuple[int, str], tuple[TaskRun, float]] = {}
        self._wake = threading.Event()
        self._closed = False
        self._last_renew = time.monotonic()
        self._thread = threading.Thread(target=self._beat, name=f"mie-heartbeat-{name}", daemon=True)
        self._thread.start()

    def on_reported(self, reported: Reported) -> None:
        """Call ``reported(run)`` after each report (the scheduler's wake-up)."""
        self._reported = reported

    def begin(self, run: TaskRun) -> None:
        """A call starts (its time limit counts from now)."""
        with self._lock:
            self._running[(run.task_id, run.token)] = (run, time.monotonic() + run.timeout)
        self._wake.set()

    def running(self) -> int:
        """Calls begun and not reported yet."""
        with self._lock:
            return len(self._running)

    def finish(self, run: TaskRun, outcome: Outcome) -> bool:
        """Report a call's outcome, unless it was reported already (it timed out); True when reported now."""
        with self._lock:
            if self._running.pop((run.task_id, run.token), None) is None:
                return False
        try:
            self._store.report(run.task_id, run.token, encode(outcome))
        except Exception:  # the lease then expires and the task runs again (at least once)
            log.exception("could not report the outcome of task %s (%s)", run.task_id, run.operation)
        self._reported(run)
        return True

    def drop(self, run: TaskRun) -> None:
        """Forget a call without reporting it (the dispatcher gave it up and someone else reports)."""
        with self._lock:
            self._running.pop((run.task_id, run.token), None)

    def close(self) -> None:
        """Stop the heartbeat (leases of calls still running then expire, and their tasks run again)."""
        self._closed = True
        self._wake.set()

    def _beat(self) -> None:
        while not self._closed:
            now = time.monotonic()
            with self._lock:
                late = [run for run, deadline in self._running.values() if deadline <= now]
                deadlines = [deadline for _, deadline in self._running.values() if deadline > now]
                leases = {run.task_id: run.token for run, _ in self._running.values()}
            for run in late:
                log.warning("task %s (%s) ran out of time after %g s", run.task_id, run.operation, run.timeout)
                try:
                    self._on_late(run)
                finally:
                    self.finish(run, timeout_outcome(run.task_id, run.token, run.operation, run.timeout))
            period = self._lease_seconds / 3
            if leases and now - self._last_renew >= period:
                self._last_renew = now
                try:
                    self._store.renew(leases, time.time() + self._lease_seconds)
                except Exception:
                    log.warning("could not renew the leases of %d running tasks", len(leases), exc_info=True)
            elif not leases:
                # A call begun from now on holds a fresh lease: the first renewal is due a period after it.
                self._last_renew = now
            waits = [*(d - now for d in deadlines), self._last_renew + period - now]
            self._wake.wait(max(0.0, min(waits)) if leases else None)
            self._wake.clear()
