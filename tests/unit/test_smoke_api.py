"""The happy path through the in-process API: a two-stage workflow of sync and async test operators."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.helpers import make_workflow, operation, start, wait_for


def test_two_stage_workflow_completes(client: TestClient) -> None:
    make_workflow(client, "2-stage-wf", [[operation("video-test-sync")], [operation("video-test-async", "Async")]])
    record = start(client, "2-stage-wf", "upload/a.mp4")
    assert record["Status"] == "Queued"
    done = wait_for(client, record["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete", done.get("Message")
    assert done["CurrentStage"] == "End"
    meta = done["Globals"]["MetaData"]
    assert meta["video-test-sync"] == {"Meta": "Workflow metadata for video-test-sync"}
    assert meta["video-test-async"] == {"Meta": "Workflow metadata for video-test-async"}
    stages = done["Workflow"]["Stages"]
    assert stages["2-stage-wf-stage0"]["Status"] == "Complete"
    assert stages["2-stage-wf-stage1"]["Outputs"][0]["Status"] == "Complete"
