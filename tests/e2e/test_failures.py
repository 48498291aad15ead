"""Operator failures end the execution ``Error`` with a Message naming the operator, and harm nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import make_workflow, operation, start, unique, wait_for

pytestmark = pytest.mark.e2e

BAD = "python:tests.e2e.bad_ops:"


def run_one(client: httpx.Client, op: dict[str, Any]) -> dict[str, Any]:
    """Start a one-stage workflow of ``op`` (without waiting)."""
    wf = unique("wf-" + op["Name"])
    make_workflow(client, wf, [[op]])
    return start(client, wf, f"upload/{wf}.mp4")


def assert_failed(record: dict[str, Any], op_name: str, *needles: str) -> dict[str, Any]:
    assert record["Status"] == "Error", record.get("Message")
    assert record["CurrentStage"] == "End"
    message = record["Message"]
    assert f"operation {op_name} " in message, message
    for needle in needles:
        assert needle in message, message
    (stage,) = record["Workflow"]["Stages"].values()
    assert stage["Status"] == "Error"
    (out,) = stage["Outputs"]
    assert out["Name"] == op_name
    assert out["Status"] == "Error"
    return out


def test_failing_test_operators_end_in_error_naming_the_operator(client: httpx.Client) -> None:
    sync_fail = operation(unique("sync-fail"), start="VideoSyncFailLambda")
    async_fail = operation(unique("async-fail"), "Async", monitor="VideoAsyncFailMonitorLambda")
    ok = operation(unique("sync-ok"))
    runs = [run_one(client, op) for op in (sync_fail, async_fail, ok)]
    done = [wait_for(client, r["Id"], {"Complete", "Error"}) for r in runs]
    assert_failed(done[0], sync_fail["Name"], "Status 'Error'")
    out = assert_failed(done[1], async_fail["Name"], "Status 'Error'")
    # The async branch failed in its monitor, after the start call succeeded.
    assert out["MetaData"][async_fail["Name"]] == {"Meta": f"Workflow metadata for {async_fail['Name']}"}
    assert done[2]["Status"] == "Complete", done[2].get("Message")
    # Failed executions are listed under Error with their Message.
    errors = {e["Id"]: e for e in client.get("/api/workflow/execution/status/Error").json()}
    assert errors[done[0]["Id"]]["Message"] == done[0]["Message"]
    assert done[1]["Id"] in errors
    assert done[2]["Id"] not in errors


def test_python_handlers_that_raise_or_return_garbage(client: httpx.Client, tmp_path: Path) -> None:
    calls = str(tmp_path / "raises-once.calls")
    cases = {
        "raises": ("RuntimeError", "e2e operator exploded for"),
        "garbage": ("the operator returned str",),
        "no_status": ("Status 'Sideways'",),
        "exits": ("SystemExit", "operator called exit"),
        "missing_function": ("has no attribute 'missing_function'",),
    }
    ops = {name: operation(unique(name.replace("_", "-")), start=BAD + name) for name in cases}
    once = operation(unique("raises-once"), start=BAD + "raises_once", CallLog=calls)
    good = operation(unique("bystander"), SleepSeconds=0.2)
    runs = {name: run_one(client, op) for name, op in ops.items()}
    runs["once"] = run_one(client, once)
    bystander = run_one(client, good)
    for name, needles in cases.items():
        record = wait_for(client, runs[name]["Id"], {"Complete", "Error"})
        out = assert_failed(record, ops[name]["Name"], *needles)
        assert set(out["MetaData"]) == {f"{ops[name]['Name']}Error"}
    # A plain exception is not retried: one call, and the execution failed with the exception text.
    record = wait_for(client, runs["once"]["Id"], {"Complete", "Error"})
    assert_failed(record, once["Name"], "ValueError: first call fails and must not be retried")
    assert Path(calls).read_text().split() == [runs["once"]["Id"]]
    # Executions running beside the broken ones are unaffected, and the workers still work afterwards.
    assert wait_for(client, bystander["Id"], {"Complete", "Error"})["Status"] == "Complete"
    again = run_one(client, operation(unique("after")))
    assert wait_for(client, again["Id"], {"Complete", "Error"})["Status"] == "Complete"


def test_mas_execution_error_is_retried(client: httpx.Client, tmp_path: Path) -> None:
    log = tmp_path / "flaky.calls"
    recovers = operation(unique("flaky-recovers"), start=BAD + "flaky", CallLog=str(log), FailTimes=2)
    gives_up = operation(unique("flaky-gives-up"), start=BAD + "flaky", CallLog=str(log), FailTimes=10)
    ok_run, bad_run = run_one(client, recovers), run_one(client, gives_up)

    ok = wait_for(client, ok_run["Id"], {"Complete", "Error"})
    assert ok["Status"] == "Complete", ok.get("Message")
    # Two MasExecutionErrors, then success on the third call (MIE: 2 retries).
    assert ok["Globals"]["MetaData"][recovers["Name"]] == {"Calls": 3}

    bad = wait_for(client, bad_run["Id"], {"Complete", "Error"})
    out = assert_failed(bad, gives_up["Name"], "attempt 3 failed")
    # MIE's error details survive (MIE lost them): MetaData carries the operator's *Error keys.
    assert out["MetaData"]["FlakyError"] == "attempt 3 failed"
    calls = log.read_text().split()
    assert calls.count(ok_run["Id"]) == 3
    assert calls.count(bad_run["Id"]) == 3
