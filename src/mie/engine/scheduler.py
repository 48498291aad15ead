"""The scheduler: one thread that owns every state transition; workers (mie.engine.dispatch) call operators.

Each step is one unit of work of the engine's store (one transaction): apply the outcomes workers reported, complete
stages (fan-in) and start the next ones (fan-out), put back tasks whose lease expired, admit queued executions
under ``MaxConcurrentWorkflows``, and claim due tasks for free workers. The thread sleeps until something happens
(a worker reported, an API call changed state) or the next timer is due (an async monitor, a retry, a lease); it
never polls on a fixed period.

Workers never change a task's state: they record their outcome on the task row, guarded by the lease token, and
the scheduler applies it; a crash before that just runs the task again (at-least-once, as Lambda under Step
Functions). The worker side renews its leases and enforces time limits itself (mie.engine.tracker); the scheduler
keeps lease expiry as the safety net.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from typing import Any

from mie.config import Settings
from mie.dataplane.changes import ChangeLog
from mie.engine import limits, statuses
from mie.engine.catalog import Catalog
from mie.engine.dispatch import Dispatcher
from mie.engine.outcome import decode
from mie.engine.policy import Done, Poll, Retry, RetryPolicy, TaskFacts, decide, decide_lost
from mie.engine.tasks import (
    MONITOR,
    DocCache,
    Operations,
    complete_waits,
    finish_stage,
    finish_stages,
    stage_tasks,
    start_stage,
    store_done,
)
from mie.engine.tracker import TaskRun
from mie.engine.wakeup import Waker
from mie.storage.codec import dumps, loads
from mie.storage.engine import EngineStore, EngineTx, ExecutionRow, LostTask, TaskRow
from mie.types import JSONDict, WorkflowStatus

log = logging.getLogger(__name__)

#: Seconds between looks at an operation held back by its MaxConcurrent (see Scheduler._next_timer).
SATURATED_RECHECK = 2.0


class Scheduler:
    """Admission, stage transitions and timers; running operators is the dispatcher's."""

    def __init__(
        self,
        store: EngineStore,
        catalog: Catalog,
        changes: ChangeLog,
        settings: Settings,
        *,
        dispatcher: Dispatcher,
        node_id: str = "local",
        waker: Waker | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.changes = changes
        self.settings = settings
        self.node_id = node_id
        self.policy = RetryPolicy.from_settings(settings)
        self.dispatcher = dispatcher
        # Ids of tasks whose outcome was reported in this process: the rows are read back in the next step.
        self._inbox: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._inflight: dict[int, str] = {}
        self._claims = itertools.count(1)
        # Admission runs when something may have changed it: at start, after wake() (the API created, resumed,
        # cancelled or deleted an execution, or changed the configuration), and when a step freed a slot. wake()
        # bumps the counter; a step that admitted records the value it saw (no lock: a wake during the step leaves
        # the counters different, so the next step admits).
        self._admit_requests = 1
        self._admit_seen = 0
        # No lease can expire before this time (the earliest lease seen by the last step), so steps before it
        # skip looking for expired leases. None: look.
        self._lease_check_at: float | None = None
        self._docs = DocCache()
        # Operations at their MaxConcurrent when last looked at.
        self._saturated: set[str] = set()
        self._operations: dict[str, tuple[str, JSONDict]] = {}
        self._thread: threading.Thread | None = None
        dispatcher.start(self._reported)
        if waker is not None:
            waker.attach(self.wake)

    # Lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover what a previous process left running, then start the scheduler thread."""
        self.recover()
        self._thread = threading.Thread(target=self._run, name="mie-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop scheduling; wait up to ``timeout`` for running operators (the rest rerun after a restart)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.dispatcher.shutdown(timeout)
        # Store what finished meanwhile (and anything the last step had not applied), without claiming more.
        try:
            self._store_outcomes()
        except Exception:
            log.exception("could not store the last operator outcomes; those tasks run again after a restart")
        # Give back what is still running so a restart (or another scheduler) runs it at once.
        with self._lock:
            leftover = dict(self._inflight)
        if leftover:
            with self.store.transaction() as tx:
                tx.release_leases(leftover, time.time())

    def wake(self) -> None:
        """Make the scheduler run a step now, admission included (after any change that may enable work)."""
        self._admit_requests += 1
        self._wake.set()

    def inflight(self) -> int:
        """How many operator calls this scheduler handed out and has not seen reported."""
        with self._lock:
            return len(self._inflight)

    def recover(self) -> None:
        """Put back tasks this node was running when it died, and repair executions left without tasks."""
        now = time.time()
        with self.store.transaction() as tx:
            failed: dict[tuple[str, str], dict[int, JSONDict]] = {}
            for task in tx.node_tasks(f"{self.node_id}:"):
                if self._requeue_lost(tx, task, now, "the server stopped"):
                    failed[(task.execution_id, task.stage)] = {}
            if failed:
                # A task interrupted once too often failed just now: finish its stage (the execution ends in Error),
                # or the execution would stay Started with no task left to run.
                finish_stages(tx, self.catalog, failed)
            for execution in tx.executions_with_status([WorkflowStatus.STARTED, WorkflowStatus.WAITING]):
                if not tx.count_stage_tasks(execution.id, execution.current_stage):
                    log.warning(
                        "execution %s had no tasks for stage %s; restarting the stage",
                        execution.id,
                        execution.current_stage,
                    )
                    doc = loads(statuses.load(tx, execution.id).doc)
                    complete, _ = start_stage(tx, self.catalog, doc, execution.current_stage)
                    if complete:
                        finish_stage(tx, self.catalog, execution.id, execution.current_stage)
        self._admit_requests += 1
        self.changes.notify()

    # The loop ------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                timeout = self.step()
                failures = 0
            except Exception:
                failures += 1
                log.exception("scheduler step failed (%d in a row); retrying", failures)
                timeout = min(0.05 * 2**failures, 5.0)
            if timeout is None or timeout > 0:
                self._wake.wait(timeout)

    def _drain(self) -> list[int]:
        reported: list[int] = []
        while True:
            try:
                reported.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return reported

    def _store_outcomes(self) -> None:
        """Apply reported outcomes and finish the stages they complete; no admission, no claiming."""
        reported = self._drain()
        if not reported:
            return
        with self.store.transaction() as tx:
            ops = Operations(tx, self.catalog, self._operations)
            touched: dict[tuple[str, str], dict[int, JSONDict]] = {}
            self._apply(tx, reported, time.time(), touched)
            if touched:
                finish_stages(tx, self.catalog, touched, ops, self._docs)
        self.changes.notify()

    def step(self) -> float | None:
        """One unit of work of scheduling; returns seconds until the next timer (None: none)."""
        reported = self._drain()
        requests = self._admit_requests
        admit = requests != self._admit_seen
        now = time.time()
        try:
            with self.store.transaction() as tx:
                ops = Operations(tx, self.catalog, self._operations)
                # Per stage touched: outputs of its tasks that finished in this step, not stored yet.
                touched: dict[tuple[str, str], dict[int, JSONDict]] = {}
                self._apply(tx, reported, now, touched)
                if self._lease_check_at is None or now >= self._lease_check_at:
                    self._expire_leases(tx, now, touched)
                freed = finish_stages(tx, self.catalog, touched, ops, self._docs) if touched else False
                if admit or freed:
                    # Admission can end executions at once (all-skipped workflows), which frees slots again.
                    while self._admit(tx, ops):
                        pass
                runs = self._claim(tx, time.time(), ops)
                timeout = self._next_timer(tx, time.time())
        except BaseException:
            self._lease_check_at = None
            raise
        if admit:
            self._admit_seen = requests
        self.changes.notify()
        for run in runs:
            self.dispatcher.submit(run)
        return timeout

    # Applying outcomes ---------------------------------------------------------------------------------------

    def _apply(
        self, tx: EngineTx, reported: list[int], now: float, touched: dict[tuple[str, str], dict[int, JSONDict]]
    ) -> None:
        """Apply the outcomes recorded on these tasks (one read): retries and monitor polls at once, finished
        tasks into ``touched``. A task without one (cancelled, deleted, taken over meanwhile) is left alone."""
        if not reported:
            return
        rows = tx.reported(sorted(set(reported)))
        with self._lock:
            # Normally gone already (the dispatcher's hook); not when the report came through the store only.
            for task in rows:
                if self._inflight.get(task.id) == task.lease_owner:
                    del self._inflight[task.id]
        for task in rows:
            output = self._outcome_output(tx, task, now)
            if output is not None:
                touched.setdefault((task.execution_id, task.stage), {})[task.id] = output

    def _outcome_output(self, tx: EngineTx, task: TaskRow, now: float) -> JSONDict | None:
        """The task's final output, or None when it runs again (retry, async monitor) and was rescheduled."""
        assert task.outcome is not None  # tx.reported returns only tasks that carry one
        assert task.lease_owner is not None
        outcome = decode(task.id, task.lease_owner, task.outcome)
        facts = TaskFacts(task.operation, task.op_type, task.phase, task.attempt, task.polls, task.payload)
        decision = decide(outcome, facts, self.policy)
        if isinstance(decision, Retry):
            tx.retry_task(task.id, decision.attempt, now + decision.after)
            return None
        if isinstance(decision, Poll):
            tx.poll_task(task.id, decision.phase, dumps(decision.payload), decision.polls, now + decision.after)
            return None
        return decision.output

    def _requeue_lost(self, tx: EngineTx, task: LostTask, now: float, why: str) -> bool:
        """Put a task whose worker vanished back, or fail it after too many tries; True when it failed."""
        decision = decide_lost(task.attempt, task.payload, why, self.policy)
        if isinstance(decision, Done):
            store_done(tx, {task.id: decision.output})
            return True
        tx.retry_task(task.id, decision.attempt, now + decision.after)
        return False

    def _expire_leases(self, tx: EngineTx, now: float, touched: dict[tuple[str, str], dict[int, JSONDict]]) -> None:
        """Tasks whose lease ran out: a reported outcome (a worker that could not wake us) is applied, the others
        run again (or fail after too many tries)."""
        with self._lock:
            mine = set(self._inflight)
        reported: list[int] = []
        for task in tx.expired_tasks(now):
            if task.outcome is not None:
                reported.append(task.id)
            elif task.id in mine:
                continue  # this process's worker side renews it (a missed renewal is not a lost worker)
            elif self._requeue_lost(tx, task, now, "its lease expired"):
                touched.setdefault((task.execution_id, task.stage), {})
        self._apply(tx, reported, now, touched)

    # Admission -----------------------------------------------------------------------------------------------

    def _admit(self, tx: EngineTx, ops: Operations) -> bool:
        """Start queued or resumed executions, oldest first, while slots are free.

        Returns True when an admitted execution freed its slot again at once (it went Waiting, or ended because
        every operator was skipped), so the caller admits once more.
        """
        # The limit is read as Catalog.max_concurrent reads it, in the same read as the count of Started (which, on
        # several nodes, also serialises admission: see docs/architecture-engine.md).
        configured, started = tx.admission_slots()
        limit = self.catalog.default_max_concurrent if configured is None else int(loads(configured))
        free = limit - started
        if free <= 0:
            return False
        candidates = sorted(tx.admissible(free), key=lambda r: (r.queued_at, r.seq))
        changes: list[statuses.StatusChange] = []
        new_tasks: list[dict[str, Any]] = []
        resumed: list[ExecutionRow] = []
        waiting: list[str] = []
        skipped: dict[tuple[str, str], dict[int, JSONDict]] = {}
        for row in candidates[:free]:
            if row.status == WorkflowStatus.RESUMED:
                changes.append(statuses.StatusChange(row, WorkflowStatus.STARTED))
                resumed.append(row)
                continue
            doc = loads(row.doc)
            changes.append(statuses.StatusChange(row, WorkflowStatus.STARTED, doc, store_doc=False))
            self._docs.keep(row.id, row.doc, doc)  # unchanged: its first stage transition needs no parse
            rows, complete, waits = stage_tasks(doc, row.current_stage, ops)
            new_tasks.extend(rows)
            if waits:
                waiting.append(row.id)
            if complete:
                skipped[(row.id, row.current_stage)] = {}
        statuses.set_statuses(tx, changes)
        tx.insert_tasks(new_tasks)
        freed = False
        for execution_id in waiting:
            statuses.set_status(tx, statuses.load(tx, execution_id), WorkflowStatus.WAITING)
            freed = True
        for row in resumed:
            complete_waits(tx, row.id, row.current_stage)
            skipped[(row.id, row.current_stage)] = {}
        if skipped:
            freed |= finish_stages(tx, self.catalog, skipped, ops, self._docs)
        return freed

    # Claiming ------------------------------------------------------------------------------------------------

    def _capacity(self) -> int:
        # Claimed runs count from their claim (they are submitted after the step commits).
        return min(self.settings.workers - self.inflight(), self.dispatcher.capacity())

    def _claim(self, tx: EngineTx, now: float, ops: Operations) -> list[TaskRun]:
        capacity = self._capacity()
        if capacity <= 0:
            return []
        # Operations at their MaxConcurrent in the last step stay out of the query while they still are, so
        # their waiting tasks neither take this step's places nor count as due timers.
        if self._saturated:
            self._saturated = limits.still_saturated(tx, self._saturated, ops.get(self._saturated))
        due = tx.due_tasks(now, capacity, sorted(self._saturated))
        if not due:
            return []
        records_by_name = ops.get({t.operation for t in due})
        allowed, saturated = limits.admit(tx, list(due), records_by_name)
        self._saturated |= saturated
        if not allowed:
            return []
        token = f"{self.node_id}:{next(self._claims)}"
        tx.claim_tasks([t.id for t in allowed], token, now + self.settings.task_lease_seconds)
        runs: list[TaskRun] = []
        for t in allowed:
            op = records_by_name.get(t.operation)
            arn = None if op is None else op.get("MonitorLambdaArn" if t.phase == MONITOR else "StartLambdaArn")
            runs.append(TaskRun(t.id, token, t.operation, arn, loads(t.payload), timeout=self._timeout_of(op)))
        with self._lock:
            for run in runs:
                self._inflight[run.task_id] = run.token
        return runs

    def _timeout_of(self, op: JSONDict | None) -> float:
        value = None if op is None else op.get("TimeoutSeconds")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        return self.settings.operator_timeout

    def _next_timer(self, tx: EngineTx, now: float) -> float | None:
        candidates: list[float] = []
        if self._capacity() > 0:
            due, lease = tx.timers(sorted(self._saturated))
            if self._saturated:
                # A task of another node may free a place without waking this one: look again soon.
                candidates.append(now + SATURATED_RECHECK)
            if due is not None:
                candidates.append(due)
        else:
            _, lease = tx.timers(None)
        if lease is not None:
            candidates.append(lease)
            self._lease_check_at = lease
        else:
            # A lease taken from now on (by any node) lasts at least this long.
            self._lease_check_at = now + self.settings.task_lease_seconds
        if not candidates:
            return None
        return max(0.0, min(candidates) - now)

    def _reported(self, run: TaskRun) -> None:
        """Dispatcher hook: a run's outcome is on its row; have the scheduler thread apply it."""
        with self._lock:
            if self._inflight.get(run.task_id) == run.token:
                del self._inflight[run.task_id]
        self._inbox.put(run.task_id)
        self._wake.set()
