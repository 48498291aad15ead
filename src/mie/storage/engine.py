"""The engine's store: executions, their tasks, the catalog and the system configuration, behind Protocols.

The engine (``mie.engine``) never sees SQL. It works inside a unit of work, :class:`EngineTx`, which
:meth:`EngineStore.transaction` opens: everything done through one ``tx`` commits together or not at all, which is
how a scheduler step stays one transaction across executions, tasks and the change log. The methods are the
engine's own vocabulary (claim due tasks, renew leases, lock these executions, ...), batched where the scheduler's
hot path needs it. ``mie.storage.sql.engine_store`` implements them on SQLite and PostgreSQL; a remote worker (a
Celery task, say) needs only the few calls of :class:`WorkerStore`.

Rows come back as read-only records with attribute access (the Protocols below name the attributes the engine
reads); documents and payloads are JSON text (:mod:`mie.storage.codec`), so that the engine can cache parsed
documents by their stored text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

from mie.types import JSONDict

#: The catalog's record kinds (each a table of ``name -> JSON document``).
CatalogKind = Literal["operations", "stages", "workflows"]

#: Task states and phases as stored.
PENDING, RUNNING, WAITING, DONE = "pending", "running", "waiting", "done"
START, MONITOR, WAIT = "start", "monitor", "wait"


class ExecutionRow(Protocol):
    """An execution: its status columns and its stored document (JSON text, without the status fields)."""

    seq: int
    id: str
    workflow_name: str
    asset_id: str
    status: str
    current_stage: str
    message: str | None
    created: str
    queued_at: float
    finished_at: float | None
    doc: str


class TaskRow(Protocol):
    """A task (one operation of one stage of one execution)."""

    id: int
    execution_id: str
    stage: str
    branch: int
    operation: str
    op_type: str
    phase: str
    state: str
    attempt: int
    polls: int
    due_at: float
    lease_until: float | None
    lease_owner: str | None
    payload: str
    output: str | None
    progress: str | None
    #: What the worker holding the lease reported (JSON text, see :meth:`WorkerStore.report`); None: nothing yet.
    outcome: str | None


class DueTask(Protocol):
    """A pending task whose time has come."""

    id: int
    operation: str
    phase: str
    payload: str


class LostTask(Protocol):
    """A running task whose worker is gone (lease expired, or the node restarted)."""

    id: int
    attempt: int
    payload: str
    execution_id: str
    stage: str
    #: An outcome its worker reported (and could not have applied), or None.
    outcome: str | None


class StageTask(Protocol):
    """What fan-in needs of a task."""

    id: int
    execution_id: str
    stage: str
    state: str
    output: str | None


class TaskProgress(Protocol):
    """What ``GET /workflow/execution/{Id}`` shows of a task."""

    operation: str
    state: str
    phase: str
    attempt: int
    progress: str | None


class AssetLocation(Protocol):
    """Where an asset's media is."""

    media_type: str | None
    s3_bucket: str
    s3_key: str


class EngineTx(Protocol):
    """One unit of work over executions, tasks, the catalog and the change log (see the module docstring)."""

    # Tasks ----------------------------------------------------------------------------------------------------

    def tasks_by_ids(self, ids: Sequence[int]) -> Sequence[TaskRow]:
        """The tasks of ``ids`` that exist."""

    def insert_tasks(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Store new tasks (column -> value each)."""

    def retry_task(self, task_id: int, attempt: int, due: float) -> None:
        """Put a task back to pending as try ``attempt``, due at ``due``; its lease is released."""

    def poll_task(self, task_id: int, phase: str, payload: str, polls: int, due: float) -> None:
        """Put an async task back to pending for its monitor (``phase``, new ``payload``), due at ``due``."""

    def store_done(self, outputs: Mapping[int, str]) -> None:
        """Mark tasks done with their output (JSON text) and release their leases."""

    def delete_tasks(self, ids: Sequence[int]) -> None:
        """Delete tasks by id."""

    def delete_tasks_of(self, execution_ids: Sequence[str]) -> None:
        """Delete every task of the executions."""

    def stage_tasks_of(self, execution_ids: Sequence[str]) -> Sequence[StageTask]:
        """Every task of the executions, ordered by execution, stage and branch."""

    def waiting_tasks(self, execution_id: str, stage: str) -> Sequence[tuple[int, str]]:
        """``(id, payload)`` of a stage's Wait tasks."""

    def count_stage_tasks(self, execution_id: str, stage: str) -> int:
        """How many tasks the stage of the execution has."""

    def stage_progress(self, execution_id: str, stage: str) -> Sequence[TaskProgress]:
        """A stage's tasks in branch order, for progress reports."""

    def running_counts(self, operations: Sequence[str]) -> dict[str, int]:
        """Running tasks per operation (only operations with some are present)."""

    def operation_texts(self, names: Sequence[str]) -> Sequence[tuple[str, str]]:
        """``(name, document text)`` of the operations of ``names`` that exist."""

    # Leases and claiming ---------------------------------------------------------------------------------------

    def due_tasks(self, now: float, limit: int, exclude: Sequence[str] = ()) -> Sequence[DueTask]:
        """Up to ``limit`` pending tasks due by ``now``, oldest first, skipping operations in ``exclude`` and rows
        another node's transaction holds."""

    def claim_tasks(self, ids: Sequence[int], token: str, until: float) -> None:
        """Make pending tasks running under lease ``token`` until ``until``."""

    def renew_leases(self, leases: Mapping[int, str], until: float) -> None:
        """Extend the leases ``task id -> token`` (a lease taken over meanwhile is left alone)."""

    def release_leases(self, leases: Mapping[int, str], due: float) -> None:
        """Give running tasks back (pending, due at ``due``) when their lease is still ``token``."""

    def expired_tasks(self, now: float) -> Sequence[LostTask]:
        """Running tasks whose lease ran out before ``now``."""

    def node_tasks(self, owner_prefix: str) -> Sequence[LostTask]:
        """Running tasks whose lease owner starts with ``owner_prefix`` (a node's own, at its start)."""

    def timers(self, exclude: Sequence[str] | None) -> tuple[float | None, float | None]:
        """``(earliest due time of a pending task not in exclude, earliest lease end)``; ``exclude`` None: leases
        only (the first item is then None)."""

    def reported(self, ids: Sequence[int]) -> Sequence[TaskRow]:
        """The running tasks of ``ids`` that carry a reported outcome."""

    # Executions -----------------------------------------------------------------------------------------------

    def load_execution(self, execution_id: str, *, lock: bool = False) -> ExecutionRow | None:
        """The execution (row-locked until the end of the unit of work when ``lock``), or None."""

    def lock_executions(self, ids: Sequence[str]) -> Sequence[ExecutionRow]:
        """The executions of ``ids``, locked, in id order (so concurrent schedulers lock in the same order)."""

    def insert_execution(self, values: Mapping[str, Any]) -> None:
        """Store a new execution (column -> value)."""

    def update_executions(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """Change executions: each mapping has ``id`` and the columns to set (batched by column set)."""

    def delete_execution(self, execution_id: str) -> None:
        """Delete an execution row."""

    def append_changes(self, events: Sequence[tuple[str, str, JSONDict]]) -> None:
        """Append ``(source, asset_id, payload)`` to the change log, in order, committed with this unit of work."""

    def admission_slots(self) -> tuple[str | None, int]:
        """``(stored MaxConcurrentWorkflows as JSON text or None, executions Started)``, in one consistent read.

        On several nodes this serialises admission (see docs/architecture-engine.md), until the unit of work ends.
        """

    def admissible(self, limit: int) -> Sequence[ExecutionRow]:
        """Up to ``limit`` of the oldest Queued and the oldest Resumed executions (not merged or ordered), skipping
        rows another transaction holds."""

    def executions_with_status(self, statuses: Sequence[str]) -> Sequence[ExecutionRow]:
        """Every execution in one of ``statuses``."""

    def list_executions(self, status: str | None, after: int | None, limit: int | None) -> Sequence[ExecutionRow]:
        """Executions by sequence number (of one status when given), after ``after``, at most ``limit``."""

    def executions_of_asset(self, asset_id: str, statuses: Sequence[str] | None = None) -> Sequence[ExecutionRow]:
        """An asset's executions, newest first (only those in ``statuses`` when given)."""

    def lock_asset(self, asset_id: str) -> AssetLocation | None:
        """The asset's media, its row locked (an execution is being started on it), or None when unknown."""

    # Catalog and system configuration -------------------------------------------------------------------------

    def get_record(self, kind: CatalogKind, name: str) -> JSONDict | None:
        """A catalog record by name."""

    def put_record(self, kind: CatalogKind, name: str, doc: JSONDict, *, new: bool) -> None:
        """Insert (``new``) or replace a catalog record."""

    def all_records(self, kind: CatalogKind) -> list[JSONDict]:
        """Every record of a kind, by name."""

    def delete_record(self, kind: CatalogKind, name: str) -> None:
        """Delete a catalog record (absent: nothing happens)."""

    def records_by_name(self, kind: CatalogKind, names: Sequence[str]) -> dict[str, JSONDict]:
        """The records of ``names`` that exist."""

    def get_setting(self, name: str) -> str | None:
        """A system configuration value (JSON text)."""

    def put_setting(self, name: str, value: str) -> None:
        """Set a system configuration value (JSON text)."""

    def all_settings(self) -> Sequence[tuple[str, str]]:
        """Every ``(name, value text)`` of the system configuration, by name."""


class WorkerStore(Protocol):
    """What the worker side needs, each call its own short transaction, each guarded by the lease ``token``.

    This is all a worker needs of the engine's store, in this process or another machine.
    """

    def set_progress(self, task_id: int, token: str, progress: str) -> bool:
        """Store a running task's progress (JSON text); False when the task is no longer this lease's."""

    def still_mine(self, task_id: int, token: str) -> bool:
        """Whether the task is still running under this lease."""

    def renew(self, leases: Mapping[int, str], until: float) -> None:
        """Heartbeat: extend the leases ``task id -> token`` that are still held."""

    def report(self, task_id: int, token: str, outcome: str) -> bool:
        """Record a finished call's outcome (JSON text) on its task, if the task still runs under ``token``.

        The scheduler applies it; a lost report (a crash before it) means the task runs again (at least once).
        """


class EngineStore(WorkerStore, Protocol):
    """Units of work for the engine, plus the worker calls."""

    def transaction(self) -> AbstractContextManager[EngineTx]:
        """A read-write unit of work: committed when the block ends, rolled back when it raises."""

    def reading(self) -> AbstractContextManager[EngineTx]:
        """A read-only unit of work (a consistent snapshot where the database gives one)."""

    def joined(self, transaction: object) -> EngineTx:
        """The engine's view of a transaction another store opened (the data plane's ``also`` callback hands its
        own), so that an asset and its execution commit together."""
