"""The workflow-execution record and its state machine (teardown §1.4-§1.6, §3.5-§3.8), as pure functions.

The engine loads an execution document, calls these, and stores the result in one transaction.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mie import API_VERSION
from mie.errors import InvalidError
from mie.types import END_STAGE, METADATA_ONLY, JSONDict, OperationStatus, StageStatus, WorkflowStatus

#: Fields of the execution record kept in their own columns rather than in the stored document.
STATUS_FIELDS = ("Status", "CurrentStage", "Message")


def apply_configuration(workflow: JSONDict, override: Any) -> None:
    """Merge an execution's ``Configuration`` override into ``workflow`` in place (per key, shallow, as MIE)."""
    if override is None:
        return
    if not isinstance(override, dict):
        raise InvalidError("Configuration must be a JSON object of {stage: {operation: {key: value}}}")
    for stage_name, ops in override.items():
        stage = workflow["Stages"].get(stage_name)
        if stage is None:
            raise InvalidError(f"Invalid stage found in Configuration '{stage_name}'")
        if not isinstance(ops, dict):
            raise InvalidError(f"Configuration of stage '{stage_name}' must be a JSON object")
        for op_name, values in ops.items():
            if op_name not in stage.get("Configuration", {}):
                raise InvalidError(f"Invalid operation '{op_name}' in stage '{stage_name}'")
            if not isinstance(values, dict):
                raise InvalidError(f"Configuration of operation '{op_name}' must be a JSON object")
            for key, value in values.items():
                stage["Configuration"][op_name][key] = value


def initialize_execution(
    workflow: Mapping[str, Any],
    *,
    execution_id: str,
    asset_id: str,
    media: JSONDict,
    configuration: Any,
    created: str,
    metadata: JSONDict | None = None,
) -> JSONDict:
    """The execution record as ``POST /workflow/execution`` stores and returns it, ``Status: Queued``."""
    wf = copy.deepcopy(dict(workflow))
    apply_configuration(wf, configuration)
    globals_ = {"Media": copy.deepcopy(media), "MetaData": copy.deepcopy(metadata or {})}
    for name, stage in wf["Stages"].items():
        stage.update(
            Status=StageStatus.NOT_STARTED.value,
            Metrics={},
            Name=name,
            AssetId=asset_id,
            WorkflowExecutionId=execution_id,
        )
        stage.setdefault("MetaData", {})
    start = wf["StartAt"]
    wf["Stages"][start]["Input"] = copy.deepcopy(globals_)
    wf["Stages"][start]["Status"] = StageStatus.STARTED.value
    return {
        "Id": execution_id,
        "Trigger": "api",
        "AssetId": asset_id,
        "Status": WorkflowStatus.QUEUED.value,
        "CurrentStage": start,
        "Version": "v0",
        "Created": created,
        "ResourceType": "WORKFLOW_EXECUTION",
        "ApiVersion": API_VERSION,
        "Configuration": copy.deepcopy(configuration) if configuration is not None else {},
        "Globals": globals_,
        "Workflow": wf,
    }


def operator_event(stage: Mapping[str, Any], op_name: str) -> JSONDict:
    """What MIE's Filter passes an operator's start call (teardown §3.6), before the skip decision."""
    return {
        "Name": op_name,
        "AssetId": stage["AssetId"],
        "WorkflowExecutionId": stage["WorkflowExecutionId"],
        "Input": copy.deepcopy(stage.get("Input", {"Media": {}, "MetaData": {}})),
        "Configuration": copy.deepcopy(stage["Configuration"].get(op_name, {})),
        "Status": OperationStatus.STARTED.value,
        "MetaData": {},
        "Media": {},
    }


def should_skip(event: Mapping[str, Any]) -> bool:
    """MIE's filter rule: skip when ``Enabled`` is ``false`` or the operator's media type is absent."""
    config = event.get("Configuration") or {}
    media_type = config.get("MediaType")
    if config.get("Enabled") is False:
        return True
    if media_type == METADATA_ONLY:
        return False
    return media_type not in (event.get("Input") or {}).get("Media", {})


def skipped_output(event: Mapping[str, Any]) -> JSONDict:
    """The output object of a skipped operator: its event with ``Status: Skipped`` and no results."""
    out = dict(event)
    out.update(Status=OperationStatus.SKIPPED.value, MetaData={}, Media={})
    return out


def failed_output(event: Mapping[str, Any], error: Any) -> JSONDict:
    """MIE's OperatorFailed output: ``Status: Error`` and ``MetaData: {"<Name>Error": ...}``."""
    name = event.get("Name", "Operator")
    return {
        "Name": name,
        "AssetId": event.get("AssetId"),
        "WorkflowExecutionId": event.get("WorkflowExecutionId"),
        "Input": event.get("Input", {}),
        "Configuration": event.get("Configuration", {}),
        "Status": OperationStatus.ERROR.value,
        "MetaData": {f"{name}Error": error},
        "Media": {},
    }


def error_detail(output: Mapping[str, Any]) -> str:
    """A short human reason out of a failed output's ``MetaData`` (its ``*Error`` keys)."""
    meta = output.get("MetaData") or {}
    reasons = [f"{k}: {v}" for k, v in meta.items() if isinstance(k, str) and k.lower().endswith("error")]
    return "; ".join(reasons) if reasons else "the operator returned Status " + repr(output.get("Status"))


@dataclass(frozen=True)
class StageResult:
    """What completing a stage decided: its status, the stage to start next (or None), the error message."""

    status: StageStatus
    next_stage: str | None
    message: str | None


def complete_stage(doc: JSONDict, stage_name: str, outputs: Sequence[JSONDict]) -> StageResult:
    """MIE's CompleteStageLambda on an execution document, in place.

    Stores ``Outputs`` and ``Status`` on the stage, rolls outputs up into ``Globals`` (a media key produced twice
    in one stage is an error, metadata is last-writer-wins), and prepares the next stage's ``Input``.
    """
    stages = doc["Workflow"]["Stages"]
    stage = stages[stage_name]
    status = StageStatus.COMPLETE
    message: str | None = None
    for out in outputs:
        if out.get("Status") not in (OperationStatus.COMPLETE, OperationStatus.SKIPPED):
            status = StageStatus.ERROR
            message = (
                f"Stage {stage_name} failed because operation {out.get('Name')} execution failed. "
                f"Message: {error_detail(out)}"
            )
            break
    stage["Outputs"] = list(outputs)
    globals_ = doc.setdefault("Globals", {"Media": {}, "MetaData": {}})
    if status is StageStatus.COMPLETE:
        seen_media: dict[str, str] = {}
        for out in outputs:
            for key, value in (out.get("Media") or {}).items():
                if key in seen_media:
                    status = StageStatus.ERROR
                    message = (
                        f"Stage {stage_name} failed: operations {seen_media[key]} and {out.get('Name')} "
                        f"both produced media '{key}'"
                    )
                    break
                seen_media[key] = str(out.get("Name"))
                globals_.setdefault("Media", {})[key] = value
            for key, value in (out.get("MetaData") or {}).items():
                globals_.setdefault("MetaData", {})[key] = value
    stage["Status"] = status.value
    if status is StageStatus.ERROR or stage.get("End") is True:
        return StageResult(status, None, message)
    next_name = stage["Next"]
    nxt = stages[next_name]
    nxt["Input"] = copy.deepcopy(globals_)
    nxt["Status"] = StageStatus.STARTED.value
    return StageResult(status, next_name, None)


def final_stage_name() -> str:
    """``CurrentStage`` once an execution is over."""
    return END_STAGE
