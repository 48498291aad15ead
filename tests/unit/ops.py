"""Operator handlers used by the engine tests (referenced as ``python:tests.unit.ops:<name>``)."""

from __future__ import annotations

import threading
from typing import Any

CALLS: dict[str, int] = {}
_lock = threading.Lock()


def _count(name: str) -> int:
    with _lock:
        CALLS[name] = CALLS.get(name, 0) + 1
        return CALLS[name]


class MasExecutionError(Exception):
    """Named like MIE's helper exception: the engine retries errors of this name."""


def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails with MasExecutionError the first ``Configuration.FailTimes`` calls, then succeeds."""
    calls = _count("flaky:" + event["WorkflowExecutionId"])
    if calls <= int(event["Configuration"].get("FailTimes", 0)):
        out = dict(event, Status="Error", MetaData={"FlakyError": f"attempt {calls} failed"})
        raise MasExecutionError(out)
    return dict(event, Status="Complete", MetaData={"attempts": str(calls)})


def counting_monitor(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An async monitor that says Executing until it has been called ``Polls`` times."""
    polls = int(event.get("MetaData", {}).get("polls", "0")) + 1
    done = polls >= int(event["Configuration"].get("Polls", 3))
    return dict(event, Status="Complete" if done else "Executing", MetaData={"polls": str(polls)})


def start_job(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An async start that carries a job id forward in MetaData, as MIE operators do."""
    return dict(event, Status="Executing", MetaData={"JobId": "job-1", "polls": "0"})


def garbage(event: dict[str, Any], context: Any) -> Any:
    return ["not", "an", "output"]


def boom(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise ValueError("boom: the operator broke")


def context_reader(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(
        event,
        Status="Complete",
        MetaData={"function": context.function_name, "ms": str(context.get_remaining_time_in_millis() > 0)},
    )
