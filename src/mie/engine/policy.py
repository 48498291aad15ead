"""What happens to a task after a call: retry it, poll its async monitor, or take its output (pure functions).

The scheduler reads a reported outcome back from the task row and applies the :data:`Decision` that
:func:`decide` makes from it, the task's facts and the retry policy; a task whose worker vanished gets
:func:`decide_lost`. Nothing here touches the store or the clock (``after`` is a delay from now), so every rule is
a row of a table-driven unit test (tests/unit/test_policy.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeAlias

from mie.engine.outcome import Outcome
from mie.model.execution import failed_output
from mie.storage.codec import loads
from mie.storage.engine import MONITOR, START
from mie.types import JSONDict, OperationStatus


class _PolicySettings(Protocol):
    @property
    def operator_retries(self) -> int: ...
    @property
    def retry_interval(self) -> float: ...
    @property
    def retry_backoff(self) -> float: ...
    @property
    def monitor_interval(self) -> float: ...
    @property
    def monitor_interval_max(self) -> float: ...


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon failed calls are retried and async monitors polled."""

    #: Retries of a retryable error (and of a call whose worker vanished) before the task fails.
    retries: int = 2
    #: Seconds before the first retry; each next one waits ``retry_backoff`` times longer.
    retry_interval: float = 1.0
    retry_backoff: float = 2.0
    #: Seconds before the first monitor call; each next one waits 1.5 times longer, up to ``monitor_interval_max``.
    monitor_interval: float = 1.0
    monitor_interval_max: float = 30.0

    @classmethod
    def from_settings(cls, settings: _PolicySettings) -> RetryPolicy:
        """The policy of the engine's settings (``MIE_OPERATOR_RETRIES``, ``MIE_RETRY_INTERVAL``, ...)."""
        return cls(
            retries=settings.operator_retries,
            retry_interval=settings.retry_interval,
            retry_backoff=settings.retry_backoff,
            monitor_interval=settings.monitor_interval,
            monitor_interval_max=settings.monitor_interval_max,
        )


@dataclass(frozen=True)
class TaskFacts:
    """What the decision needs to know of the task that ran."""

    operation: str
    #: ``Sync`` or ``Async``.
    op_type: str
    #: ``start`` or ``monitor``.
    phase: str
    #: Retries so far of this phase.
    attempt: int
    #: Monitor calls so far.
    polls: int
    #: The event (start) or previous output (monitor) the operator was called with, as stored (JSON text).
    payload: str


@dataclass(frozen=True)
class Retry:
    """Run the same call again as try ``attempt``, ``after`` seconds from now."""

    after: float
    attempt: int


@dataclass(frozen=True)
class Poll:
    """Call the async monitor (``phase``) with ``payload`` ``after`` seconds from now (``polls`` so far)."""

    after: float
    phase: str
    payload: JSONDict
    polls: int


@dataclass(frozen=True)
class Done:
    """The task is over: ``output`` is its final output (``Status`` Complete or Error)."""

    output: JSONDict


Decision: TypeAlias = Retry | Poll | Done


def decide(outcome: Outcome, task: TaskFacts, policy: RetryPolicy) -> Decision:
    """The next step of ``task`` after a call ended with ``outcome``."""
    if outcome.error is not None or outcome.output is None:
        error = outcome.error or "the operator returned nothing"
        if outcome.retryable and task.attempt < policy.retries:
            return Retry(policy.retry_interval * policy.retry_backoff**task.attempt, task.attempt + 1)
        failed = failed_output(loads(task.payload), error)
        if outcome.error_metadata:
            failed["MetaData"].update(outcome.error_metadata)
        return Done(failed)
    output = dict(outcome.output)
    output.setdefault("Name", task.operation)
    status = output.get("Status")
    if task.op_type == "Async" and task.phase == START and status != OperationStatus.ERROR:
        # MIE's async branch always waits, then calls the monitor with the start output.
        return Poll(policy.monitor_interval, MONITOR, output, 0)
    if task.op_type == "Async" and status == OperationStatus.EXECUTING:
        delay = min(policy.monitor_interval * 1.5**task.polls, policy.monitor_interval_max)
        return Poll(delay, task.phase, output, task.polls + 1)
    if status not in (OperationStatus.COMPLETE, OperationStatus.ERROR):
        return Done(failed_output(loads(task.payload), f"the operator returned Status {status!r}"))
    return Done(output)


def decide_lost(attempt: int, payload: str, why: str, policy: RetryPolicy) -> Retry | Done:
    """A task whose worker vanished (``why``): run it again at once, or fail it after too many tries."""
    if attempt >= policy.retries:
        return Done(failed_output(loads(payload), f"the operator was interrupted {attempt + 1} times ({why})"))
    return Retry(0.0, attempt + 1)
