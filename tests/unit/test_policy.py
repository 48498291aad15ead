"""The retry/poll decision after a call (mie.engine.policy), table-driven, and the outcome's stored form."""

from __future__ import annotations

import json

import pytest

from mie.engine.outcome import Outcome, decode, encode, error_outcome, timeout_outcome
from mie.engine.policy import Done, Poll, Retry, RetryPolicy, TaskFacts, decide, decide_lost
from mie.types import JSONDict

POLICY = RetryPolicy(retries=2, retry_interval=2.0, retry_backoff=3.0, monitor_interval=10.0, monitor_interval_max=60.0)
EVENT = json.dumps({"Name": "Op", "AssetId": "a1", "WorkflowExecutionId": "e1", "Input": {}, "Configuration": {}})


def facts(op_type: str = "Sync", phase: str = "start", attempt: int = 0, polls: int = 0) -> TaskFacts:
    return TaskFacts("Op", op_type, phase, attempt, polls, EVENT)


def ok(status: str, **extra: object) -> Outcome:
    output: JSONDict = {"Status": status, **extra}
    return Outcome(1, "n:1", output=output)


def failed(error: str) -> JSONDict:
    return {
        "Name": "Op",
        "AssetId": "a1",
        "WorkflowExecutionId": "e1",
        "Input": {},
        "Configuration": {},
        "Status": "Error",
        "MetaData": {"OpError": error},
        "Media": {},
    }


RETRYABLE = Outcome(1, "n:1", error="MasExecutionError: busy", retryable=True)
FATAL = Outcome(1, "n:1", error="ValueError: bad", retryable=False)


@pytest.mark.parametrize(
    ("outcome", "task", "expected"),
    [
        # sync operators
        (ok("Complete"), facts(), Done({"Status": "Complete", "Name": "Op"})),
        (ok("Error", Name="Other"), facts(), Done({"Status": "Error", "Name": "Other"})),
        (ok("Executing"), facts(), Done(failed("the operator returned Status 'Executing'"))),
        (Outcome(1, "n:1"), facts(), Done(failed("the operator returned nothing"))),
        # retries: backoff from the attempt, then the error once they are spent
        (RETRYABLE, facts(attempt=0), Retry(2.0, 1)),
        (RETRYABLE, facts(attempt=1), Retry(6.0, 2)),
        (RETRYABLE, facts(attempt=2), Done(failed("MasExecutionError: busy"))),
        (FATAL, facts(attempt=0), Done(failed("ValueError: bad"))),
        # async: the start always waits for the monitor, which polls with growing, capped delays
        (ok("Executing"), facts("Async"), Poll(10.0, "monitor", {"Status": "Executing", "Name": "Op"}, 0)),
        (ok("Complete"), facts("Async"), Poll(10.0, "monitor", {"Status": "Complete", "Name": "Op"}, 0)),
        (ok("Error"), facts("Async"), Done({"Status": "Error", "Name": "Op"})),
        (
            ok("Executing"),
            facts("Async", "monitor", polls=0),
            Poll(10.0, "monitor", {"Status": "Executing", "Name": "Op"}, 1),
        ),
        (
            ok("Executing"),
            facts("Async", "monitor", polls=2),
            Poll(22.5, "monitor", {"Status": "Executing", "Name": "Op"}, 3),
        ),
        (
            ok("Executing"),
            facts("Async", "monitor", polls=9),
            Poll(60.0, "monitor", {"Status": "Executing", "Name": "Op"}, 10),
        ),
        (ok("Complete"), facts("Async", "monitor", polls=4), Done({"Status": "Complete", "Name": "Op"})),
    ],
)
def test_decide(outcome: Outcome, task: TaskFacts, expected: Retry | Poll | Done) -> None:
    assert decide(outcome, task, POLICY) == expected


def test_error_metadata_is_kept_in_the_failed_output() -> None:
    outcome = Outcome(1, "n:1", error="MasExecutionError: x", error_metadata={"OpError": "x", "DetailError": "y"})
    decision = decide(outcome, facts(), POLICY)
    assert isinstance(decision, Done)
    assert decision.output["MetaData"] == {"OpError": "x", "DetailError": "y"}


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (0, Retry(0.0, 1)),
        (1, Retry(0.0, 2)),
        (2, Done(failed("the operator was interrupted 3 times (its lease expired)"))),
    ],
)
def test_decide_lost(attempt: int, expected: Retry | Done) -> None:
    assert decide_lost(attempt, EVENT, "its lease expired", POLICY) == expected


def test_outcomes_round_trip_through_their_stored_form() -> None:
    for outcome in (
        ok("Complete", Media={"Text": {"S3Key": "k"}}),
        RETRYABLE,
        error_outcome(1, "n:1", RuntimeError({"MetaData": {"OpError": "boom"}})),
        timeout_outcome(1, "n:1", "Op", 1.5),
    ):
        assert decode(1, "n:1", encode(outcome)) == outcome


def test_an_output_that_is_not_json_is_reported_as_that_error() -> None:
    decoded = decode(1, "n:1", encode(Outcome(1, "n:1", output={"Status": "Complete", "x": object()})))
    assert decoded.output is None
    assert decoded.error is not None
    assert decoded.error.startswith("the operator returned an output that is not JSON: ")
    assert not decoded.retryable


def test_timeout_outcome_says_which_limit() -> None:
    outcome = timeout_outcome(7, "n:3", "Slow", 2.0)
    assert outcome.error == "OperatorTimeoutError: Slow ran longer than its time limit of 2 s"
