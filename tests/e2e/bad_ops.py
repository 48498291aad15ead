"""Misbehaving operator handlers for the e2e tests, run inside the ``mie serve`` subprocess.

Referenced as ``python:tests.e2e.bad_ops:<name>``; the server runs from the checkout with it on ``PYTHONPATH``.
Handlers that count their calls append one line per call to ``Configuration.CallLog`` (a file the test reads),
because the counters of the server process are out of the test's reach.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()


class MasExecutionError(Exception):
    """Named like MIE's helper exception (``MediaInsightsEngineLambdaHelper.MasExecutionError``): retried."""


def _log_call(event: dict[str, Any]) -> int:
    """Record one call in the CallLog file; returns how many calls this execution has made."""
    path = Path(event["Configuration"]["CallLog"])
    with _lock:
        with path.open("a") as fh:
            fh.write(event["WorkflowExecutionId"] + "\n")
        return path.read_text().split().count(event["WorkflowExecutionId"])


def raises(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Raises a plain exception (not retried): the execution fails with its text."""
    raise RuntimeError(f"e2e operator exploded for {event['Name']}")


def raises_once(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Raises a non-retryable error on its first call only; a retry would succeed (so a Complete means a bug)."""
    if _log_call(event) == 1:
        raise ValueError("first call fails and must not be retried")
    return dict(event, Status="Complete", MetaData={"retried": "yes"})


def garbage(event: dict[str, Any], context: Any) -> Any:
    """Returns something that is not an output object."""
    return "not an output object"


def no_status(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Returns a dict whose Status is not one MIE knows."""
    return dict(event, Status="Sideways")


def exits(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Raises SystemExit: must fail the operator, not take the worker (or the server) down."""
    raise SystemExit("operator called exit")


def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Raises MasExecutionError (carrying MIE's output object) on the first ``FailTimes`` calls, then succeeds."""
    calls = _log_call(event)
    if calls <= int(event["Configuration"].get("FailTimes", 0)):
        out = dict(event, Status="Error", MetaData={"FlakyError": f"attempt {calls} failed"})
        raise MasExecutionError(out)
    return dict(event, Status="Complete", MetaData={event["Name"]: {"Calls": calls}})
