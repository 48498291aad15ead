"""What a worker reports when a call ends: the operator's output or an error (:class:`Outcome`), and its JSON form.

The worker side records it on the task row through the store (:meth:`mie.storage.engine.WorkerStore.report`),
guarded by the lease token; the scheduler reads it back from the row and applies it (see mie.engine.policy).
"""

from __future__ import annotations

from dataclasses import dataclass

from mie.errors import OperatorTimeoutError, describe
from mie.storage.codec import dumps, loads
from mie.types import JSONDict


@dataclass(frozen=True)
class Outcome:
    """What a worker reports: the operator's output, or an error."""

    task_id: int
    token: str
    output: JSONDict | None = None
    error: str | None = None
    retryable: bool = False
    error_metadata: JSONDict | None = None


def error_outcome(task_id: int, token: str, exc: BaseException) -> Outcome:
    """Turn an operator exception into an outcome, keeping MasExecutionError's details (MIE lost them)."""
    name = type(exc).__name__
    metadata: JSONDict = {}
    detail = str(exc)
    if exc.args and isinstance(exc.args[0], dict):
        carried = exc.args[0].get("MetaData")
        if isinstance(carried, dict):
            metadata = {k: v for k, v in carried.items() if isinstance(k, str) and k.lower().endswith("error")}
        detail = "; ".join(f"{k}: {v}" for k, v in metadata.items()) or detail
    retryable = name == "MasExecutionError" or bool(getattr(exc, "retryable", False))
    return Outcome(
        task_id,
        token,
        error=f"{name}: {detail}" if detail else name,
        retryable=retryable,
        error_metadata=metadata or None,
    )


def timeout_outcome(task_id: int, token: str, operation: str, timeout: float) -> Outcome:
    """The outcome of a call that ran out of time."""
    exc = OperatorTimeoutError(f"{operation} ran longer than its time limit of {timeout:g} s")
    return error_outcome(task_id, token, exc)


def encode(outcome: Outcome) -> str:
    """The outcome as stored on its task row.

    An output that is not JSON becomes the error it is (the output is stored and passed on as JSON, so tuples
    become lists and keys strings, as a round trip through the tasks table would make them anyway).
    """
    try:
        return dumps(
            {
                "output": outcome.output,
                "error": outcome.error,
                "retryable": outcome.retryable,
                "error_metadata": outcome.error_metadata,
            }
        )
    except (TypeError, ValueError) as exc:
        message = f"the operator returned an output that is not JSON: {describe(exc)}"
        return dumps({"output": None, "error": message, "retryable": False, "error_metadata": None})


def decode(task_id: int, token: str, text: str) -> Outcome:
    """The outcome stored by :func:`encode`."""
    data = loads(text)
    return Outcome(
        task_id,
        token,
        output=data.get("output"),
        error=data.get("error"),
        retryable=bool(data.get("retryable")),
        error_metadata=data.get("error_metadata"),
    )
