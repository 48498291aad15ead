"""Reading and writing execution rows: the stored document plus the status columns beside it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Update, bindparam, insert, select, update

from mie.dataplane.changes import WORKFLOW_EXECUTION, execution_event
from mie.errors import NotFoundError
from mie.model.execution import STATUS_FIELDS
from mie.storage.sql.db import dumps, loads
from mie.storage.sql.outbox import append_many
from mie.storage.sql.tables import executions
from mie.types import TERMINAL_STATUSES, JSONDict, WorkflowStatus


def state_machine_arn(workflow_name: str, execution_id: str) -> str:
    """The opaque ``StateMachineExecutionArn`` MIE clients read."""
    return f"arn:mie:states:local:execution:{workflow_name}:{execution_id}"


def full_record(row: Row[Any]) -> JSONDict:
    """The execution record as MIE returns it: the document with the status columns folded in."""
    doc: JSONDict = loads(row.doc)
    doc["Status"] = row.status
    doc["CurrentStage"] = row.current_stage
    if row.message:
        doc["Message"] = row.message
    if row.status != WorkflowStatus.QUEUED:
        doc["StateMachineExecutionArn"] = state_machine_arn(row.workflow_name, row.id)
    return doc


def projection(row: Row[Any], *, with_created: bool = False) -> JSONDict:
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


# Built once: reusing a statement object skips rebuilding it and its cache key (the engine's hot path).
_LOAD = select(executions).where(executions.c.id == bindparam("b_id"))
_LOAD_LOCKED = _LOAD.with_for_update()
_INSERT = insert(executions)
_UPDATES: dict[tuple[str, ...], Update] = {}


def _update(columns: tuple[str, ...]) -> Update:
    """``UPDATE executions SET <columns> WHERE id = :b_id``, one statement object per column set."""
    stmt = _UPDATES.get(columns)
    if stmt is None:
        stmt = (
            update(executions)
            .where(executions.c.id == bindparam("b_id"))
            .values({name: bindparam(f"v_{name}") for name in columns})
        )
        _UPDATES[columns] = stmt
    return stmt


def load(conn: Connection, execution_id: str, *, lock: bool = False) -> Row[Any]:
    """The execution row (locked for update on PostgreSQL when ``lock``); 404 when unknown."""
    row = conn.execute(_LOAD_LOCKED if lock else _LOAD, {"b_id": execution_id}).first()
    if row is None:
        raise NotFoundError(f"workflow execution '{execution_id}' not found")
    return row


def insert_execution(conn: Connection, record: JSONDict) -> None:
    """Store a new execution document and announce it."""
    doc = {k: v for k, v in record.items() if k not in STATUS_FIELDS}
    conn.execute(
        _INSERT,
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
    announce(conn, [(record["AssetId"], execution_event(record))])


@dataclass(frozen=True)
class StatusChange:
    """One change of an execution row, as :func:`set_status` takes it (see there)."""

    row: Row[Any]
    status: str
    doc: JSONDict | None = None
    current_stage: str | None = None
    message: str | None = None
    store_doc: bool = True


def set_status(
    conn: Connection,
    row: Row[Any],
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
    set_statuses(conn, [StatusChange(row, status, doc, current_stage, message, store_doc)])


def set_statuses(conn: Connection, changes: Sequence[StatusChange]) -> dict[str, str]:
    """Apply several changes (of different executions): one statement per set of columns, then the announcements
    in order. Returns the stored document text of each execution whose document was written."""
    texts: dict[str, str] = {}
    batches: dict[tuple[str, ...], list[dict[str, Any]]] = {}
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
        params = {f"v_{name}": value for name, value in values.items()}
        params["b_id"] = row.id
        batches.setdefault(tuple(values), []).append(params)
        if status != row.status:
            event_doc = (
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
    for columns, params_list in batches.items():
        conn.execute(_update(columns), params_list)
    announce(conn, events)
    return texts


def announce(conn: Connection, events: Sequence[tuple[str, JSONDict]]) -> None:
    """Append ``(asset_id, payload)`` execution events to the change log, in order, in one statement.

    Through ``mie.storage.sql.outbox.append_many``, which owns the outbox's row format and its commit ordering on
    PostgreSQL.
    """
    if events:
        append_many(conn, [(WORKFLOW_EXECUTION, asset_id, payload) for asset_id, payload in events])
