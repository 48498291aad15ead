"""The native operator SDK: declaration checks, the testing harness, and operators running in the engine."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.operators import OperatorContext, OperatorError, operator
from mie.testing import harness, run_operator
from tests.helpers import make_workflow, start, upload, wait_for
from tests.unit import sdk_ops

WORDS = b"the quick brown fox jumps over a lazy dog"


# Declaration ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"name": "bad name!", "media_type": "Video"}, "operator name"),
        ({"name": "X", "media_type": "Movie"}, "media_type"),
        ({"name": "X", "media_type": "Video", "configuration": {"Enabled": False}}, "Enabled"),
        ({"name": "X", "media_type": "Video", "timeout": 0}, "timeout"),
        ({"name": "X", "media_type": "Video", "max_concurrent": 0}, "max_concurrent"),
    ],
)
def test_bad_declarations_fail_at_definition(kwargs: dict[str, Any], needle: str) -> None:
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=needle):
        operator(name, **kwargs)


def test_wrong_signatures_fail_at_definition() -> None:
    decorate = operator("X", media_type="Video")
    with pytest.raises(TypeError, match="exactly one argument"):
        decorate(lambda: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="exactly one argument"):
        decorate(lambda a, b: None)  # type: ignore[arg-type,return-value]

    async def coroutine(ctx: OperatorContext) -> None:
        return None

    with pytest.raises(TypeError, match="async def"):
        decorate(coroutine)  # type: ignore[arg-type]


def test_definition_builds_the_operation_body() -> None:
    body = sdk_ops.async_start.operation()
    assert body["Type"] == "Async"
    assert body["StartLambdaArn"] == "SdkAsyncJob"
    assert body["MonitorLambdaArn"] == "SdkAsyncJob.monitor"
    assert body["Configuration"] == {"MediaType": "Video", "Enabled": True, "Polls": 3}
    limited = sdk_ops.limited.operation()
    assert limited["Type"] == "Sync"
    assert limited["MaxConcurrent"] == 1
    assert "MonitorLambdaArn" not in limited
    assert sdk_ops.hang.operation()["TimeoutSeconds"] == 0.5
    assert sdk_ops.word_count.description.startswith("Count the words")


# The harness --------------------------------------------------------------------------------------------------


def test_harness_runs_an_operator_on_a_file(tmp_path: Path) -> None:
    source = tmp_path / "words.mp4"
    source.write_bytes(WORDS)
    run = run_operator(sdk_ops.word_count, {"Video": source}, configuration={"MinLength": 4})
    assert run.status == "Complete"
    assert run.metadata == {"WordCount": 5}
    assert run.results["SdkWordCount"] == {"Words": 5, "First": ["quick", "brown", "jumps"]}
    assert run.progress == [(50.0, "counting")]


def test_harness_pages_media_and_async(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    source.write_bytes(WORDS)
    with harness(tmp_path / "h") as h:
        paged = h.run(sdk_ops.paged, {"Video": source}, configuration={"Pages": 3})
        assert paged.results["SdkPaged"] == [
            {"Page": 0, "Items": [0, 1]},
            {"Page": 1, "Items": [2, 3]},
            {"Page": 2, "Items": [4, 5]},
        ]
        made = h.run(sdk_ops.media, {"Video": source})
        assert made.media_files["Text"].read_bytes() == WORDS[::-1]
        job = h.run(sdk_ops.async_start, {"Video": source})
        assert job.status == "Complete"
        assert job.calls == 4
        assert job.metadata == {"JobPolls": 3, "JobDone": True}


def test_harness_reports_errors_as_exceptions(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    source.write_bytes(WORDS)
    with pytest.raises(OperatorError, match="returned list"):
        run_operator(sdk_ops.bad_return, {"Video": source})


# In the engine ---------------------------------------------------------------------------------------------------


@pytest.fixture
def sdk(services: Services, client: TestClient) -> TestClient:
    for definition in sdk_ops.ALL:
        services.registry.register(definition)
    sdk_ops.state.update(running=0, peak=0)
    sdk_ops.state["stopped"].clear()
    return client


def _register(client: TestClient, *names: str) -> list[dict[str, Any]]:
    out = []
    for name in names:
        r = client.post(f"/api/operators/{name}/register")
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def _workflow(client: TestClient, name: str, *operators: str) -> None:
    make_workflow(client, name, [[op] for op in _register(client, *operators)])


def test_discovered_operators_are_listed_and_registered_in_one_call(sdk: TestClient) -> None:
    listed = sdk.get("/api/operators").json()
    by_name = {o["Name"]: o for o in listed["Operators"]}
    assert by_name["SdkWordCount"]["Registered"] is False
    assert by_name["SdkWordCount"]["Version"] == "2.1.0"
    assert "VideoSyncOKLambda" in listed["Handlers"]
    (record,) = _register(sdk, "SdkWordCount")
    assert record["StartLambdaArn"] == "SdkWordCount"
    assert sdk.get("/api/operators").json()["Operators"][0]["Registered"] in (True, False)
    by_name = {o["Name"]: o for o in sdk.get("/api/operators").json()["Operators"]}
    assert by_name["SdkWordCount"]["Registered"] is True
    # Registering again updates the operation to the code's definition.
    (again,) = _register(sdk, "SdkWordCount")
    assert again["Version"] == "v1"
    missing = sdk.post("/api/operators/NoSuchOperator/register")
    assert missing.status_code == 404


def test_native_operators_run_in_a_workflow(sdk: TestClient) -> None:
    _workflow(sdk, "sdk-wf", "SdkWordCount", "SdkPaged", "SdkMedia")
    upload(sdk, "upload/words.mp4", WORDS)
    r = sdk.post(
        "/api/workflow/execution",
        json={
            "Name": "sdk-wf",
            "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/words.mp4"}}},
            "Configuration": {"sdk-wf-stage0": {"SdkWordCount": {"MinLength": 5}}},
        },
    )
    assert r.status_code == 200, r.text
    done = wait_for(sdk, r.json()["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete", done.get("Message")
    assert done["Globals"]["MetaData"]["WordCount"] == 3
    assert "Text" in done["Globals"]["Media"]
    asset = done["AssetId"]
    words = sdk.get(f"/api/dataplane/metadata/{asset}/SdkWordCount").json()
    assert words["results"] == {"Words": 3, "First": ["quick", "brown", "jumps"]}
    first_page = sdk.get(f"/api/dataplane/metadata/{asset}/SdkPaged").json()
    assert first_page["results"] == {"Page": 0, "Items": [0, 1]}
    assert "cursor" in first_page
    text = done["Globals"]["Media"]["Text"]
    link = sdk.post("/api/dataplane/download", json={"S3Bucket": text["S3Bucket"], "S3Key": text["S3Key"]})
    assert link.status_code == 200, link.text
    body = sdk.get(link.json().replace("http://testserver", "")).content
    assert body == WORDS[::-1]


def test_progress_is_visible_and_cancel_stops_the_operator(sdk: TestClient) -> None:
    _workflow(sdk, "sdk-progress", "SdkCooperative")
    execution = start(sdk, "sdk-progress", "upload/p.mp4")
    deadline = time.monotonic() + 10
    progress: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        record = sdk.get(f"/api/workflow/execution/{execution['Id']}").json()
        progress = record.get("Progress", [])
        if progress and progress[0].get("Percent"):
            break
        time.sleep(0.05)
    assert progress, "no progress was reported"
    assert progress[0]["Operation"] == "SdkCooperative"
    assert progress[0]["State"] == "Running"
    assert progress[0]["Message"].startswith("step ")
    assert 0 < progress[0]["Percent"] < 100
    # Estimated at the rate so far: a non-negative number of seconds once a percent is known.
    assert progress[0]["EstimatedSecondsRemaining"] >= 0
    r = sdk.post(f"/api/workflow/execution/{execution['Id']}/cancel")
    assert r.status_code == 200, r.text
    assert sdk_ops.state["stopped"].wait(5), "the operator did not notice the cancellation"
    record = sdk.get(f"/api/workflow/execution/{execution['Id']}").json()
    assert record["Status"] != "Complete"


def test_an_operator_past_its_time_limit_fails_its_task(sdk: TestClient) -> None:
    _workflow(sdk, "sdk-hang", "SdkHang")
    began = time.monotonic()
    done = wait_for(sdk, start(sdk, "sdk-hang", "upload/h.mp4")["Id"], {"Complete", "Error"})
    assert done["Status"] == "Error"
    assert "time limit of 0.5 s" in done["Message"]
    assert time.monotonic() - began < 1.9, "the timeout waited for the operator to return"


def test_max_concurrent_caps_running_tasks_of_one_operation(sdk: TestClient) -> None:
    _workflow(sdk, "sdk-limited", "SdkLimited")
    ids = [start(sdk, "sdk-limited", f"upload/l{i}.mp4")["Id"] for i in range(4)]
    for execution_id in ids:
        done = wait_for(sdk, execution_id, {"Complete", "Error"})
        assert done["Status"] == "Complete", done.get("Message")
    assert sdk_ops.state["peak"] == 1


def test_async_pair_and_bad_returns_in_the_engine(sdk: TestClient) -> None:
    _workflow(sdk, "sdk-async", "SdkAsyncJob")
    _workflow(sdk, "sdk-bad", "SdkBadReturn")
    job = wait_for(sdk, start(sdk, "sdk-async", "upload/a.mp4")["Id"], {"Complete", "Error"})
    assert job["Status"] == "Complete", job.get("Message")
    assert job["Globals"]["MetaData"]["JobPolls"] == 3
    bad = wait_for(sdk, start(sdk, "sdk-bad", "upload/b.mp4")["Id"], {"Complete", "Error"})
    assert bad["Status"] == "Error"
    assert "SdkBadReturn" in bad["Message"]
    assert "returned list" in bad["Message"]


def test_process_isolated_operators_run_in_worker_processes(sdk: TestClient) -> None:
    _workflow(sdk, "sdk-process", "SdkProcess")
    upload(sdk, "upload/proc.mp4", WORDS)
    first = wait_for(sdk, start(sdk, "sdk-process", "upload/p1.mp4")["Id"], {"Complete", "Error"}, timeout=60)
    assert first["Status"] == "Complete", first.get("Message")
    pid = first["Globals"]["MetaData"]["Pid"]
    assert pid != os.getpid()
    second = wait_for(sdk, start(sdk, "sdk-process", "upload/p2.mp4")["Id"], {"Complete", "Error"}, timeout=60)
    assert second["Status"] == "Complete", second.get("Message")
    # The worker process lives across calls (models an operator loads stay loaded).
    assert second["Globals"]["MetaData"]["Pid"] == pid
    stored = sdk.get(f"/api/dataplane/metadata/{second['AssetId']}/SdkProcess").json()
    assert stored["results"]["Words"] == second["Globals"]["MetaData"]["Words"]


def test_a_hung_process_operator_is_killed_at_its_time_limit(sdk: TestClient) -> None:
    _workflow(sdk, "sdk-process-hang", "SdkProcessHang")
    done = wait_for(sdk, start(sdk, "sdk-process-hang", "upload/ph.mp4")["Id"], {"Complete", "Error"}, timeout=60)
    assert done["Status"] == "Error"
    assert "time limit of 0.5 s" in done["Message"]
    # The engine is still healthy: another process call completes.
    _workflow(sdk, "sdk-process-after", "SdkProcess")
    after = wait_for(sdk, start(sdk, "sdk-process-after", "upload/pa.mp4")["Id"], {"Complete", "Error"}, timeout=60)
    assert after["Status"] == "Complete", after.get("Message")
