"""Operations, stages, workflows and system configuration: the control-plane catalog (teardown §2.1, §3.2-§3.4).

Unlike MIE, ``PUT /workflow/operation`` and ``PUT /workflow/stage`` really update, and the change flows into the
stages and workflows that use them, so the next execution runs with it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from mie.errors import ConflictError, InvalidError, NotFoundError
from mie.model import records
from mie.operators.outbound import STRICT, OutboundPolicy
from mie.storage.sql.db import Database, dumps, loads
from mie.storage.sql.tables import operations, stages, system_configuration, workflows
from mie.types import JSONDict

MAX_CONCURRENT_WORKFLOWS = "MaxConcurrentWorkflows"

#: StartLambdaArn/MonitorLambdaArn of MIE's Wait operation; the engine handles it itself.
WAIT_START = "start-wait-operation"
WAIT_MONITOR = "check-wait-operation"

WAIT_OPERATION: JSONDict = {
    "Name": "Wait",
    "Type": "Async",
    # MIE declares Enabled false, but its CloudFormation bool("false") bug enables it on every deployment;
    # workflows written for MIE therefore expect it to run.
    "Configuration": {"MediaType": "MetadataOnly", "Enabled": True},
    "StartLambdaArn": WAIT_START,
    "MonitorLambdaArn": WAIT_MONITOR,
}


def _get(conn: Connection, table: Table, name: str) -> JSONDict | None:
    row = conn.execute(select(table.c.doc).where(table.c.name == name)).first()
    return None if row is None else dict(loads(row[0]))


def _put(conn: Connection, table: Table, name: str, doc: JSONDict, *, new: bool) -> None:
    if new:
        conn.execute(insert(table).values(name=name, doc=dumps(doc)))
    else:
        conn.execute(update(table).where(table.c.name == name).values(doc=dumps(doc)))


def _all(conn: Connection, table: Table) -> list[JSONDict]:
    return [dict(loads(r[0])) for r in conn.execute(select(table.c.doc).order_by(table.c.name))]


class Catalog:
    """CRUD for the catalog records, each change in one transaction."""

    def __init__(
        self,
        db: Database,
        *,
        default_max_concurrent: int = 5,
        on_change: Callable[[], None],
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        self.db = db
        #: Where HTTP operators' URLs may point (checked when an operation is created or updated).
        self.outbound = outbound
        self.default_max_concurrent = default_max_concurrent
        self._on_change = on_change

    # System configuration ------------------------------------------------------------------------------------

    def set_configuration(self, body: Any) -> JSONDict:
        """``POST /system/configuration``: store ``{Name, Value}``; ``MaxConcurrentWorkflows`` applies at once."""
        if not isinstance(body, dict) or not isinstance(body.get("Name"), str) or "Value" not in body:
            raise InvalidError('The body must be {"Name": <string>, "Value": <value>}')
        name, value = body["Name"], body["Value"]
        if name == MAX_CONCURRENT_WORKFLOWS:
            value = parse_max_concurrent(value)
        with self.db.write() as conn:
            exists = conn.execute(
                select(system_configuration.c.name).where(system_configuration.c.name == name)
            ).first()
            if exists:
                conn.execute(
                    update(system_configuration).where(system_configuration.c.name == name).values(value=dumps(value))
                )
            else:
                conn.execute(insert(system_configuration).values(name=name, value=dumps(value)))
        self._on_change()
        return {}

    def list_configuration(self) -> list[JSONDict]:
        """``GET /system/configuration``: every item, with the effective ``MaxConcurrentWorkflows``."""
        with self.db.read() as conn:
            rows = conn.execute(select(system_configuration).order_by(system_configuration.c.name)).all()
        items = [{"Name": r.name, "Value": loads(r.value)} for r in rows]
        if not any(i["Name"] == MAX_CONCURRENT_WORKFLOWS for i in items):
            items.insert(0, {"Name": MAX_CONCURRENT_WORKFLOWS, "Value": self.default_max_concurrent})
        return items

    def max_concurrent(self, conn: Connection) -> int:
        """The admission limit in force."""
        row = conn.execute(
            select(system_configuration.c.value).where(system_configuration.c.name == MAX_CONCURRENT_WORKFLOWS)
        ).first()
        return self.default_max_concurrent if row is None else int(loads(row[0]))

    # Operations ----------------------------------------------------------------------------------------------

    def create_operation(self, body: Any) -> JSONDict:
        """``POST /workflow/operation``: the operation and its singleton stage ``_<Name>``."""
        body = self._check_urls(records.validate_operation_request(body))
        with self.db.write() as conn:
            return self._create_operation(conn, body)

    def _check_urls(self, body: JSONDict) -> JSONDict:
        """Refuse HTTP operators aimed at loopback, link-local or private addresses (``MIE_OUTBOUND_ALLOW``)."""
        for key in ("StartLambdaArn", "MonitorLambdaArn"):
            arn = body.get(key)
            if isinstance(arn, str) and arn.startswith(("http://", "https://")):
                self.outbound.check(arn, key)
        return body

    def _create_operation(self, conn: Connection, body: JSONDict) -> JSONDict:
        name = body["Name"]
        if _get(conn, operations, name) is not None:
            raise ConflictError(f"A operation with the name '{name}' already exists")
        record = records.build_operation(body)
        _put(conn, operations, name, record, new=True)
        stage_name = record["StageName"]
        singleton = records.build_stage({"Name": stage_name, "Operations": [name]}, [record])
        _put(conn, stages, stage_name, singleton, new=_get(conn, stages, stage_name) is None)
        return record

    def ensure_operation(self, body: JSONDict) -> None:
        """Create an operation if no operation of that name exists (used to seed built-ins)."""
        with self.db.write() as conn:
            if _get(conn, operations, body["Name"]) is None:
                self._create_operation(conn, records.validate_operation_request(body))

    def update_operation(self, body: Any) -> JSONDict:
        """``PUT /workflow/operation``: replace an operation; stages and workflows using it follow."""
        body = self._check_urls(records.validate_operation_request(body))
        name = body["Name"]
        with self.db.write() as conn:
            previous = _get(conn, operations, name)
            if previous is None:
                raise NotFoundError(f"operation '{name}' not found")
            record = records.build_operation(body, previous=previous)
            _put(conn, operations, name, record, new=False)
            for stage in _all(conn, stages):
                if name in stage["Operations"]:
                    self._rebuild_stage(conn, stage)
        return record

    def get_operation(self, name: str) -> JSONDict:
        """``GET /workflow/operation/{Name}``."""
        with self.db.read() as conn:
            record = _get(conn, operations, name)
        if record is None:
            raise NotFoundError(f"operation '{name}' not found")
        return record

    def list_operations(self) -> list[JSONDict]:
        """``GET /workflow/operation``."""
        with self.db.read() as conn:
            return _all(conn, operations)

    def operations_by_name(self, conn: Connection, names: set[str]) -> dict[str, JSONDict]:
        """Operation records for a set of names (missing names are absent)."""
        if not names:
            return {}
        rows = conn.execute(select(operations.c.name, operations.c.doc).where(operations.c.name.in_(names)))
        return {r.name: dict(loads(r.doc)) for r in rows}

    def delete_operation(self, name: str, *, force: bool = False) -> JSONDict:
        """``DELETE /workflow/operation/{Name}``: refuses while workflows use it, unless ``force``."""
        with self.db.write() as conn:
            record = _get(conn, operations, name)
            if record is None:
                return {"Message": f"Warning: operation '{name}' not found"}
            dependents = [w for w in _all(conn, workflows) if name in w.get("Operations", [])]
            if dependents and not force:
                raise InvalidError(
                    f"Dependent workflows were found for operation {name}. Either delete the dependent workflows "
                    f"or set the query parameter force=true to delete the operation anyway. Dependent workflows "
                    f"can be found using the method GET /workflow/list/operation/{name}"
                )
            conn.execute(delete(operations).where(operations.c.name == name))
            conn.execute(delete(stages).where(stages.c.name == record.get("StageName", "_" + name)))
            for wf in dependents:
                wf.setdefault("StaleOperations", []).append(name)
                _put(conn, workflows, wf["Name"], wf, new=False)
        return record

    # Stages --------------------------------------------------------------------------------------------------

    def _stage_operations(self, conn: Connection, names: list[str]) -> list[JSONDict]:
        found = self.operations_by_name(conn, set(names))
        for op in names:
            if op not in found:
                raise NotFoundError(f"operation '{op}' not found")
        return [found[op] for op in names]

    def create_stage(self, body: Any) -> JSONDict:
        """``POST /workflow/stage``."""
        body = records.validate_stage_request(body)
        with self.db.write() as conn:
            if _get(conn, stages, body["Name"]) is not None:
                raise ConflictError(f"A stage with the name '{body['Name']}' already exists")
            record = records.build_stage(body, self._stage_operations(conn, body["Operations"]))
            _put(conn, stages, body["Name"], record, new=True)
        return record

    def update_stage(self, body: Any) -> JSONDict:
        """``PUT /workflow/stage``: replace a stage's operations; workflows using it follow."""
        body = records.validate_stage_request(body)
        with self.db.write() as conn:
            previous = _get(conn, stages, body["Name"])
            if previous is None:
                raise NotFoundError(f"stage '{body['Name']}' not found")
            ops = self._stage_operations(conn, body["Operations"])
            record = records.build_stage(body, ops, previous=previous)
            _put(conn, stages, body["Name"], record, new=False)
            self._refresh_workflows(conn, lambda wf: body["Name"] in wf["Stages"])
        return record

    def _rebuild_stage(self, conn: Connection, stage: JSONDict) -> None:
        body = {k: v for k, v in stage.items() if k not in ("Configuration", "Definition")}
        ops = self._stage_operations(conn, stage["Operations"])
        record = records.build_stage(body, ops, previous=stage)
        _put(conn, stages, stage["Name"], record, new=False)
        self._refresh_workflows(conn, lambda wf: stage["Name"] in wf["Stages"])

    def _refresh_workflows(self, conn: Connection, uses: Callable[[JSONDict], bool]) -> None:
        for wf in _all(conn, workflows):
            if uses(wf):
                body = dict(wf)
                body["Stages"] = _links(wf)
                record = records.build_workflow(body, self._workflow_stages(conn, body), previous=wf)
                _put(conn, workflows, wf["Name"], record, new=False)

    def get_stage(self, name: str) -> JSONDict:
        """``GET /workflow/stage/{Name}``."""
        with self.db.read() as conn:
            record = _get(conn, stages, name)
        if record is None:
            raise NotFoundError(f"stage '{name}' not found")
        return record

    def list_stages(self) -> list[JSONDict]:
        """``GET /workflow/stage``."""
        with self.db.read() as conn:
            return _all(conn, stages)

    def delete_stage(self, name: str, *, force: bool = False) -> JSONDict:
        """``DELETE /workflow/stage/{Name}``: refuses while workflows use it, unless ``force``."""
        with self.db.write() as conn:
            record = _get(conn, stages, name)
            if record is None:
                return {"Message": f"Warning: stage '{name}' not found"}
            dependents = [w for w in _all(conn, workflows) if name in w.get("Stages", {})]
            if dependents and not force:
                raise InvalidError(
                    f"Dependent workflows were found for stage {name}. Either delete the dependent workflows or "
                    f"set the query parameter force=true to delete the stage anyway. Dependent workflows can be "
                    f"found using the method GET /workflow/list/stage/{name}"
                )
            conn.execute(delete(stages).where(stages.c.name == name))
            for wf in dependents:
                wf.setdefault("StaleStages", []).append(name)
                _put(conn, workflows, wf["Name"], wf, new=False)
        return record

    # Workflows -----------------------------------------------------------------------------------------------

    def _workflow_stages(self, conn: Connection, body: JSONDict) -> dict[str, JSONDict]:
        found: dict[str, JSONDict] = {}
        for name in body["Stages"]:
            record = _get(conn, stages, name)
            if record is None:
                raise NotFoundError(f"stage '{name}' not found")
            found[name] = record
        return found

    def create_workflow(self, body: Any) -> JSONDict:
        """``POST /workflow``."""
        body = records.validate_workflow_request(body)
        with self.db.write() as conn:
            if _get(conn, workflows, body["Name"]) is not None:
                raise ConflictError(f"Workflow with Name {body['Name']} already exists")
            record = records.build_workflow(body, self._workflow_stages(conn, body))
            _put(conn, workflows, body["Name"], record, new=True)
        return record

    def update_workflow(self, body: Any) -> JSONDict:
        """``PUT /workflow``: change StartAt/Stages (or just re-snapshot the current stage records)."""
        if not isinstance(body, dict) or not isinstance(body.get("Name"), str):
            raise InvalidError("Key 'Name' is required in 'Workflow Definition' input")
        with self.db.write() as conn:
            previous = _get(conn, workflows, body["Name"])
            if previous is None:
                raise NotFoundError(f"workflow '{body['Name']}' not found")
            merged = {**previous, "Stages": _links(previous), **body}
            merged = records.validate_workflow_request(merged)
            record = records.build_workflow(merged, self._workflow_stages(conn, merged), previous=previous)
            _put(conn, workflows, body["Name"], record, new=False)
        return record

    def get_workflow(self, name: str, conn: Connection | None = None) -> JSONDict:
        """``GET /workflow/{Name}``."""
        if conn is None:
            with self.db.read() as c:
                record = _get(c, workflows, name)
        else:
            record = _get(conn, workflows, name)
        if record is None:
            raise NotFoundError(f"workflow '{name}' not found")
        return record

    def list_workflows(self, predicate: Callable[[JSONDict], bool] | None = None) -> list[JSONDict]:
        """``GET /workflow`` and the ``/workflow/list/...`` filters."""
        with self.db.read() as conn:
            found = _all(conn, workflows)
        return [w for w in found if predicate is None or predicate(w)]

    def delete_workflow(self, name: str) -> JSONDict:
        """``DELETE /workflow/{Name}``."""
        with self.db.write() as conn:
            record = _get(conn, workflows, name)
            if record is None:
                return {"Message": f"Workflow '{name}' not found"}
            conn.execute(delete(workflows).where(workflows.c.name == name))
        return record


def _links(workflow: JSONDict) -> JSONDict:
    """The ``{stage: {Next|End}}`` skeleton of a stored workflow."""
    return {
        name: ({"End": True} if stage.get("End") is True else {"Next": stage["Next"]})
        for name, stage in workflow["Stages"].items()
    }


def parse_max_concurrent(value: Any) -> int:
    """Validate a ``MaxConcurrentWorkflows`` value: a whole number of at least 1."""
    if isinstance(value, bool):
        raise InvalidError("MaxConcurrentWorkflows must be a whole number of at least 1")
    try:
        number = float(value) if isinstance(value, str | int | float) else 0.0
    except ValueError:
        number = 0.0
    if not math.isfinite(number) or number < 1 or number != int(number):
        raise InvalidError(f"MaxConcurrentWorkflows must be a whole number of at least 1, not {json.dumps(value)}")
    return int(number)
