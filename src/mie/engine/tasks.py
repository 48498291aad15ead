"""Stage fan-out and fan-in: starting a stage's tasks and completing a stage from them, in a unit of work of the
engine's store (batched: a scheduler step moving many executions costs a handful of statements)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from mie.engine import statuses
from mie.engine.catalog import WAIT_START, Catalog
from mie.model.execution import (
    complete_stage,
    failed_output,
    operator_event,
    should_skip,
    skipped_output,
)
from mie.storage.codec import dumps, loads
from mie.storage.engine import DONE, MONITOR, PENDING, RUNNING, START, WAIT, WAITING, EngineTx, StageTask
from mie.types import END_STAGE, TERMINAL_STATUSES, JSONDict, OperationStatus, StageStatus, WorkflowStatus

__all__ = ["DONE", "MONITOR", "PENDING", "RUNNING", "START", "WAIT", "WAITING", "DocCache", "Operations"]


_MAX_PARSED_OPERATIONS = 1024


class Operations:
    """Operation records by name, read at most once per transaction (a scheduler step looks them up repeatedly)."""

    def __init__(self, tx: EngineTx, catalog: Catalog, parsed: dict[str, tuple[str, JSONDict]] | None = None) -> None:
        self._tx = tx
        self._catalog = catalog  # the records are read as Catalog.operations_by_name reads them
        self._known: dict[str, JSONDict | None] = {}
        # Parsed records by name with the text they were parsed from, kept by the caller across transactions;
        # reused only while the stored text is unchanged. The records handed out are shared: read them only.
        self._parsed = parsed if parsed is not None else {}

    def get(self, names: set[str]) -> dict[str, JSONDict]:
        """The records of ``names`` that exist."""
        missing = names - self._known.keys()
        if missing:
            for name, text in self._tx.operation_texts(sorted(missing)):
                cached = self._parsed.get(name)
                if cached is None or cached[0] != text:
                    if len(self._parsed) >= _MAX_PARSED_OPERATIONS:
                        self._parsed.clear()
                    cached = self._parsed[name] = (text, loads(text))
                self._known[name] = cached[1]
            for name in missing:
                self._known.setdefault(name, None)
        return {name: record for name in names if (record := self._known[name]) is not None}


class DocCache:
    """Parsed execution documents of the executions a scheduler is moving, keyed by their stored text.

    Parsing the document (about 10 kB, mostly MIE's stage definitions) at every stage transition was a large
    share of a step. A cached document is only used when the text in the database is still exactly the text it
    was stored as, so a change made elsewhere (another node, a rolled-back transaction) just means a fresh parse.
    Taking a document out hands it over to the caller, who may change it and keep it again with its new text.
    Not thread-safe: one scheduler thread owns it.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._docs: OrderedDict[str, tuple[str, JSONDict]] = OrderedDict()

    def take(self, execution_id: str, text: str) -> JSONDict:
        """The parsed document of ``text`` (the execution's stored ``doc``)."""
        entry = self._docs.pop(execution_id, None)
        if entry is not None and entry[0] == text:
            return entry[1]
        parsed: JSONDict = loads(text)
        return parsed

    def keep(self, execution_id: str, text: str, doc: JSONDict) -> None:
        """Remember ``doc`` as the parsed form of ``text`` (``doc`` must equal ``loads(text)``)."""
        self._docs[execution_id] = (text, doc)
        self._docs.move_to_end(execution_id)
        while len(self._docs) > self._size:
            self._docs.popitem(last=False)

    def drop(self, execution_id: str) -> None:
        """Forget an execution (it ended)."""
        self._docs.pop(execution_id, None)


def stage_tasks(doc: JSONDict, stage_name: str, operations: Operations) -> tuple[list[dict[str, Any]], bool, bool]:
    """The task rows that start a stage, deciding skips at once (MIE's Filter).

    Returns ``(rows, complete, waiting)``: whether every task is already done (all skipped), and whether the stage
    holds a Wait operation (the execution becomes ``Waiting``).
    """
    stage = doc["Workflow"]["Stages"][stage_name]
    names: list[str] = list(stage["Operations"])
    ops = operations.get(set(names))
    now = time.time()
    rows: list[dict[str, Any]] = []
    waiting = False
    for branch, name in enumerate(names):
        event = operator_event(stage, name)
        record = ops.get(name)
        row: dict[str, Any] = {
            "execution_id": doc["Id"],
            "stage": stage_name,
            "branch": branch,
            "operation": name,
            "op_type": record["Type"] if record else "Sync",
            "phase": START,
            "state": PENDING,
            "attempt": 0,
            "polls": 0,
            "due_at": now,
            "payload": dumps(event),
            "output": None,
        }
        if should_skip(event):
            row.update(state=DONE, output=dumps(skipped_output(event)))
        elif record is None:
            row.update(state=DONE, output=dumps(failed_output(event, f"operation '{name}' does not exist any more")))
        elif record["StartLambdaArn"] == WAIT_START:
            row.update(state=WAITING, phase=WAIT)
            waiting = True
        rows.append(row)
    return rows, all(r["state"] == DONE for r in rows), waiting


def start_stage(
    tx: EngineTx, catalog: Catalog, doc: JSONDict, stage_name: str, operations: Operations | None = None
) -> tuple[bool, bool]:
    """Create one task per operation of the stage; returns ``(complete, waiting)`` as :func:`stage_tasks`."""
    rows, complete, waiting = stage_tasks(doc, stage_name, operations or Operations(tx, catalog))
    tx.insert_tasks(rows)
    return complete, waiting


def store_done(tx: EngineTx, outputs: Mapping[int, JSONDict]) -> None:
    """Mark tasks done with their outputs (and release their leases)."""
    if outputs:
        tx.store_done({task_id: dumps(out) for task_id, out in outputs.items()})


def finish_stage(
    tx: EngineTx,
    catalog: Catalog,
    execution_id: str,
    stage_name: str,
    done: Mapping[int, JSONDict] | None = None,
    *,
    operations: Operations | None = None,
) -> bool:
    """Complete one stage if all its tasks are done; see :func:`finish_stages`."""
    return finish_stages(tx, catalog, {(execution_id, stage_name): dict(done or {})}, operations)


def finish_stages(
    tx: EngineTx,
    catalog: Catalog,
    stages: Mapping[tuple[str, str], Mapping[int, JSONDict]],
    operations: Operations | None = None,
    docs: DocCache | None = None,
) -> bool:
    """Complete every given ``(execution, stage)`` whose tasks are all done: roll up, then start the next stage or
    end the execution. A batch of stages costs a handful of statements, not a handful per stage.

    Each stage comes with the outputs of its tasks that finished in the caller's transaction and are not stored
    yet: when they complete the stage they are used directly (the tasks are deleted anyway), otherwise they are
    stored. Returns whether an execution left ``Started`` (ended or went ``Waiting``), freeing an admission slot.
    """
    ops = operations or Operations(tx, catalog)
    freed = False
    work = {key: dict(done) for key, done in stages.items()}
    while work:
        execution_ids = sorted({execution_id for execution_id, _ in work})
        rows = {r.id: r for r in tx.lock_executions(execution_ids)}
        by_stage: dict[tuple[str, str], list[StageTask]] = {}
        for task in tx.stage_tasks_of(execution_ids):
            by_stage.setdefault((task.execution_id, task.stage), []).append(task)
        unstored: dict[int, JSONDict] = {}
        finished: list[str] = []
        spent: list[int] = []
        new_tasks: list[dict[str, Any]] = []
        changes: list[statuses.StatusChange] = []
        follow: dict[tuple[str, str], dict[int, JSONDict]] = {}
        for (execution_id, stage_name), pending in sorted(work.items()):
            row = rows.get(execution_id)
            tasks_ = by_stage.get((execution_id, stage_name), [])
            if (
                row is None  # deleted meanwhile
                or row.status in TERMINAL_STATUSES
                or row.current_stage != stage_name
                or not tasks_
                or any(t.state != DONE and t.id not in pending for t in tasks_)
            ):
                unstored.update(pending)
                continue
            outputs = [pending[t.id] if t.id in pending else loads(t.output) for t in tasks_]
            doc: JSONDict = docs.take(execution_id, row.doc) if docs is not None else loads(row.doc)
            result = complete_stage(doc, stage_name, outputs)
            if result.next_stage is None:
                final = WorkflowStatus.COMPLETE if result.status is StageStatus.COMPLETE else WorkflowStatus.ERROR
                changes.append(statuses.StatusChange(row, final, doc, END_STAGE, result.message))
                finished.append(execution_id)
                if docs is not None:
                    docs.drop(execution_id)
                freed = True
                continue
            spent.extend(t.id for t in tasks_)
            rows_, complete, waiting = stage_tasks(doc, result.next_stage, ops)
            new_tasks.extend(rows_)
            status = WorkflowStatus.WAITING if waiting else row.status
            changes.append(statuses.StatusChange(row, status, doc, result.next_stage))
            if waiting and row.status == WorkflowStatus.STARTED:
                freed = True
            if complete:
                follow[(execution_id, result.next_stage)] = {}
        store_done(tx, unstored)
        tx.delete_tasks(spent)
        tx.delete_tasks_of(finished)
        tx.insert_tasks(new_tasks)
        texts = statuses.set_statuses(tx, changes)
        if docs is not None:
            for change in changes:
                text = texts.get(change.row.id)
                if text is not None and change.doc is not None and change.status not in TERMINAL_STATUSES:
                    docs.keep(change.row.id, text, change.doc)
        work = follow
    return freed


def complete_waits(tx: EngineTx, execution_id: str, stage_name: str) -> None:
    """Finish the Wait operations of a resumed stage (MIE's check-wait sees ``Started`` and completes)."""
    outputs: dict[int, JSONDict] = {}
    for task_id, payload in tx.waiting_tasks(execution_id, stage_name):
        output = loads(payload)
        output["Status"] = OperationStatus.COMPLETE.value
        outputs[task_id] = output
    store_done(tx, outputs)
