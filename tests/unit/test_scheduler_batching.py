"""The scheduler's batched steps and caches: many executions per step, parallel and skipped branches, admission
under the limit, operation updates seen at once, and outputs that are not JSON."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from mie.engine.tasks import DocCache
from mie.storage.sql.db import dumps
from tests.helpers import changes, last_seq, make_workflow, operation, start, upload, wait_for

HERE = "python:tests.unit.test_scheduler_batching:"


def not_json(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An operator whose output cannot be stored as JSON."""
    return dict(event, Status="Complete", MetaData={"bad": {1, 2}})


def tuple_output(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An operator whose output holds a tuple and a non-string key (JSON turns them into a list and a string)."""
    return dict(event, Status="Complete", MetaData={"pair": (1, 2), 3: "three"})


def test_many_executions_with_parallel_and_skipped_branches_under_the_limit(client: TestClient) -> None:
    stages = [
        [
            operation("par-a", OutputMediaType="Audio"),
            operation("par-b", OutputMediaType="Text"),
            operation("par-off", Enabled=False),
        ],
        [operation("par-c")],
    ]
    make_workflow(client, "par-wf", stages)
    client.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": 3})
    after = last_seq(client)
    for i in range(12):
        upload(client, f"upload/par-{i}.mp4")
    media = [{"Video": {"S3Bucket": "dataplane", "S3Key": f"upload/par-{i}.mp4"}} for i in range(12)]
    ids = [
        client.post("/api/workflow/execution", json={"Name": "par-wf", "Input": {"Media": m}}).json()["Id"]
        for m in media
    ]
    for execution_id in ids:
        done = wait_for(client, execution_id, {"Complete", "Error"})
        assert done["Status"] == "Complete", done.get("Message")
        outputs = done["Workflow"]["Stages"]["par-wf-stage0"]["Outputs"]
        assert [(o["Name"], o["Status"]) for o in outputs] == [
            ("par-a", "Complete"),
            ("par-b", "Complete"),
            ("par-off", "Skipped"),
        ]
        assert set(done["Globals"]["MetaData"]) == {"par-a", "par-b", "par-c"}
        assert done["Workflow"]["Stages"]["par-wf-stage1"]["Input"]["MetaData"].keys() == {"par-a", "par-b"}
    # Replay the status events: never more than 3 Started at once, and executions started in submission order.
    running: set[str] = set()
    started: list[str] = []
    for event in changes(client, after, source="WorkflowExecution"):
        payload = event["payload"]
        if payload["Id"] not in ids:
            continue
        if payload["Status"] == "Started":
            running.add(payload["Id"])
            started.append(payload["Id"])
        elif payload["Status"] in ("Complete", "Error", "Waiting"):
            running.discard(payload["Id"])
        assert len(running) <= 3
    assert started == ids


def test_an_operation_update_reaches_the_next_execution_at_once(client: TestClient) -> None:
    make_workflow(client, "upd-wf", [[operation("upd-op")]])
    first = wait_for(client, start(client, "upd-wf", "upload/u1.mp4")["Id"], {"Complete", "Error"})
    assert first["Status"] == "Complete"
    client.put("/api/workflow/operation", json=operation("upd-op", start="VideoSyncFailLambda"))
    second = wait_for(client, start(client, "upd-wf", "upload/u2.mp4")["Id"], {"Complete", "Error"})
    assert second["Status"] == "Error"
    assert "upd-op" in second["Message"]


def test_outputs_are_stored_as_json_and_non_json_fails_only_its_execution(client: TestClient) -> None:
    make_workflow(client, "bad-json-wf", [[operation("bad-json", start=HERE + "not_json")]])
    make_workflow(client, "tuple-wf", [[operation("tuple-op", start=HERE + "tuple_output")], [operation("after")]])
    bad = start(client, "bad-json-wf", "upload/j1.mp4")
    good = start(client, "tuple-wf", "upload/j2.mp4")
    bad_done = wait_for(client, bad["Id"], {"Complete", "Error"})
    assert bad_done["Status"] == "Error"
    assert "not JSON" in bad_done["Message"]
    good_done = wait_for(client, good["Id"], {"Complete", "Error"})
    assert good_done["Status"] == "Complete", good_done.get("Message")
    assert good_done["Globals"]["MetaData"]["pair"] == [1, 2]
    assert good_done["Globals"]["MetaData"]["3"] == "three"
    # The next stage was started from the stored (JSON) form, as after a restart.
    assert good_done["Workflow"]["Stages"]["tuple-wf-stage1"]["Input"]["MetaData"]["pair"] == [1, 2]


def test_doc_cache_hands_out_a_document_only_for_its_exact_text() -> None:
    cache = DocCache(size=2)
    doc = {"Id": "e1", "Globals": {"MetaData": {}}}
    text = dumps(doc)
    cache.keep("e1", text, doc)
    assert cache.take("e1", text) is doc
    # Taken means handed over: a second take parses again.
    assert cache.take("e1", text) is not doc
    cache.keep("e1", text, doc)
    changed = dumps({"Id": "e1", "Globals": {"MetaData": {"x": 1}}})
    fresh = cache.take("e1", changed)  # written elsewhere (another node, a rolled-back step): parse the new text
    assert fresh is not doc
    assert fresh["Globals"]["MetaData"] == {"x": 1}
    for name in ("e2", "e3", "e4"):
        cache.keep(name, "{}", {})
    assert cache.take("e2", "{}") == {}  # evicted (size 2), parsed again
    assert cache.take("e4", "{}") == {}
