"""Workflow executions as the API sees them: create, read, list, resume, cancel, delete (teardown §2.1.3, §1.6)."""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

from mie.dataplane.service import MEDIA_TYPES, DataPlane
from mie.engine import statuses
from mie.engine.catalog import Catalog
from mie.errors import ConflictError, InvalidError, NotFoundError
from mie.model.execution import apply_configuration, initialize_execution
from mie.model.records import created_now, new_id
from mie.storage.codec import loads
from mie.storage.engine import EngineStore, TaskProgress
from mie.storage.objects import check_bucket, check_key
from mie.types import END_STAGE, TERMINAL_STATUSES, JSONDict, WorkflowStatus

ACTIVE_STATUSES = [s.value for s in WorkflowStatus if s not in TERMINAL_STATUSES]
CANCELLED_MESSAGE = "Cancelled by request"


class Executions:
    """Execution records and the operations the workflow API offers on them."""

    def __init__(self, store: EngineStore, catalog: Catalog, dataplane: DataPlane, wake: Callable[[], None]) -> None:
        self.store = store
        self.catalog = catalog
        self.dataplane = dataplane
        self._wake = wake

    def create(self, body: Any) -> JSONDict:
        """``POST /workflow/execution``: validate, create the asset (or reuse one), store ``Queued``."""
        if not isinstance(body, dict):
            raise InvalidError("the request body must be a JSON object")
        name = body.get("Name")
        if not isinstance(name, str) or not name:
            raise InvalidError("Key 'Name' is required: the name of the workflow to run")
        try:
            workflow = self.catalog.get_workflow(name)
        except NotFoundError as exc:
            raise NotFoundError(f"workflow name '{name}' not found") from exc
        configuration = body.get("Configuration")
        # Validate the override before touching any media, so a bad request changes nothing.
        apply_configuration(copy.deepcopy(workflow), configuration)
        inp = body.get("Input")
        if not isinstance(inp, dict) or not ("AssetId" in inp or "Media" in inp):
            raise InvalidError('Input must contain either "AssetId" or "Media"')
        media = inp.get("Media")
        if media is not None:
            media_type, location = _first_media(media)
        execution_id = new_id()
        if "AssetId" in inp:
            asset_id = inp["AssetId"]
            if not isinstance(asset_id, str) or not asset_id:
                raise InvalidError("Input.AssetId must be a string")
            with self.store.transaction() as tx:
                row = tx.lock_asset(asset_id)
                if row is None:
                    raise NotFoundError(f"Asset {asset_id} does not exist")
                active = tx.executions_of_asset(asset_id, ACTIVE_STATUSES)
                if active:
                    raise ConflictError(
                        f"There is currently another workflow execution(Id = {active[-1].id}) active on AssetId "
                        f"{asset_id}."
                    )
                if media is None:
                    media_type = row.media_type or "Video"
                    location = {"S3Bucket": row.s3_bucket, "S3Key": row.s3_key}
                elif not self.dataplane.objects.exists(location["S3Bucket"], location["S3Key"]):
                    raise InvalidError(
                        f"Input media s3://{location['S3Bucket']}/{location['S3Key']} does not exist: upload it first"
                    )
                record = initialize_execution(
                    workflow,
                    execution_id=execution_id,
                    asset_id=asset_id,
                    media={media_type: location},
                    configuration=configuration,
                    created=created_now(),
                )
                statuses.insert_execution(tx, record)
        else:
            created: list[JSONDict] = []

            def insert(conn: object, asset: JSONDict) -> None:
                # In the asset's own transaction: a crash leaves both or neither, and the retry can succeed.
                created.append(
                    initialize_execution(
                        workflow,
                        execution_id=execution_id,
                        asset_id=asset["AssetId"],
                        media={media_type: {"S3Bucket": asset["S3Bucket"], "S3Key": asset["S3Key"]}},
                        configuration=configuration,
                        created=created_now(),
                    )
                )
                statuses.insert_execution(self.store.joined(conn), created[0])

            self.dataplane.create_asset(
                location["S3Bucket"],
                location["S3Key"],
                media_type if media_type in MEDIA_TYPES else None,
                also=insert,
            )
            record = created[0]
        self.dataplane.changes.notify()
        self._wake()
        return record

    def get(self, execution_id: str) -> JSONDict:
        """``GET /workflow/execution/{Id}``; while it runs, ``Progress`` lists its current stage's operators."""
        with self.store.reading() as tx:
            row = statuses.load(tx, execution_id)
            record = statuses.full_record(row)
            if row.status in (WorkflowStatus.STARTED, WorkflowStatus.WAITING):
                record["Progress"] = _progress(tx.stage_progress(execution_id, row.current_stage), row.current_stage)
        return record

    def list_all(self, *, limit: int | None = None, after: int | None = None) -> tuple[list[JSONDict], int | None]:
        """``GET /workflow/execution``: full records, oldest first, paged by sequence number."""
        with self.store.reading() as tx:
            rows = tx.list_executions(None, after, None if limit is None else limit + 1)
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        return [statuses.full_record(r) for r in rows], (rows[-1].seq if more and rows else None)

    def by_status(
        self, status: str, *, limit: int | None = None, after: int | None = None
    ) -> tuple[list[JSONDict], int | None]:
        """``GET /workflow/execution/status/{Status}``."""
        if status not in {s.value for s in WorkflowStatus}:
            raise InvalidError(f"Status must be one of {', '.join(s.value for s in WorkflowStatus)}")
        with self.store.reading() as tx:
            rows = tx.list_executions(status, after, None if limit is None else limit + 1)
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        return [statuses.projection(r) for r in rows], (rows[-1].seq if more and rows else None)

    def by_asset(self, asset_id: str) -> list[JSONDict]:
        """``GET /workflow/execution/asset/{AssetId}``: newest first."""
        with self.store.reading() as tx:
            rows = tx.executions_of_asset(asset_id)
        return [statuses.projection(r, with_created=True) for r in rows]

    def resume(self, execution_id: str, body: Any) -> JSONDict:
        """``PUT /workflow/execution/{Id}``: ``{"WaitingStageName": S}`` resumes a ``Waiting`` execution."""
        if not isinstance(body, dict):
            raise InvalidError("the request body must be a JSON object")
        if "WaitingStageName" not in body:
            return {}
        stage = body["WaitingStageName"]
        with self.store.transaction() as tx:
            row = tx.load_execution(execution_id, lock=True)
            if row is None or row.status != WorkflowStatus.WAITING or row.current_stage != stage:
                raise InvalidError("Workflow status is not 'Waiting' or Current stage doesn't match the request")
            statuses.set_status(tx, row, WorkflowStatus.RESUMED)
        self.dataplane.changes.notify()
        self._wake()
        return {"Id": execution_id, "Status": WorkflowStatus.RESUMED.value}

    def cancel(self, execution_id: str, message: str = CANCELLED_MESSAGE) -> JSONDict:
        """``POST /workflow/execution/{Id}/cancel``: stop a queued, running or waiting execution (ends ``Error``)."""
        with self.store.transaction() as tx:
            row = statuses.load(tx, execution_id, lock=True)
            if row.status in TERMINAL_STATUSES:
                raise ConflictError(f"workflow execution '{execution_id}' has already ended with {row.status}")
            tx.delete_tasks_of([execution_id])
            statuses.set_status(tx, row, WorkflowStatus.ERROR, current_stage=END_STAGE, message=message)
            record = statuses.full_record(statuses.load(tx, execution_id))
        self.dataplane.changes.notify()
        self._wake()
        return record

    def cancel_for_asset(self, asset_id: str) -> None:
        """Cancel every active execution of an asset (before the asset is deleted)."""
        with self.store.reading() as tx:
            ids = [r.id for r in reversed(tx.executions_of_asset(asset_id, ACTIVE_STATUSES))]
        for execution_id in ids:
            with contextlib.suppress(ConflictError, NotFoundError):  # ended or deleted meanwhile
                self.cancel(execution_id, "Cancelled because its asset was deleted")

    def delete(self, execution_id: str) -> JSONDict:
        """``DELETE /workflow/execution/{Id}``: the record goes, and its work stops."""
        with self.store.transaction() as tx:
            row = statuses.load(tx, execution_id, lock=True)
            record = statuses.full_record(row)
            tx.delete_tasks_of([execution_id])
            tx.delete_execution(execution_id)
        self._wake()
        return record

    def touch(self) -> None:
        """Wake the scheduler (after a configuration change)."""
        self._wake()


def _first_media(media: Any) -> tuple[str, JSONDict]:
    if not isinstance(media, dict) or not media:
        raise InvalidError('Input.Media must be an object like {"Video": {"S3Bucket": ..., "S3Key": ...}}')
    media_type, location = next(iter(media.items()))
    if not isinstance(location, dict):
        raise InvalidError(f"Input.Media.{media_type} must be an object with S3Bucket and S3Key")
    for key in ("S3Bucket", "S3Key"):
        if not isinstance(location.get(key), str) or not location[key]:
            raise InvalidError(f"Input.Media.{media_type} is missing '{key}'")
    # The same rules as every other bucket and key, whether the media becomes an asset or comes with Input.AssetId.
    check_bucket(location["S3Bucket"])
    check_key(location["S3Key"])
    return str(media_type), {"S3Bucket": location["S3Bucket"], "S3Key": location["S3Key"]}


_TASK_STATES = {"pending": "Queued", "running": "Running", "waiting": "Waiting", "done": "Done"}


def _progress(rows: Sequence[TaskProgress], stage: str) -> list[JSONDict]:
    """Our addition to the execution record: where each operator of the current stage is."""
    out: list[JSONDict] = []
    for row in rows:
        item: JSONDict = {
            "Stage": stage,
            "Operation": row.operation,
            "State": _TASK_STATES.get(row.state, row.state),
            "Phase": row.phase,
            "Attempt": row.attempt + 1,
        }
        if row.progress and row.state == "running":
            reported = loads(row.progress)
            item.update({k: reported.get(k) for k in ("Percent", "Message", "Updated")})
            remaining = _remaining(reported)
            if remaining is not None:
                item["EstimatedSecondsRemaining"] = remaining
        out.append(item)
    return out


def _remaining(reported: JSONDict) -> float | None:
    """Seconds left at the rate so far (linear in the reported percent); None before there is a rate."""
    values = [v for v in (reported.get(k) for k in ("Percent", "Started", "Updated")) if isinstance(v, int | float)]
    if len(values) != 3:
        return None
    percent, started, updated = (float(v) for v in values)
    if not 0 < percent <= 100:
        return None
    elapsed = updated - started
    left = elapsed * (100 - percent) / percent - max(0.0, time.time() - updated)
    return round(max(0.0, left), 1)
