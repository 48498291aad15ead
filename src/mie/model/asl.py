"""The Amazon States Language strings MIE stores in its records.

Nothing executes them here: the engine interprets ``{StartAt, Stages}`` itself. They are kept because MIE
responses carry them (``StateMachineAsl`` on operations, ``Definition`` on stages) and clients check those keys.
"""

from __future__ import annotations

import json

from mie.types import JSONDict

_RETRY = [
    {
        "ErrorEquals": [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.Unknown",
            "MasExecutionError",
        ],
        "IntervalSeconds": 2,
        "MaxAttempts": 2,
        "BackoffRate": 2,
    }
]
FILTER_RESOURCE = "mie:filter-operation"
FAILED_RESOURCE = "mie:operator-failed"
COMPLETE_STAGE_RESOURCE = "mie:complete-stage"


def operation_asl(name: str, media_type: str, op_type: str, start: str, monitor: str | None) -> str:
    """MIE's per-operation branch, with ``%%STAGE_NAME%%`` left for the stage to fill in (as MIE does)."""
    s = "%%STAGE_NAME%%"
    catch = [{"ErrorEquals": ["States.ALL"], "Next": f"{name} Failed ({s})", "ResultPath": "$.Outputs"}]
    did = f"Did {name} Complete ({s})"
    states: JSONDict = {
        f"Filter {name} Media Type? ({s})": {
            "Type": "Task",
            "Resource": FILTER_RESOURCE,
            "Parameters": {
                "StageName.$": "$.Name",
                "Name": name,
                "Input.$": "$.Input",
                "Configuration.$": f"$.Configuration.{name}",
                "AssetId.$": "$.AssetId",
                "WorkflowExecutionId.$": "$.WorkflowExecutionId",
                "Type": media_type,
                "Status": "$.Status",
            },
            "ResultPath": "$.Outputs",
            "OutputPath": "$.Outputs",
            "Next": f"Skip {name}? ({s})",
            "Retry": _RETRY,
            "Catch": catch,
        },
        f"Skip {name}? ({s})": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.Status", "StringEquals": "Started", "Next": f"Execute {name} ({s})"}],
            "Default": f"{name} Not Started ({s})",
        },
        f"{name} Not Started ({s})": {"Type": "Succeed"},
        f"Execute {name} ({s})": {
            "Type": "Task",
            "Resource": start,
            "ResultPath": "$.Outputs",
            "OutputPath": "$.Outputs",
            "Next": f"{name} Wait ({s})" if op_type == "Async" else did,
            "Retry": _RETRY,
            "Catch": catch,
        },
        f"{name} Failed ({s})": {"Type": "Task", "Resource": FAILED_RESOURCE, "ResultPath": "$", "End": True},
        f"{name} Succeeded ({s})": {"Type": "Succeed"},
    }
    choices = [{"Variable": "$.Status", "StringEquals": "Complete", "Next": f"{name} Succeeded ({s})"}]
    if op_type == "Async":
        states[f"{name} Wait ({s})"] = {"Type": "Wait", "Seconds": 10, "Next": f"Get {name} Status ({s})"}
        states[f"Get {name} Status ({s})"] = {
            "Type": "Task",
            "Resource": monitor,
            "Next": did,
            "Retry": _RETRY,
            "Catch": catch,
        }
        choices.insert(0, {"Variable": "$.Status", "StringEquals": "Executing", "Next": f"{name} Wait ({s})"})
    states[did] = {"Type": "Choice", "Choices": choices, "Default": f"{name} Failed ({s})"}
    return json.dumps({"StartAt": f"Filter {name} Media Type? ({s})", "States": states})


def stage_definition(stage_name: str, operation_asls: list[str]) -> str:
    """MIE's stage ASL: a Parallel state of the operations' branches, then ``Complete Stage``."""
    branches = [json.loads(asl.replace("%%STAGE_NAME%%", stage_name)) for asl in operation_asls]
    return json.dumps(
        {
            "StartAt": stage_name,
            "States": {
                stage_name: {
                    "Type": "Parallel",
                    "Next": f"Complete Stage {stage_name}",
                    "ResultPath": "$.Outputs",
                    "Branches": branches,
                    "Catch": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "Next": f"Complete Stage {stage_name}",
                            "ResultPath": "$.Outputs",
                        }
                    ],
                },
                f"Complete Stage {stage_name}": {
                    "Type": "Task",
                    "Resource": COMPLETE_STAGE_RESOURCE,
                    "End": True,
                },
            },
        }
    )
