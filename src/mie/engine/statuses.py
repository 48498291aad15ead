"""Execution status changes and the execution record as MIE shows it (the stored document plus the status columns
beside it). Every change goes through a unit of work of the engine's store and is announced on the change log in
the same unit of work."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mie.dataplane.changes import WORKFLOW_EXECUTION, execution_event
from mie.errors import NotFoundError
from mie.model.execution import STATUS_FIELDS
from mie.storage.codec import dumps, loads
from mie.storage.engine import EngineTx, ExecutionRow
from mie.types import TERMINAL_STATUSES, JSONDict, WorkflowStatus


def state_machine_arn(workflow_name: str, execution_id: str) -> str:
    """The opaque ``StateMachineExecutionArn`` MIE clients read."""
    return f"arn:mie:states:local:execution:{workflow_name}:{execution_id}"


def full_record(row: ExecutionRow) -> JSONDict:
    """The execution record as MIE returns it: the document with the status columns folded in."""
    doc: JSONDict = loads(row.doc)
    doc["Status"] = row.status
    doc["CurrentStage"] = row.current_stage
    if row.message:
        doc["Message"] = row.message
    if row.status != WorkflowStatus.QUEUED:
        doc["StateMachineExecutionArn"] = state_machine_arn(row.workflow_name, row.id)
    return doc


def projection(row: ExecutionRow, *, with_created: bool = False) -> JSONDict:
    """The short form of ``/workflow/execution/status/{s}`` and ``/asset/{a}``."""
    out: JSONDict = {
        "Id": row.id,
        "AssetId": row.asset_id,
        "CurrentStage": row.current_stage,
        "StateMachineExecutionArn": state_machine_arn(row.workflow_name, row.id),
        "Status": row.status,
        "Workflow": {"Name": row.workflow_name},
    }
    if row.message:
        out["Message"] = row.message
    if with_created:
        out["Created"] = row.created
    return out


def load(tx: EngineTx, execution_id: str, *, lock: bool = False) -> ExecutionRow:
    """The execution row (locked until the end of the unit of work when ``lock``); 404 when unknown."""
    row = tx.load_execution(execution_id, lock=lock)
    if row is None:
        raise NotFoundError(f"workflow execution '{execution_id}' not found")
    return row


def insert_execution(tx: EngineTx, record: JSONDict) -> None:
    """Store a new execution document and announce it."""
    doc = {k: v for k, v in record.items() if k not in STATUS_FIELDS}
    tx.insert_execution(
        {
            "id": record["Id"],
            "workflow_name": record["Workflow"]["Name"],
            "asset_id": record["AssetId"],
            "status": record["Status"],
            "current_stage": record["CurrentStage"],
            "message": record.get("Message"),
            "created": record["Created"],
            "queued_at": time.time(),
            "finished_at": None,
            "doc": dumps(doc),
        },
    )
    announce(tx, [(record["AssetId"], execution_event(record))])


@dataclass(frozen=True)
class StatusChange:
    """One change of an execution row, as :func:`set_status` takes it (see there)."""

    row: ExecutionRow
    status: str
    doc: JSONDict | None = None
    current_stage: str | None = None
    message: str | None = None
    store_doc: bool = True


def set_status(
    tx: EngineTx,
    row: ExecutionRow,
    status: str,
    *,
    doc: JSONDict | None = None,
    current_stage: str | None = None,
    message: str | None = None,
    store_doc: bool = True,
) -> None:
    """Change an execution's status (and optionally its document), and announce the change.

    ``doc`` is the current document: stored unless ``store_doc`` is false (the caller did not change it and only
    passes it so that the announcement need not read it again).
    """
    set_statuses(tx, [StatusChange(row, status, doc, current_stage, message, store_doc)])


def set_statuses(tx: EngineTx, changes: Sequence[StatusChange]) -> dict[str, str]:
    """Apply several changes (of different executions) in one batch, then the announcements in order. Returns the
    stored document text of each execution whose document was written."""
    texts: dict[str, str] = {}
    updates: list[dict[str, Any]] = []
    events: list[tuple[str, JSONDict]] = []
    now = time.time()
    for change in changes:
        row, status, doc = change.row, change.status, change.doc
        values: dict[str, Any] = {"status": status}
        if change.current_stage is not None:
            values["current_stage"] = change.current_stage
        if change.message is not None:
            values["message"] = change.message
        if doc is not None and change.store_doc:
            values["doc"] = texts[row.id] = dumps({k: v for k, v in doc.items() if k not in STATUS_FIELDS})
        if status in (WorkflowStatus.QUEUED, WorkflowStatus.RESUMED):
            values["queued_at"] = now
        if status in TERMINAL_STATUSES:
            values["finished_at"] = now
        values["id"] = row.id
        updates.append(values)
        if status != row.status:
            event_doc: JSONDict = (
                dict(doc) if doc is not None else {"Id": row.id, "AssetId": row.asset_id, "Created": row.created}
            )
            if doc is None:
                # Globals and Configuration are only in the document; read it for the event.
                stored = loads(row.doc)
                event_doc.update(Globals=stored.get("Globals", {}), Configuration=stored.get("Configuration", {}))
            event_doc.update(
                Status=status,
                CurrentStage=change.current_stage or row.current_stage,
                Message=change.message if change.message is not None else row.message,
            )
            events.append((row.asset_id, execution_event(event_doc)))
    tx.update_executions(updates)
    announce(tx, events)
    return texts


def announce(tx: EngineTx, events: Sequence[tuple[str, JSONDict]]) -> None:
    """Append ``(asset_id, payload)`` execution events to the change log, in order, in the unit of work."""
    if events:
        tx.append_changes([(WORKFLOW_EXECUTION, asset_id, payload) for asset_id, payload in events])
