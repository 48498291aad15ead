"""Crash and restart: ``kill -9`` mid-execution loses nothing acknowledged, and the execution still completes.

Also: SIGTERM and SIGINT stop the server cleanly (idle or busy), and one data directory serves one server.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import MieServer, problems
from tests.helpers import changes, make_workflow, operation, start, unique, upload, wait_for

pytestmark = pytest.mark.e2e

Launch = Callable[..., MieServer]


def wait_until_running(client: httpx.Client, execution_id: str, stage: str, timeout: float = 10.0) -> None:
    """Until the execution is Started on ``stage`` (then a little longer, so that its operator is called)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = client.get(f"/api/workflow/execution/{execution_id}").json()
        if record["Status"] == "Started" and record["CurrentStage"] == stage:
            time.sleep(0.3)
            return
        assert record["Status"] in ("Queued", "Started"), record
        time.sleep(0.02)
    raise AssertionError(f"execution {execution_id} never reached stage {stage}")


def snapshot(client: httpx.Client) -> dict[str, Any]:
    """Everything the API has acknowledged, as a client can read it."""
    return {
        "operations": client.get("/api/workflow/operation").json(),
        "stages": client.get("/api/workflow/stage").json(),
        "workflows": client.get("/api/workflow").json(),
        "executions": client.get("/api/workflow/execution").json(),
        "configuration": client.get("/api/system/configuration").json(),
        "assets": client.get("/api/dataplane/metadata").json()["assets"],
        "changes": changes(client),
    }


def three_stage_slow_workflow(client: httpx.Client, seconds: float) -> tuple[str, list[str], list[str]]:
    wf = unique("slow")
    ops = [unique("first"), unique("sleeper"), unique("last")]
    make_workflow(client, wf, [[operation(ops[0])], [operation(ops[1], SleepSeconds=seconds)], [operation(ops[2])]])
    return wf, [f"{wf}-stage{n}" for n in range(3)], ops


def test_kill_9_during_an_execution_then_restart_completes_it(launch: Launch) -> None:
    srv = launch()
    client = srv.client
    # State acknowledged before the crash: a finished execution, an asset with metadata, a configuration item.
    fast = unique("fast")
    make_workflow(client, fast, [[operation(unique("fast-op"))]])
    earlier = wait_for(client, start(client, fast, f"upload/{fast}.mp4")["Id"], {"Complete", "Error"})
    assert earlier["Status"] == "Complete"
    upload(client, "upload/kept.mp4")
    asset = client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": "upload/kept.mp4"}})
    assert asset.status_code == 200, asset.text
    asset_id = asset.json()["AssetId"]
    stored = client.post(
        f"/api/dataplane/metadata/{asset_id}",
        json={"OperatorName": "kept", "WorkflowId": "w-1", "Results": {"Kept": True}},
    )
    assert stored.status_code == 200, stored.text
    assert client.post("/api/system/configuration", json={"Name": "Kept", "Value": "yes"}).status_code == 200

    wf, stages, ops = three_stage_slow_workflow(client, 2.0)
    running = start(client, wf, f"upload/{wf}.mp4")
    wait_until_running(client, running["Id"], stages[1])
    before = snapshot(client)

    srv.kill()
    assert srv.proc is not None
    assert srv.proc.returncode == -signal.SIGKILL
    assert not problems(srv.log()), srv.log()
    srv.start()

    done = wait_for(client, running["Id"], {"Complete", "Error"}, timeout=30)
    assert done["Status"] == "Complete", done.get("Message")
    assert done["CurrentStage"] == "End"
    assert set(done["Globals"]["MetaData"]) == set(ops)
    assert [s["Status"] for s in done["Workflow"]["Stages"].values()] == ["Complete"] * 3
    assert client.get("/api/workflow/execution/status/Started").json() == []

    after = snapshot(client)
    for key in ("operations", "stages", "workflows", "configuration", "assets"):
        assert after[key] == before[key], key
    previous = {e["Id"]: e for e in before["executions"]}
    now = {e["Id"]: e for e in after["executions"]}
    assert set(now) == set(previous)
    assert now[earlier["Id"]] == earlier
    # Every change event seen before the crash is still there, unchanged; new ones only follow it.
    assert after["changes"][: len(before["changes"])] == before["changes"]
    assert all(e["seq"] > before["changes"][-1]["seq"] for e in after["changes"][len(before["changes"]) :])
    statuses = [e["payload"]["Status"] for e in after["changes"] if e["payload"].get("Id") == running["Id"]]
    assert statuses[-1] == "Complete"
    meta = client.get(f"/api/dataplane/metadata/{asset_id}/kept")
    assert meta.status_code == 200, meta.text
    assert meta.json()["results"] == {"Kept": True}


def test_sigterm_while_busy_stops_cleanly_and_the_execution_finishes_after_restart(launch: Launch) -> None:
    srv = launch()
    client = srv.client
    wf, stages, ops = three_stage_slow_workflow(client, 1.0)
    running = start(client, wf, f"upload/{wf}.mp4")
    wait_until_running(client, running["Id"], stages[1])
    took = srv.stop()  # asserts exit 0, "mie stopped" and no traceback
    assert took < 12
    srv.start()
    done = wait_for(client, running["Id"], {"Complete", "Error"}, timeout=30)
    assert done["Status"] == "Complete", done.get("Message")
    assert set(done["Globals"]["MetaData"]) == set(ops)


def test_sigterm_and_sigint_while_idle_stop_cleanly(launch: Launch) -> None:
    srv = launch()
    wf = unique("idle")
    make_workflow(srv.client, wf, [[operation(unique("idle-op"))]])
    assert srv.stop(sig=signal.SIGTERM) < 5
    srv.start()
    assert srv.client.get(f"/api/workflow/{wf}").status_code == 200
    assert srv.stop(sig=signal.SIGINT) < 5
    srv.start()
    execution = start(srv.client, wf, f"upload/{wf}.mp4")
    assert wait_for(srv.client, execution["Id"], {"Complete", "Error"})["Status"] == "Complete"


def test_a_second_server_on_the_same_data_dir_is_refused(launch: Launch) -> None:
    srv = launch()
    other = subprocess.run(
        [
            *srv.command(),
            "serve",
            "--port",
            "1",
            "--data-dir",
            str(srv.data_dir),
        ],
        env=srv.process_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert other.returncode == 2, other
    assert "another mie server is using the data directory" in other.stdout + other.stderr
    assert srv.client.get("/api/workflow/operation/Wait").status_code == 200
