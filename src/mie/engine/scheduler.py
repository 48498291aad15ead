"""The scheduler: one thread that owns every state transition, and a pool of workers that call operators.

Each step is one database transaction: apply the outcomes workers reported, complete stages (fan-in) and start
the next ones (fan-out), put back tasks whose lease expired, admit queued executions under
``MaxConcurrentWorkflows``, and claim due tasks for free workers. The thread sleeps until something happens (a
worker finished, an API call changed state) or the next timer is due (an async monitor, a retry, a lease); it
never polls on a fixed period.

Workers never change a task's state: they hand outcomes back through an in-memory inbox, so a crash between an
operator finishing and its outcome being stored just runs the task again (at-least-once, as Lambda under Step
Functions). (They do write the progress column of their task, guarded by its lease token; see mie.engine.workers.)
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select, union_all, update

from mie.config import Settings
from mie.dataplane.changes import ChangeLog
from mie.dataplane.service import DataPlane
from mie.engine import limits, records
from mie.engine.catalog import MAX_CONCURRENT_WORKFLOWS, Catalog
from mie.engine.processes import ProcessWorkers, ResourceFactory, definition_ref
from mie.engine.tasks import (
    MONITOR,
    PENDING,
    RUNNING,
    START,
    ByIds,
    DocCache,
    Operations,
    complete_waits,
    finish_stage,
    finish_stages,
    insert_tasks,
    stage_tasks,
    start_stage,
    store_done,
)
from mie.engine.workers import Outcome, TaskRun, ThreadWorkers, timeout_outcome
from mie.errors import describe
from mie.model.execution import failed_output
from mie.operators.definition import OperatorDefinition
from mie.operators.registry import OperatorRegistry
from mie.storage.faces import FaceCollections
from mie.storage.people import People
from mie.storage.sql.db import Database, dumps, loads
from mie.storage.sql.tables import executions, system_configuration, tasks
from mie.types import JSONDict, OperationStatus, WorkflowStatus

log = logging.getLogger(__name__)


# Statements of the hot path, built once (see mie.engine.tasks). -------------------------------------------------

_TASKS_BY_ID = ByIds(tasks.c.id, lambda where: select(tasks).where(where))
_RELEASE = {"lease_owner": None, "lease_until": None}
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
_EXPIRED = select(tasks.c.id, tasks.c.attempt, tasks.c.payload, tasks.c.execution_id, tasks.c.stage).where(
    (tasks.c.state == RUNNING) & (tasks.c.lease_until < bindparam("b_now"))
)
_RENEW = (
    update(tasks)
    .where((tasks.c.id == bindparam("b_id")) & (tasks.c.lease_owner == bindparam("b_token")))
    .values(lease_until=bindparam("v_until"))
)
_SLOTS = select(
    select(system_configuration.c.value)
    .where(system_configuration.c.name == MAX_CONCURRENT_WORKFLOWS)
    .scalar_subquery(),
    select(func.count()).select_from(executions).where(executions.c.status == WorkflowStatus.STARTED).scalar_subquery(),
)


def _oldest(status: WorkflowStatus) -> Select[Any]:
    oldest = (
        select(executions)
        .where(executions.c.status == status.value)
        .order_by(executions.c.queued_at, executions.c.seq)
        .limit(bindparam("b_limit"))
        # PostgreSQL: lock the rows to admit, so that an API call cancelling or deleting one of them meanwhile is
        # not overwritten by a stale Started; a row such a call holds is skipped (no wait, no deadlock) and its
        # status re-checked. SQLite ignores it (one writer at a time).
        .with_for_update(skip_locked=True)
        .subquery()
    )
    return select(oldest)


# The oldest of each status, each answered in order by the (status, queued_at) index; merged in Python.
_ADMISSIBLE = union_all(_oldest(WorkflowStatus.QUEUED), _oldest(WorkflowStatus.RESUMED))
#: Key of the PostgreSQL advisory lock that serialises admission across nodes ("mieadmit").
ADMISSION_LOCK_KEY = 0x6D696561646D6974
_ADMISSION_LOCK = select(func.pg_advisory_xact_lock(ADMISSION_LOCK_KEY))
# SKIP LOCKED keeps schedulers of several nodes (PostgreSQL) off each other's rows; SQLite ignores it.
_DUE = (
    select(tasks.c.id, tasks.c.operation, tasks.c.phase, tasks.c.payload)
    .where((tasks.c.state == PENDING) & (tasks.c.due_at <= bindparam("b_now")))
    .order_by(tasks.c.due_at, tasks.c.id)
    .limit(bindparam("b_limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = ByIds(
    tasks.c.id,
    lambda where: (
        update(tasks)
        .where(where & (tasks.c.state == PENDING))
        .values(state=RUNNING, lease_owner=bindparam("v_token"), lease_until=bindparam("v_until"), progress=None)
    ),
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
_MIN_DUE = select(func.min(tasks.c.due_at)).where(tasks.c.state == PENDING).scalar_subquery()
_MIN_DUE_EXCEPT = (
    select(func.min(tasks.c.due_at))
    .where((tasks.c.state == PENDING) & tasks.c.operation.not_in(bindparam("b_ops", expanding=True)))
    .scalar_subquery()
)
_MIN_LEASE = select(func.min(tasks.c.lease_until)).where(tasks.c.state == RUNNING).scalar_subquery()
_TIMERS = select(_MIN_DUE, _MIN_LEASE)
_TIMERS_EXCEPT = select(_MIN_DUE_EXCEPT, _MIN_LEASE)
#: Seconds between looks at an operation held back by its MaxConcurrent (see Scheduler._next_timer).
SATURATED_RECHECK = 2.0
_LEASE_TIMER = select(_MIN_LEASE)


class Scheduler:
    """Admission, stage transitions, timers and the embedded worker pool."""

    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        changes: ChangeLog,
        registry: OperatorRegistry,
        settings: Settings,
        *,
        dataplane: DataPlane,
        node_id: str = "local",
        process_factory: ResourceFactory | None = None,
        faces: FaceCollections | None = None,
        people: People | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.changes = changes
        self.registry = registry
        self.settings = settings
        self.node_id = node_id
        self._inbox: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._inflight: dict[int, str] = {}
        # Running calls by task id, with the monotonic time at which each runs out of time.
        self._running: dict[int, tuple[TaskRun, float]] = {}
        self._claims = itertools.count(1)
        self._last_renew = 0.0
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
        self._workers = ThreadWorkers(
            settings.workers,
            registry=registry,
            dataplane=dataplane,
            db=db,
            done=self._finished,
            scratch_root=Path(settings.data_dir) / "scratch",
            faces=faces,
            people=people,
        )
        # Started on the first call of an operator that asks for a process of its own.
        self._process_factory = process_factory
        self._processes: ProcessWorkers | None = None

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
        self._workers.shutdown()
        if self._processes is not None:
            self._processes.shutdown()
        deadline = time.monotonic() + timeout
        while self.inflight() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._processes is not None:
            self._processes.kill_all()
        # Store what finished meanwhile (and anything the last step had not applied), without claiming more.
        try:
            self._store_outcomes()
        except Exception:
            log.exception("could not store the last operator outcomes; those tasks run again after a restart")
        # Give back what is still running so a restart (or another scheduler) runs it at once.
        with self._lock:
            leftover = dict(self._inflight)
        if leftover:
            with self.db.write() as conn:
                for task_id, token in leftover.items():
                    conn.execute(
                        update(tasks)
                        .where((tasks.c.id == task_id) & (tasks.c.lease_owner == token))
                        .values(state=PENDING, due_at=time.time(), lease_owner=None, lease_until=None)
                    )

    def wake(self) -> None:
        """Make the scheduler run a step now, admission included (after any change that may enable work)."""
        self._admit_requests += 1
        self._wake.set()

    def inflight(self) -> int:
        """How many operator calls are running in this process."""
        with self._lock:
            return len(self._inflight)

    def recover(self) -> None:
        """Put back tasks this node was running when it died, and repair executions left without tasks."""
        now = time.time()
        with self.db.write() as conn:
            stale = conn.execute(
                select(tasks.c.id, tasks.c.attempt, tasks.c.payload, tasks.c.execution_id, tasks.c.stage).where(
                    (tasks.c.state == RUNNING) & tasks.c.lease_owner.like(f"{self.node_id}:%")
                )
            ).all()
            failed: dict[tuple[str, str], dict[int, JSONDict]] = {}
            for task in stale:
                if self._requeue_lost(
                    conn, task_id=task.id, attempt=task.attempt, payload=task.payload, now=now, why="the server stopped"
                ):
                    failed[(task.execution_id, task.stage)] = {}
            if failed:
                # A task interrupted once too often failed just now: finish its stage (the execution ends in Error),
                # or the execution would stay Started with no task left to run.
                finish_stages(conn, self.catalog, failed)
            active = conn.execute(
                select(executions.c.id, executions.c.current_stage).where(
                    executions.c.status.in_([WorkflowStatus.STARTED, WorkflowStatus.WAITING])
                )
            ).all()
            for execution in active:
                has_tasks = conn.execute(
                    select(func.count()).where(
                        (tasks.c.execution_id == execution.id) & (tasks.c.stage == execution.current_stage)
                    )
                ).scalar_one()
                if not has_tasks:
                    log.warning(
                        "execution %s had no tasks for stage %s; restarting the stage",
                        execution.id,
                        execution.current_stage,
                    )
                    row = records.load(conn, execution.id)
                    doc = loads(row.doc)
                    complete, _ = start_stage(conn, self.catalog, doc, execution.current_stage)
                    if complete:
                        finish_stage(conn, self.catalog, execution.id, execution.current_stage)
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

    def _drain(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        while True:
            try:
                outcomes.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return outcomes

    def _store_outcomes(self) -> None:
        """Apply reported outcomes and finish the stages they complete; no admission, no claiming."""
        outcomes = self._drain()
        if not outcomes:
            return
        with self.db.write() as conn:
            ops = Operations(conn, self.catalog, self._operations)
            touched: dict[tuple[str, str], dict[int, JSONDict]] = {}
            self._apply(conn, outcomes, time.time(), touched)
            if touched:
                finish_stages(conn, self.catalog, touched, ops, self._docs)
        self.changes.notify()

    def _timed_out(self) -> list[Outcome]:
        """Outcomes for calls past their time limit; their workers are told to stop (processes are killed)."""
        now = time.monotonic()
        with self._lock:
            late = [run for run, deadline in self._running.values() if deadline <= now]
            for run in late:
                del self._running[run.task_id]
                if self._inflight.get(run.task_id) == run.token:
                    del self._inflight[run.task_id]
        outcomes = []
        for run in late:
            log.warning("task %s (%s) ran out of time after %g s", run.task_id, run.operation, run.timeout)
            self._workers.abandon(run)
            if self._processes is not None:
                self._processes.abandon(run)
            outcomes.append(timeout_outcome(run))
        return outcomes

    def step(self) -> float | None:
        """One transaction of scheduling work; returns seconds until the next timer (None: none)."""
        outcomes = self._drain()
        outcomes.extend(self._timed_out())
        requests = self._admit_requests
        admit = requests != self._admit_seen
        now = time.time()
        try:
            with self.db.write() as conn:
                ops = Operations(conn, self.catalog, self._operations)
                # Per stage touched: outputs of its tasks that finished in this step, not stored yet.
                touched: dict[tuple[str, str], dict[int, JSONDict]] = {}
                self._apply(conn, outcomes, now, touched)
                if self._lease_check_at is None or now >= self._lease_check_at:
                    for key in self._expire_leases(conn, now):
                        touched.setdefault(key, {})
                freed = finish_stages(conn, self.catalog, touched, ops, self._docs) if touched else False
                if admit or freed:
                    # Admission can end executions at once (all-skipped workflows), which frees slots again.
                    while self._admit(conn, ops):
                        pass
                self._renew_leases(conn, now)
                runs = self._claim(conn, time.time(), ops)
                timeout = self._next_timer(conn, time.time())
        except BaseException:
            self._lease_check_at = None
            raise
        if admit:
            self._admit_seen = requests
        self.changes.notify()
        for run in runs:
            self._submit(run)
        return timeout

    def _submit(self, run: TaskRun) -> None:
        """Hand a claimed task to a worker thread, or to a worker process when its operator asks for one."""
        definition = self._definition(run.arn)
        if definition is not None and definition.isolation == "process" and self._process_factory is not None:
            if self._processes is None:
                size = self.settings.process_workers or os.cpu_count() or 1
                self._processes = ProcessWorkers(
                    size, self._process_factory, self._finished, memory_mb=self.settings.worker_memory_mb
                )
            self._processes.submit(run, definition_ref(definition))
            return
        self._workers.submit(run)

    def _definition(self, arn: str | None) -> OperatorDefinition | None:
        if arn is None:
            return None
        try:
            return self.registry.resolve(arn).definition
        except Exception:  # the worker reports why it cannot be resolved
            return None

    # Applying outcomes ---------------------------------------------------------------------------------------

    def _apply(
        self, conn: Connection, outcomes: list[Outcome], now: float, touched: dict[tuple[str, str], dict[int, JSONDict]]
    ) -> None:
        """Record what workers reported: retries and monitor polls at once, finished tasks into ``touched``."""
        if not outcomes:
            return
        rows = {t.id: t for t in _TASKS_BY_ID.run(conn, sorted({o.task_id for o in outcomes}))}
        for outcome in outcomes:
            task = rows.pop(outcome.task_id, None)
            if task is None or task.state != RUNNING or task.lease_owner != outcome.token:
                continue  # cancelled, deleted or taken over by another worker meanwhile
            output = self._outcome_output(conn, task, outcome, now)
            if output is not None:
                touched.setdefault((task.execution_id, task.stage), {})[task.id] = output

    def _outcome_output(self, conn: Connection, task: Any, outcome: Outcome, now: float) -> JSONDict | None:
        """The task's final output, or None when it runs again (retry, async monitor) and was rescheduled."""
        if outcome.error is not None or outcome.output is None:
            error = outcome.error or "the operator returned nothing"
            if outcome.retryable and task.attempt < self.settings.operator_retries:
                delay = self.settings.retry_interval * self.settings.retry_backoff**task.attempt
                conn.execute(_RETRY, {"b_id": task.id, "v_attempt": task.attempt + 1, "v_due": now + delay})
                return None
            output = failed_output(loads(task.payload), error)
            if outcome.error_metadata:
                output["MetaData"].update(outcome.error_metadata)
            return output
        try:
            # Stored and passed on as JSON: normalise it now (tuples become lists, keys strings), as a round trip
            # through the tasks table would.
            output = loads(dumps(outcome.output))
        except (TypeError, ValueError) as exc:
            return failed_output(
                loads(task.payload), f"the operator returned an output that is not JSON: {describe(exc)}"
            )
        output.setdefault("Name", task.operation)
        status = output.get("Status")
        if task.op_type == "Async" and task.phase == START and status != OperationStatus.ERROR:
            # MIE's async branch always waits, then calls the monitor with the start output.
            conn.execute(
                _POLL,
                {
                    "b_id": task.id,
                    "v_phase": MONITOR,
                    "v_payload": dumps(output),
                    "v_polls": 0,
                    "v_due": now + self.settings.monitor_interval,
                },
            )
            return None
        if task.op_type == "Async" and status == OperationStatus.EXECUTING:
            delay = min(self.settings.monitor_interval * 1.5**task.polls, self.settings.monitor_interval_max)
            conn.execute(
                _POLL,
                {
                    "b_id": task.id,
                    "v_phase": task.phase,
                    "v_payload": dumps(output),
                    "v_polls": task.polls + 1,
                    "v_due": now + delay,
                },
            )
            return None
        if status not in (OperationStatus.COMPLETE, OperationStatus.ERROR):
            output = failed_output(loads(task.payload), f"the operator returned Status {status!r}")
        return output

    def _requeue_lost(
        self, conn: Connection, *, task_id: int, attempt: int, payload: str, now: float, why: str
    ) -> bool:
        """Put a task whose worker vanished back, or fail it after too many tries; True when it failed."""
        if attempt >= self.settings.operator_retries:
            output = failed_output(loads(payload), f"the operator was interrupted {attempt + 1} times ({why})")
            store_done(conn, {task_id: output})
            return True
        conn.execute(_RETRY, {"b_id": task_id, "v_attempt": attempt + 1, "v_due": now})
        return False

    def _expire_leases(self, conn: Connection, now: float) -> set[tuple[str, str]]:
        with self._lock:
            mine = set(self._inflight)
        expired = conn.execute(_EXPIRED, {"b_now": now}).all()
        touched: set[tuple[str, str]] = set()
        for task in expired:
            if task.id in mine:
                continue
            if self._requeue_lost(
                conn, task_id=task.id, attempt=task.attempt, payload=task.payload, now=now, why="its lease expired"
            ):
                touched.add((task.execution_id, task.stage))
        return touched

    def _renew_leases(self, conn: Connection, now: float) -> None:
        if now - self._last_renew < self.settings.task_lease_seconds / 3:
            return
        self._last_renew = now
        with self._lock:
            mine = dict(self._inflight)
        if mine:
            until = now + self.settings.task_lease_seconds
            conn.execute(_RENEW, [{"b_id": i, "b_token": t, "v_until": until} for i, t in mine.items()])

    # Admission -----------------------------------------------------------------------------------------------

    def _admit(self, conn: Connection, ops: Operations) -> bool:
        """Start queued or resumed executions, oldest first, while slots are free.

        Returns True when an admitted execution freed its slot again at once (it went Waiting, or ended because
        every operator was skipped), so the caller admits once more.
        """
        if conn.dialect.name == "postgresql":
            # Schedulers of several nodes would otherwise count the same free slots (or pick the same queued rows)
            # and admit more than MaxConcurrentWorkflows. The lock is held until this step commits, and the count
            # below, a new statement (READ COMMITTED), sees every admission committed before. Only admission makes
            # executions Started, so serialising it is enough. SQLite has one writer at a time anyway.
            conn.execute(_ADMISSION_LOCK)
        # The limit is read as Catalog.max_concurrent reads it, in the same query as the count of Started.
        configured, started = conn.execute(_SLOTS).one()
        limit = self.catalog.default_max_concurrent if configured is None else int(loads(configured))
        free = limit - int(started)
        if free <= 0:
            return False
        candidates = sorted(conn.execute(_ADMISSIBLE, {"b_limit": free}), key=lambda r: (r.queued_at, r.seq))
        changes: list[records.StatusChange] = []
        new_tasks: list[dict[str, Any]] = []
        resumed: list[Any] = []
        waiting: list[str] = []
        skipped: dict[tuple[str, str], dict[int, JSONDict]] = {}
        for row in candidates[:free]:
            if row.status == WorkflowStatus.RESUMED:
                changes.append(records.StatusChange(row, WorkflowStatus.STARTED))
                resumed.append(row)
                continue
            doc = loads(row.doc)
            changes.append(records.StatusChange(row, WorkflowStatus.STARTED, doc, store_doc=False))
            self._docs.keep(row.id, row.doc, doc)  # unchanged: its first stage transition needs no parse
            rows, complete, waits = stage_tasks(doc, row.current_stage, ops)
            new_tasks.extend(rows)
            if waits:
                waiting.append(row.id)
            if complete:
                skipped[(row.id, row.current_stage)] = {}
        records.set_statuses(conn, changes)
        insert_tasks(conn, new_tasks)
        freed = False
        for execution_id in waiting:
            records.set_status(conn, records.load(conn, execution_id), WorkflowStatus.WAITING)
            freed = True
        for row in resumed:
            complete_waits(conn, row.id, row.current_stage)
            skipped[(row.id, row.current_stage)] = {}
        if skipped:
            freed |= finish_stages(conn, self.catalog, skipped, ops, self._docs)
        return freed

    # Claiming and running ------------------------------------------------------------------------------------

    def _claim(self, conn: Connection, now: float, ops: Operations) -> list[TaskRun]:
        capacity = self.settings.workers - self.inflight()
        if capacity <= 0:
            return []
        # Operations at their MaxConcurrent in the last step stay out of the query while they still are, so
        # their waiting tasks neither take this step's places nor count as due timers.
        if self._saturated:
            self._saturated = limits.still_saturated(conn, self._saturated, ops.get(self._saturated))
        params = {"b_now": now, "b_limit": capacity}
        if self._saturated:
            due = conn.execute(_DUE_EXCEPT, {**params, "b_ops": sorted(self._saturated)}).all()
        else:
            due = conn.execute(_DUE, params).all()
        if not due:
            return []
        records_by_name = ops.get({t.operation for t in due})
        allowed, saturated = limits.admit(conn, list(due), records_by_name)
        self._saturated |= saturated
        if not allowed:
            return []
        token = f"{self.node_id}:{next(self._claims)}"
        _CLAIM.run(conn, [t.id for t in allowed], {"v_token": token, "v_until": now + self.settings.task_lease_seconds})
        runs: list[TaskRun] = []
        for t in allowed:
            op = records_by_name.get(t.operation)
            arn = None if op is None else op.get("MonitorLambdaArn" if t.phase == MONITOR else "StartLambdaArn")
            runs.append(TaskRun(t.id, token, t.operation, arn, loads(t.payload), timeout=self._timeout_of(op)))
        deadline_base = time.monotonic()
        with self._lock:
            for run in runs:
                self._inflight[run.task_id] = run.token
                self._running[run.task_id] = (run, deadline_base + run.timeout)
        return runs

    def _timeout_of(self, op: JSONDict | None) -> float:
        value = None if op is None else op.get("TimeoutSeconds")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        return self.settings.operator_timeout

    def _next_timer(self, conn: Connection, now: float) -> float | None:
        candidates: list[float] = []
        if self.settings.workers - self.inflight() > 0:
            if self._saturated:
                due, lease = conn.execute(_TIMERS_EXCEPT, {"b_ops": sorted(self._saturated)}).one()
                # A task of another node may free a place without waking this one: look again soon.
                candidates.append(now + SATURATED_RECHECK)
            else:
                due, lease = conn.execute(_TIMERS).one()
            if due is not None:
                candidates.append(float(due))
        else:
            lease = conn.execute(_LEASE_TIMER).scalar_one()
        if lease is not None:
            candidates.append(float(lease))
            self._lease_check_at = float(lease)
        else:
            # A lease taken from now on (by any node) lasts at least this long.
            self._lease_check_at = now + self.settings.task_lease_seconds
        with self._lock:
            deadlines = [deadline for _, deadline in self._running.values()]
        if deadlines:
            candidates.append(now + (min(deadlines) - time.monotonic()))
        if self.inflight():
            candidates.append(self._last_renew + self.settings.task_lease_seconds / 3)
        if not candidates:
            return None
        return max(0.0, min(candidates) - now)

    def _finished(self, run: TaskRun, outcome: Outcome) -> None:
        """Worker callback: hand the outcome to the scheduler thread."""
        with self._lock:
            if self._inflight.get(run.task_id) == run.token:
                del self._inflight[run.task_id]
            current = self._running.get(run.task_id)
            if current is not None and current[0].token == run.token:
                del self._running[run.task_id]
        self._inbox.put(outcome)
        self._wake.set()
