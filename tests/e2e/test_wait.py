"""The built-in ``Wait`` operation and ``PUT /workflow/execution/{Id}`` resume (MIE's human-in-the-loop)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import assert_error, make_workflow, operation, start, unique, wait_for

pytestmark = pytest.mark.e2e

WAIT = {
    "Name": "Wait",
    "Type": "Async",
    "Configuration": {"MediaType": "MetadataOnly", "Enabled": True},
    "StartLambdaArn": "start-wait-operation",
    "MonitorLambdaArn": "check-wait-operation",
}


def wait_workflow(client: httpx.Client) -> tuple[str, list[str], list[str]]:
    """before -> Wait -> after; returns the workflow name, its stages and its two operators."""
    wf = unique("wait-wf")
    ops = [unique("before"), unique("after")]
    make_workflow(client, wf, [[operation(ops[0])], [WAIT], [operation(ops[1])]])
    return wf, [f"{wf}-stage{n}" for n in range(3)], ops


@pytest.fixture
def max_one(client: httpx.Client) -> Iterator[None]:
    body: dict[str, Any] = {"Name": "MaxConcurrentWorkflows", "Value": 1}
    assert client.post("/api/system/configuration", json=body).status_code == 200
    yield
    body["Value"] = 5
    assert client.post("/api/system/configuration", json=body).status_code == 200


def test_wait_operation_is_seeded(client: httpx.Client) -> None:
    op = client.get("/api/workflow/operation/Wait").json()
    assert op["StartLambdaArn"] == "start-wait-operation"
    assert op["MonitorLambdaArn"] == "check-wait-operation"
    assert op["StageName"] == "_Wait"


def test_wait_then_resume(client: httpx.Client) -> None:
    wf, stages, ops = wait_workflow(client)
    execution = start(client, wf, f"upload/{wf}.mp4")
    waiting = wait_for(client, execution["Id"], {"Waiting", "Complete", "Error"})
    assert waiting["Status"] == "Waiting", waiting.get("Message")
    assert waiting["CurrentStage"] == stages[1]
    assert waiting["Workflow"]["Stages"][stages[0]]["Status"] == "Complete"
    assert waiting["Workflow"]["Stages"][stages[2]]["Status"] == "Not Started"
    listed = client.get("/api/workflow/execution/status/Waiting").json()
    assert [e["CurrentStage"] for e in listed if e["Id"] == execution["Id"]] == [stages[1]]

    url = f"/api/workflow/execution/{execution['Id']}"
    assert_error(client.put(url, json={"WaitingStageName": stages[2]}), 400, "Waiting")
    assert_error(client.put(url, json={"WaitingStageName": stages[0]}), 400)
    assert_error(client.put(f"/api/workflow/execution/{unique('nobody')}", json={"WaitingStageName": stages[1]}), 400)
    # A body without WaitingStageName changes nothing (MIE answers {}).
    noop = client.put(url, json={})
    assert noop.status_code == 200, noop.text
    assert noop.json() == {}
    assert client.get(url).json()["Status"] == "Waiting"

    resumed = client.put(url, json={"WaitingStageName": stages[1]})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json() == {"Id": execution["Id"], "Status": "Resumed"}
    done = wait_for(client, execution["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete", done.get("Message")
    assert done["CurrentStage"] == "End"
    assert all(s["Status"] == "Complete" for s in done["Workflow"]["Stages"].values())
    (wait_out,) = done["Workflow"]["Stages"][stages[1]]["Outputs"]
    assert wait_out["Name"] == "Wait"
    assert wait_out["Status"] == "Complete"
    assert set(done["Globals"]["MetaData"]) == set(ops)
    # Resuming again is refused: it is no longer Waiting.
    assert_error(client.put(url, json={"WaitingStageName": stages[1]}), 400)


def test_waiting_execution_does_not_count_toward_max_concurrent(client: httpx.Client, max_one: None) -> None:
    wf, stages, _ = wait_workflow(client)
    plain = unique("plain")
    make_workflow(client, plain, [[operation(unique("plain-op"))]])
    first = start(client, wf, f"upload/{wf}.mp4")
    assert wait_for(client, first["Id"], {"Waiting", "Complete", "Error"})["Status"] == "Waiting"
    # With MaxConcurrentWorkflows 1 and one execution Waiting, another still runs to the end.
    second = start(client, plain, f"upload/{plain}.mp4")
    assert wait_for(client, second["Id"], {"Complete", "Error"}, timeout=10)["Status"] == "Complete"
    assert client.get(f"/api/workflow/execution/{first['Id']}").json()["Status"] == "Waiting"
    resumed = client.put(f"/api/workflow/execution/{first['Id']}", json={"WaitingStageName": stages[1]})
    assert resumed.status_code == 200, resumed.text
    assert wait_for(client, first["Id"], {"Complete", "Error"})["Status"] == "Complete"
