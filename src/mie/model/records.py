"""Operation, stage and workflow records exactly as MIE stores and returns them (teardown §2.1, §3.2-§3.4)."""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from mie import API_VERSION
from mie.errors import InvalidError
from mie.model.asl import operation_asl, stage_definition
from mie.types import JSONDict

#: Names become URL path segments and object-key parts, so they are kept to a safe alphabet.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}\Z")
OPERATION_TYPES = ("Sync", "Async")


def created_now() -> str:
    """MIE's ``Created`` stamp: the epoch as a string (``str(datetime.now().timestamp())``)."""
    return repr(time.time())


def new_id() -> str:
    """A uuid4 string, as MIE uses for every ``Id``."""
    return str(uuid.uuid4())


def check_name(kind: str, name: Any) -> str:
    """Validate a record name, or raise a 400 that says what is wrong."""
    if not isinstance(name, str) or not name:
        raise InvalidError(f"Key 'Name' is required in '{kind}' input and must be a non-empty string")
    if not NAME_PATTERN.match(name):
        raise InvalidError(
            f"{kind} name {name!r} is not valid: use up to 128 letters, digits, '_', '-' or '.',"
            " not starting with '-' or '.'"
        )
    return name


def _require_dict(value: Any, what: str) -> JSONDict:
    if not isinstance(value, dict):
        raise InvalidError(f"{what} must be a JSON object")
    checked: JSONDict = value
    return checked


def validate_operation_request(raw: Any) -> JSONDict:
    """The checks of MIE's ``create_operation_request`` schema plus its Type/Monitor rules, as 400s."""
    body = _require_dict(raw, "The operation definition")
    for key in ("Name", "Type", "Configuration", "StartLambdaArn"):
        if key not in body:
            raise InvalidError(f"'{key}' is a required property")
    check_name("Operation", body["Name"])
    if body["Type"] not in OPERATION_TYPES:
        raise InvalidError(f"Type must be one of Sync or Async, not {body['Type']!r}")
    config = _require_dict(body["Configuration"], "Configuration")
    if not isinstance(config.get("MediaType"), str) or not config["MediaType"]:
        raise InvalidError("'MediaType' is a required property of Configuration and must be a string")
    if not isinstance(config.get("Enabled"), bool):
        raise InvalidError("'Enabled' is a required property of Configuration and must be a boolean")
    if not isinstance(body["StartLambdaArn"], str) or not body["StartLambdaArn"]:
        raise InvalidError("StartLambdaArn must be a non-empty string")
    if body["Type"] == "Async":
        monitor = body.get("MonitorLambdaArn")
        if not isinstance(monitor, str) or not monitor:
            raise InvalidError("MonitorLambdaArn is required for an Async operation")
    # Our additions: a time limit per call and a cap on concurrently running tasks of the operation.
    timeout = body.get("TimeoutSeconds")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise InvalidError("TimeoutSeconds must be a positive number of seconds")
    limit = body.get("MaxConcurrent")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidError("MaxConcurrent must be a positive integer")
    return body


def build_operation(body: JSONDict, *, previous: Mapping[str, Any] | None = None) -> JSONDict:
    """The stored operation record for a validated request; ``previous`` keeps identity across an update."""
    record = copy.deepcopy(body)
    record["StateMachineAsl"] = operation_asl(
        record["Name"],
        record["Configuration"]["MediaType"],
        record["Type"],
        record["StartLambdaArn"],
        record.get("MonitorLambdaArn"),
    )
    if previous is None:
        record.update(Version="v0", Id=new_id(), Created=created_now())
    else:
        record.update(Id=previous["Id"], Created=previous["Created"], Version=_next_version(previous))
    record.update(ResourceType="OPERATION", ApiVersion=API_VERSION, StageName="_" + record["Name"])
    return record


def _next_version(previous: Mapping[str, Any]) -> str:
    try:
        return f"v{int(str(previous.get('Version', 'v0'))[1:]) + 1}"
    except ValueError:
        return "v1"


def validate_stage_request(raw: Any) -> JSONDict:
    """Checks of ``create_stage_request``: a Name and a non-empty list of operation names."""
    body = _require_dict(raw, "The stage definition")
    if "Name" not in body:
        raise InvalidError("'Name' is a required property")
    check_name("Stage", body["Name"])
    ops = body.get("Operations")
    if not isinstance(ops, list) or not ops or not all(isinstance(o, str) for o in ops):
        raise InvalidError("'Operations' is a required property and must be a non-empty list of names")
    if len(set(ops)) != len(ops):
        raise InvalidError("'Operations' lists an operation twice")
    return body


def build_stage(body: JSONDict, operations: list[JSONDict], *, previous: Mapping[str, Any] | None = None) -> JSONDict:
    """The stored stage record: configuration snapshots of its operations and its ASL ``Definition``."""
    record = copy.deepcopy(body)
    record["Configuration"] = {op["Name"]: copy.deepcopy(op["Configuration"]) for op in operations}
    record["Definition"] = stage_definition(record["Name"], [op["StateMachineAsl"] for op in operations])
    if previous is None:
        record.update(Version="v0", Id=new_id(), Created=created_now())
    else:
        record.update(Id=previous["Id"], Created=previous["Created"], Version=_next_version(previous))
    record.update(ResourceType="STAGE", ApiVersion=API_VERSION)
    return record


def validate_workflow_request(raw: Any) -> JSONDict:
    """MIE's ``build_workflow`` checks: StartAt, Stages with Next or End, exactly one End, no dangling Next."""
    body = _require_dict(raw, "The workflow definition")
    for key in ("Name", "StartAt", "Stages"):
        if key not in body:
            raise InvalidError(f"Key '{key}' is required in 'Workflow Definition' input")
    check_name("Workflow", body["Name"])
    stages = _require_dict(body["Stages"], "Stages")
    if not stages:
        raise InvalidError("Stages must name at least one stage")
    ends = 0
    for name, stage_spec in stages.items():
        spec = _require_dict(stage_spec, f"Stage {name}")
        if spec.get("End") is True:
            ends += 1
        elif "Next" not in spec:
            raise InvalidError(f"Stage {name} must have either an 'End' or and 'Next' key")
        elif not isinstance(spec["Next"], str) or spec["Next"] not in stages:
            # Not a string (a list or an object is not even hashable): no stage is named so.
            raise InvalidError(f"Stage {name} names Next stage {spec['Next']!r}, which is not in Stages")
    if ends != 1:
        raise InvalidError(f"Workflow {body['Name']} must have exactly 1 'End' key within its stages")
    if not isinstance(body["StartAt"], str) or body["StartAt"] not in stages:
        raise InvalidError(f"StartAt stage {body['StartAt']!r} is not in Stages")
    order = stage_order(body)
    if len(order) != len(stages):
        unreachable = sorted(set(stages) - set(order))
        raise InvalidError(f"Stages {unreachable} cannot be reached from StartAt (or the stages form a cycle)")
    return body


def stage_order(workflow: Mapping[str, Any]) -> list[str]:
    """Stage names in execution order, following ``Next`` from ``StartAt`` (stops at a cycle)."""
    order: list[str] = []
    current: str | None = workflow["StartAt"]
    stages = workflow["Stages"]
    while current is not None and current in stages and current not in order:
        order.append(current)
        spec = stages[current]
        current = None if spec.get("End") is True else spec.get("Next")
    return order


def build_workflow(
    body: JSONDict, stages: Mapping[str, JSONDict], *, previous: Mapping[str, Any] | None = None
) -> JSONDict:
    """The stored workflow record: each stage spec merged with a snapshot of the stage record."""
    record = copy.deepcopy(body)
    merged: JSONDict = {}
    operations: list[str] = []
    for name in stage_order(record):
        spec = record["Stages"][name]
        link = {"End": True} if spec.get("End") is True else {"Next": spec["Next"]}
        merged[name] = {**copy.deepcopy(dict(stages[name])), **link}
        operations.extend(op for op in stages[name]["Operations"] if op not in operations)
    record["Stages"] = merged
    record["Operations"] = operations
    record.setdefault("Trigger", "api")
    record["StaleOperations"] = []
    record["StaleStages"] = []
    if previous is None:
        record.update(Version="v0", Revisions="1", Id=new_id(), Created=created_now())
    else:
        revisions = int(str(previous.get("Revisions", "1"))) + 1
        record.update(Id=previous["Id"], Created=previous["Created"], Revisions=str(revisions), Version=f"v{revisions}")
    record.update(
        ResourceType="WORKFLOW",
        ApiVersion=API_VERSION,
        StateMachineArn=f"arn:mie:states:local:stateMachine:{record['Name']}",
    )
    return record


def workflow_configuration(workflow: Mapping[str, Any]) -> JSONDict:
    """``GET /workflow/configuration/{Name}``: ``{stage: {operation: configuration}}``."""
    return {name: copy.deepcopy(stage.get("Configuration", {})) for name, stage in workflow["Stages"].items()}
