"""A two-stage workflow of MIE's sync and async test operators, over HTTP, with MIE-shaped records throughout."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.helpers import make_workflow, operation, start, unique, wait_for

pytestmark = pytest.mark.e2e

EXECUTION_KEYS = {
    "Id",
    "Trigger",
    "AssetId",
    "Status",
    "CurrentStage",
    "Version",
    "Created",
    "ResourceType",
    "ApiVersion",
    "Configuration",
    "Globals",
    "Workflow",
    "StateMachineExecutionArn",
}
PROJECTION_KEYS = {"Id", "AssetId", "CurrentStage", "StateMachineExecutionArn", "Status", "Workflow"}


def test_index_and_versions_answer_without_a_key(client: httpx.Client) -> None:
    anonymous = httpx.Client(base_url=client.base_url)
    with anonymous:
        assert anonymous.get("/api/").json() == {"hello": "world"}
        version = anonymous.get("/api/version").json()
        assert version["ApiVersion"] == "2.0.0"
        assert version["FrameworkVersion"].startswith("v")
        assert anonymous.get("/api/workflow").status_code == 401
    assert client.get("/api/dataplane/version").json()["ApiVersion"] == "1.0.0"


def test_two_stage_sync_then_async_workflow_completes_with_mie_records(client: httpx.Client) -> None:
    wf = unique("two-stage")
    sync_op, async_op = unique("video-test-sync"), unique("video-test-async")
    workflow = make_workflow(client, wf, [[operation(sync_op)], [operation(async_op, "Async")]])
    stage0, stage1 = f"{wf}-stage0", f"{wf}-stage1"

    # The workflow record, read back through the doubled slash MIE clients send.
    r = client.get(f"/api//workflow/{wf}")
    assert r.status_code == 200, r.text
    assert r.json() == workflow
    assert workflow["ResourceType"] == "WORKFLOW"
    assert workflow["Operations"] == [sync_op, async_op]
    assert workflow["StartAt"] == stage0
    assert workflow["Stages"][stage0]["Next"] == stage1
    assert workflow["Stages"][stage1]["End"] is True
    listed = client.get("/api//workflow")
    assert listed.status_code == 200, listed.text
    assert wf in [w["Name"] for w in listed.json()]

    # Operation record (MIE §3.2).
    op = client.get(f"/api/workflow/operation/{async_op}").json()
    assert op["Name"] == async_op
    assert op["Type"] == "Async"
    assert op["StartLambdaArn"] == "VideoAsyncOKLambda"
    assert op["MonitorLambdaArn"] == "VideoAsyncOKMonitorLambda"
    assert op["StageName"] == f"_{async_op}"
    assert op["Version"] == "v0"
    assert op["ResourceType"] == "OPERATION"
    assert op["ApiVersion"] == "2.0.0"
    assert isinstance(op["Id"], str)
    assert op["Id"]
    float(op["Created"])
    assert isinstance(op["StateMachineAsl"], str)
    assert isinstance(json.loads(op["StateMachineAsl"]), dict)
    # ... and its singleton stage.
    singleton = client.get(f"/api/workflow/stage/_{async_op}")
    assert singleton.status_code == 200, singleton.text
    assert singleton.json()["Operations"] == [async_op]

    # Stage record (MIE §3.3): a snapshot of the operation's Configuration and an ASL Definition string.
    stage = client.get(f"/api/workflow/stage/{stage1}").json()
    assert stage["Name"] == stage1
    assert stage["Operations"] == [async_op]
    assert stage["Configuration"] == {async_op: op["Configuration"]}
    assert stage["ResourceType"] == "STAGE"
    assert stage["Version"] == "v0"
    assert stage["ApiVersion"] == "2.0.0"
    assert isinstance(json.loads(stage["Definition"]), dict)
    config = client.get(f"/api/workflow/configuration/{wf}").json()
    assert config == {
        stage0: {sync_op: {"MediaType": "Video", "Enabled": True}},
        stage1: {async_op: op["Configuration"]},
    }

    queued = start(client, wf, f"upload/{wf}.mp4")
    assert queued["Status"] == "Queued"
    assert queued["CurrentStage"] == stage0
    done = wait_for(client, queued["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete", done.get("Message")

    # Execution record (MIE §3.5).
    assert set(done) == EXECUTION_KEYS, set(done) ^ EXECUTION_KEYS
    assert done["Id"] == queued["Id"]
    assert done["AssetId"] == queued["AssetId"]
    assert done["Trigger"] == "api"
    assert done["CurrentStage"] == "End"
    assert done["Version"] == "v0"
    assert done["ResourceType"] == "WORKFLOW_EXECUTION"
    assert done["ApiVersion"] == "2.0.0"
    assert done["Configuration"] == {}
    assert done["Created"] == queued["Created"]
    float(done["Created"])
    asset = done["AssetId"]
    media = done["Globals"]["Media"]
    assert media["Video"] == {"S3Bucket": "S3BucketFrom" + async_op, "S3Key": f"S3/Key/From/{async_op}/video"}
    assert done["Globals"]["MetaData"] == {
        sync_op: {"Meta": f"Workflow metadata for {sync_op}"},
        async_op: {"Meta": f"Workflow metadata for {async_op}"},
    }
    stages = done["Workflow"]["Stages"]
    assert set(stages) == {stage0, stage1}
    for name, s in stages.items():
        assert s["Status"] == "Complete"
        assert s["Name"] == name
        assert s["AssetId"] == asset
        assert s["WorkflowExecutionId"] == done["Id"]
        assert len(s["Outputs"]) == 1
        assert s["Outputs"][0]["Status"] == "Complete"
        assert s["ResourceType"] == "STAGE"
        assert isinstance(s["Definition"], str)
    # Stage 0 started from the asset's own media; stage 1's Input is the roll-up of stage 0.
    source = stages[stage0]["Input"]["Media"]["Video"]
    assert source["S3Bucket"] == "dataplane"
    assert source["S3Key"] == f"private/assets/{asset}/input/upload/{wf}.mp4"
    assert stages[stage0]["Input"]["MetaData"] == {}
    assert stages[stage1]["Input"]["MetaData"] == {sync_op: {"Meta": f"Workflow metadata for {sync_op}"}}
    assert stages[stage0]["Outputs"][0]["Name"] == sync_op
    out1 = stages[stage1]["Outputs"][0]
    assert out1["Name"] == async_op
    assert out1["MetaData"][async_op] == {"Meta": f"Workflow metadata for {async_op}"}

    # The short projections.
    by_status = client.get("/api/workflow/execution/status/Complete").json()
    mine = [e for e in by_status if e["Id"] == done["Id"]]
    assert len(mine) == 1
    assert set(mine[0]) == PROJECTION_KEYS
    assert mine[0] == {
        "Id": done["Id"],
        "AssetId": asset,
        "CurrentStage": "End",
        "StateMachineExecutionArn": done["StateMachineExecutionArn"],
        "Status": "Complete",
        "Workflow": {"Name": wf},
    }
    assert done["Id"] not in [e["Id"] for e in client.get("/api/workflow/execution/status/Started").json()]
    by_asset = client.get(f"/api//workflow/execution/asset/{asset}").json()
    assert by_asset == [{**mine[0], "Created": done["Created"]}]

    # The full list has the same full record.
    everything = client.get("/api/workflow/execution").json()
    assert [e for e in everything if e["Id"] == done["Id"]] == [done]
    # The data plane has the asset the execution created.
    meta = client.get(f"/api/dataplane/metadata/{asset}")
    assert meta.status_code == 200, meta.text
    assert meta.json()["results"]["S3Key"] == source["S3Key"]
    assert meta.json()["results"]["MediaType"] == "Video"


def test_workflow_listings_by_operation_and_stage(client: httpx.Client) -> None:
    wf = unique("listed")
    op = unique("listed-op")
    make_workflow(client, wf, [[operation(op)]])
    by_op = client.get(f"/api/workflow/list/operation/{op}").json()
    assert [w["Name"] for w in by_op] == [wf]
    by_stage = client.get(f"/api/workflow/list/stage/{wf}-stage0").json()
    assert [w["Name"] for w in by_stage] == [wf]
    assert client.get(f"/api/workflow/list/stage/{unique('nothing')}").json() == []


@pytest.mark.parametrize(
    "path", ["/api/workflow/operation", "/api/workflow/stage", "/api/workflow", "/api/workflow/execution"]
)
def test_list_routes_page_with_next_tokens(client: httpx.Client, path: str) -> None:
    for _ in range(3):
        wf = unique("paged")
        make_workflow(client, wf, [[operation(unique("paged-op"))]])
        if path.endswith("execution"):
            wait_for(client, start(client, wf, f"upload/{wf}.mp4")["Id"], {"Complete", "Error"})
    key = "Id" if path.endswith("execution") else "Name"
    everything = [item[key] for item in client.get(path).json()]
    assert len(everything) >= 3
    paged: list[str] = []
    response = client.get(path, params={"limit": 2})
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page) <= 2
        paged.extend(item[key] for item in page)
        token = response.headers.get("X-Next-Token")
        if token is None:
            break
        assert 'rel="next"' in response.headers["Link"]
        response = client.get(path, params={"limit": 2, "next": token})
        assert len(paged) <= len(everything), "paging does not end"
    assert paged == everything
