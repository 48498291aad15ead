"""Operations, stages, workflows and system configuration: the control-plane catalog (teardown §2.1, §3.2-§3.4).

Unlike MIE, ``PUT /workflow/operation`` and ``PUT /workflow/stage`` really update, and the change flows into the
stages and workflows that use them, so the next execution runs with it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from mie.errors import ConflictError, InvalidError, NotFoundError
from mie.model import records
from mie.operators.outbound import STRICT, OutboundPolicy
from mie.storage.codec import dumps, loads
from mie.storage.engine import EngineStore, EngineTx
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


class Catalog:
    """CRUD for the catalog records, each change in one transaction."""

    def __init__(
        self,
        store: EngineStore,
        *,
        default_max_concurrent: int = 5,
        on_change: Callable[[], None],
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        self.store = store
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
        with self.store.transaction() as tx:
            tx.put_setting(name, dumps(value))
        self._on_change()
        return {}

    def list_configuration(self) -> list[JSONDict]:
        """``GET /system/configuration``: every item, with the effective ``MaxConcurrentWorkflows``."""
        with self.store.reading() as tx:
            rows = tx.all_settings()
        items = [{"Name": name, "Value": loads(value)} for name, value in rows]
        if not any(i["Name"] == MAX_CONCURRENT_WORKFLOWS for i in items):
            items.insert(0, {"Name": MAX_CONCURRENT_WORKFLOWS, "Value": self.default_max_concurrent})
        return items

    def max_concurrent(self, tx: EngineTx) -> int:
        """The admission limit in force."""
        value = tx.get_setting(MAX_CONCURRENT_WORKFLOWS)
        return self.default_max_concurrent if value is None else int(loads(value))

    # Operations ----------------------------------------------------------------------------------------------

    def create_operation(self, body: Any) -> JSONDict:
        """``POST /workflow/operation``: the operation and its singleton stage ``_<Name>``."""
        body = self._check_urls(records.validate_operation_request(body))
        with self.store.transaction() as tx:
            return self._create_operation(tx, body)

    def _check_urls(self, body: JSONDict) -> JSONDict:
        """Refuse HTTP operators aimed at loopback, link-local or private addresses (``MIE_OUTBOUND_ALLOW``)."""
        for key in ("StartLambdaArn", "MonitorLambdaArn"):
            arn = body.get(key)
            if isinstance(arn, str) and arn.startswith(("http://", "https://")):
                self.outbound.check(arn, key)
        return body

    def _create_operation(self, tx: EngineTx, body: JSONDict) -> JSONDict:
        name = body["Name"]
        if tx.get_record("operations", name) is not None:
            raise ConflictError(f"A operation with the name '{name}' already exists")
        record = records.build_operation(body)
        tx.put_record("operations", name, record, new=True)
        stage_name = record["StageName"]
        singleton = records.build_stage({"Name": stage_name, "Operations": [name]}, [record])
        tx.put_record("stages", stage_name, singleton, new=tx.get_record("stages", stage_name) is None)
        return record

    def ensure_operation(self, body: JSONDict) -> None:
        """Create an operation if no operation of that name exists (used to seed built-ins)."""
        with self.store.transaction() as tx:
            if tx.get_record("operations", body["Name"]) is None:
                self._create_operation(tx, records.validate_operation_request(body))

    def update_operation(self, body: Any) -> JSONDict:
        """``PUT /workflow/operation``: replace an operation; stages and workflows using it follow."""
        body = self._check_urls(records.validate_operation_request(body))
        name = body["Name"]
        with self.store.transaction() as tx:
            previous = tx.get_record("operations", name)
            if previous is None:
                raise NotFoundError(f"operation '{name}' not found")
            record = records.build_operation(body, previous=previous)
            tx.put_record("operations", name, record, new=False)
            for stage in tx.all_records("stages"):
                if name in stage["Operations"]:
                    self._rebuild_stage(tx, stage)
        return record

    def get_operation(self, name: str) -> JSONDict:
        """``GET /workflow/operation/{Name}``."""
        with self.store.reading() as tx:
            record = tx.get_record("operations", name)
        if record is None:
            raise NotFoundError(f"operation '{name}' not found")
        return record

    def list_operations(self) -> list[JSONDict]:
        """``GET /workflow/operation``."""
        with self.store.reading() as tx:
            return tx.all_records("operations")

    def operations_by_name(self, tx: EngineTx, names: set[str]) -> dict[str, JSONDict]:
        """Operation records for a set of names (missing names are absent)."""
        if not names:
            return {}
        return tx.records_by_name("operations", sorted(names))

    def delete_operation(self, name: str, *, force: bool = False) -> JSONDict:
        """``DELETE /workflow/operation/{Name}``: refuses while workflows use it, unless ``force``."""
        with self.store.transaction() as tx:
            record = tx.get_record("operations", name)
            if record is None:
                return {"Message": f"Warning: operation '{name}' not found"}
            dependents = [w for w in tx.all_records("workflows") if name in w.get("Operations", [])]
            if dependents and not force:
                raise InvalidError(
                    f"Dependent workflows were found for operation {name}. Either delete the dependent workflows "
                    f"or set the query parameter force=true to delete the operation anyway. Dependent workflows "
                    f"can be found using the method GET /workflow/list/operation/{name}"
                )
            tx.delete_record("operations", name)
            tx.delete_record("stages", record.get("StageName", "_" + name))
            for wf in dependents:
                wf.setdefault("StaleOperations", []).append(name)
                tx.put_record("workflows", wf["Name"], wf, new=False)
        return record

    # Stages --------------------------------------------------------------------------------------------------

    def _stage_operations(self, tx: EngineTx, names: list[str]) -> list[JSONDict]:
        found = self.operations_by_name(tx, set(names))
        for op in names:
            if op not in found:
                raise NotFoundError(f"operation '{op}' not found")
        return [found[op] for op in names]

    def create_stage(self, body: Any) -> JSONDict:
        """``POST /workflow/stage``."""
        body = records.validate_stage_request(body)
        with self.store.transaction() as tx:
            if tx.get_record("stages", body["Name"]) is not None:
                raise ConflictError(f"A stage with the name '{body['Name']}' already exists")
            record = records.build_stage(body, self._stage_operations(tx, body["Operations"]))
            tx.put_record("stages", body["Name"], record, new=True)
        return record

    def update_stage(self, body: Any) -> JSONDict:
        """``PUT /workflow/stage``: replace a stage's operations; workflows using it follow."""
        body = records.validate_stage_request(body)
        with self.store.transaction() as tx:
            previous = tx.get_record("stages", body["Name"])
            if previous is None:
                raise NotFoundError(f"stage '{body['Name']}' not found")
            ops = self._stage_operations(tx, body["Operations"])
            record = records.build_stage(body, ops, previous=previous)
            tx.put_record("stages", body["Name"], record, new=False)
            self._refresh_workflows(tx, lambda wf: body["Name"] in wf["Stages"])
        return record

    def _rebuild_stage(self, tx: EngineTx, stage: JSONDict) -> None:
        body = {k: v for k, v in stage.items() if k not in ("Configuration", "Definition")}
        ops = self._stage_operations(tx, stage["Operations"])
        record = records.build_stage(body, ops, previous=stage)
        tx.put_record("stages", stage["Name"], record, new=False)
        self._refresh_workflows(tx, lambda wf: stage["Name"] in wf["Stages"])

    def _refresh_workflows(self, tx: EngineTx, uses: Callable[[JSONDict], bool]) -> None:
        for wf in tx.all_records("workflows"):
            if uses(wf):
                body = dict(wf)
                body["Stages"] = _links(wf)
                record = records.build_workflow(body, self._workflow_stages(tx, body), previous=wf)
                tx.put_record("workflows", wf["Name"], record, new=False)

    def get_stage(self, name: str) -> JSONDict:
        """``GET /workflow/stage/{Name}``."""
        with self.store.reading() as tx:
            record = tx.get_record("stages", name)
        if record is None:
            raise NotFoundError(f"stage '{name}' not found")
        return record

    def list_stages(self) -> list[JSONDict]:
        """``GET /workflow/stage``."""
        with self.store.reading() as tx:
            return tx.all_records("stages")

    def delete_stage(self, name: str, *, force: bool = False) -> JSONDict:
        """``DELETE /workflow/stage/{Name}``: refuses while workflows use it, unless ``force``."""
        with self.store.transaction() as tx:
            record = tx.get_record("stages", name)
            if record is None:
                return {"Message": f"Warning: stage '{name}' not found"}
            dependents = [w for w in tx.all_records("workflows") if name in w.get("Stages", {})]
            if dependents and not force:
                raise InvalidError(
                    f"Dependent workflows were found for stage {name}. Either delete the dependent workflows or "
                    f"set the query parameter force=true to delete the stage anyway. Dependent workflows can be "
                    f"found using the method GET /workflow/list/stage/{name}"
                )
            tx.delete_record("stages", name)
            for wf in dependents:
                wf.setdefault("StaleStages", []).append(name)
                tx.put_record("workflows", wf["Name"], wf, new=False)
        return record

    # Workflows -----------------------------------------------------------------------------------------------

    def _workflow_stages(self, tx: EngineTx, body: JSONDict) -> dict[str, JSONDict]:
        found: dict[str, JSONDict] = {}
        for name in body["Stages"]:
            record = tx.get_record("stages", name)
            if record is None:
                raise NotFoundError(f"stage '{name}' not found")
            found[name] = record
        return found

    def create_workflow(self, body: Any) -> JSONDict:
        """``POST /workflow``."""
        body = records.validate_workflow_request(body)
        with self.store.transaction() as tx:
            if tx.get_record("workflows", body["Name"]) is not None:
                raise ConflictError(f"Workflow with Name {body['Name']} already exists")
            record = records.build_workflow(body, self._workflow_stages(tx, body))
            tx.put_record("workflows", body["Name"], record, new=True)
        return record

    def update_workflow(self, body: Any) -> JSONDict:
        """``PUT /workflow``: change StartAt/Stages (or just re-snapshot the current stage records)."""
        if not isinstance(body, dict) or not isinstance(body.get("Name"), str):
            raise InvalidError("Key 'Name' is required in 'Workflow Definition' input")
        with self.store.transaction() as tx:
            previous = tx.get_record("workflows", body["Name"])
            if previous is None:
                raise NotFoundError(f"workflow '{body['Name']}' not found")
            merged = {**previous, "Stages": _links(previous), **body}
            merged = records.validate_workflow_request(merged)
            record = records.build_workflow(merged, self._workflow_stages(tx, merged), previous=previous)
            tx.put_record("workflows", body["Name"], record, new=False)
        return record

    def get_workflow(self, name: str, tx: EngineTx | None = None) -> JSONDict:
        """``GET /workflow/{Name}``."""
        if tx is None:
            with self.store.reading() as reader:
                record = reader.get_record("workflows", name)
        else:
            record = tx.get_record("workflows", name)
        if record is None:
            raise NotFoundError(f"workflow '{name}' not found")
        return record

    def list_workflows(self, predicate: Callable[[JSONDict], bool] | None = None) -> list[JSONDict]:
        """``GET /workflow`` and the ``/workflow/list/...`` filters."""
        with self.store.reading() as tx:
            found = tx.all_records("workflows")
        return [w for w in found if predicate is None or predicate(w)]

    def delete_workflow(self, name: str) -> JSONDict:
        """``DELETE /workflow/{Name}``."""
        with self.store.transaction() as tx:
            record = tx.get_record("workflows", name)
            if record is None:
                return {"Message": f"Workflow '{name}' not found"}
            tx.delete_record("workflows", name)
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
