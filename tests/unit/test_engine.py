"""The engine through the in-process API: async monitors, retries, failures, leases, admission, wait/resume."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import insert, select, update
from starlette.testclient import TestClient

from mie.bootstrap import Services, build, dispatcher
from mie.config import Settings
from mie.engine.scheduler import Scheduler
from mie.errors import ConfigurationError
from mie.storage.sql.tables import executions, tasks
from tests.conftest import fast_settings
from tests.helpers import API_KEY, make_workflow, operation, start, wait_for

OPS = "python:tests.unit.ops:"


def test_async_monitor_is_polled_until_complete(client: TestClient) -> None:
    op = operation("job", "Async", start=OPS + "start_job", monitor=OPS + "counting_monitor", Polls=3)
    make_workflow(client, "async-wf", [[op]])
    done = wait_for(client, start(client, "async-wf", "upload/a.mp4")["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete", done.get("Message")
    out = done["Workflow"]["Stages"]["async-wf-stage0"]["Outputs"][0]
    assert out["MetaData"] == {"polls": "3"}


def test_mas_execution_error_is_retried_then_succeeds(client: TestClient) -> None:
    make_workflow(client, "retry-wf", [[operation("flaky", start=OPS + "flaky", FailTimes=2)]])
    done = wait_for(client, start(client, "retry-wf", "upload/a.mp4")["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete", done.get("Message")
    assert done["Globals"]["MetaData"]["attempts"] == "3"


def test_retries_run_out_and_the_details_are_kept(client: TestClient) -> None:
    make_workflow(client, "retry-fail-wf", [[operation("flaky2", start=OPS + "flaky", FailTimes=5)]])
    done = wait_for(client, start(client, "retry-fail-wf", "upload/a.mp4")["Id"], {"Complete", "Error"})
    assert done["Status"] == "Error"
    assert "flaky2" in done["Message"]
    assert "attempt 3 failed" in done["Message"]
    out = done["Workflow"]["Stages"]["retry-fail-wf-stage0"]["Outputs"][0]
    assert out["Status"] == "Error"
    assert out["MetaData"]["FlakyError"] == "attempt 3 failed"


def test_exceptions_and_garbage_fail_only_their_execution(client: TestClient) -> None:
    make_workflow(client, "boom-wf", [[operation("boom", start=OPS + "boom")]])
    make_workflow(client, "garbage-wf", [[operation("garbage", start=OPS + "garbage")]])
    make_workflow(client, "ok-wf", [[operation("ctx", start=OPS + "context_reader")]])
    boom = start(client, "boom-wf", "upload/1.mp4")
    garbage = start(client, "garbage-wf", "upload/2.mp4")
    ok = start(client, "ok-wf", "upload/3.mp4")
    boom_done = wait_for(client, boom["Id"], {"Complete", "Error"})
    assert boom_done["Status"] == "Error"
    assert "ValueError: boom: the operator broke" in boom_done["Message"]
    garbage_done = wait_for(client, garbage["Id"], {"Complete", "Error"})
    assert garbage_done["Status"] == "Error"
    assert "not an output object" in garbage_done["Message"]
    ok_done = wait_for(client, ok["Id"], {"Complete", "Error"})
    assert ok_done["Status"] == "Complete"
    assert ok_done["Globals"]["MetaData"] == {"function": "ctx", "ms": "True"}


def test_unresolvable_handler_is_a_clear_error(client: TestClient) -> None:
    make_workflow(client, "missing-wf", [[operation("missing", start="NoSuchLambda")]])
    done = wait_for(client, start(client, "missing-wf", "upload/a.mp4")["Id"], {"Complete", "Error"})
    assert done["Status"] == "Error"
    assert "no operator handler named 'NoSuchLambda'" in done["Message"]


def test_skipped_operators_and_disabled_config(client: TestClient) -> None:
    ops = [operation("audio-only", media="Audio"), operation("video-op")]
    make_workflow(client, "skip-wf", [ops])
    rec = start(client, "skip-wf", "upload/a.mp4", {"skip-wf-stage0": {"video-op": {"Enabled": False}}})
    done = wait_for(client, rec["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete"
    assert [o["Status"] for o in done["Workflow"]["Stages"]["skip-wf-stage0"]["Outputs"]] == ["Skipped", "Skipped"]


def test_media_produced_enables_later_stages(client: TestClient) -> None:
    producer = operation("make-audio", OutputMediaType="Audio")
    consumer = operation("use-audio", media="Audio", start="AudioSyncOKLambda")
    make_workflow(client, "chain-wf", [[producer], [consumer]])
    done = wait_for(client, start(client, "chain-wf", "upload/a.mp4")["Id"], {"Complete", "Error"})
    assert done["Workflow"]["Stages"]["chain-wf-stage1"]["Outputs"][0]["Status"] == "Complete"
    assert done["Globals"]["Media"]["Audio"]["S3Bucket"] == "S3BucketFromuse-audio"


def test_wait_resume_and_admission(client: TestClient) -> None:
    client.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": 1})
    r = client.post("/api/workflow/stage", json={"Name": "wait-here", "Operations": ["Wait"]})
    assert r.status_code == 200, r.text
    make_workflow(client, "pre", [[operation("first")]])
    client.post(
        "/api/workflow",
        json={
            "Name": "wait-wf",
            "StartAt": "pre-stage0",
            "Stages": {"pre-stage0": {"Next": "wait-here"}, "wait-here": {"End": True}},
        },
    )
    waiting = start(client, "wait-wf", "upload/w.mp4")
    rec = wait_for(client, waiting["Id"], {"Waiting"})
    assert rec["CurrentStage"] == "wait-here"
    # Waiting does not hold the single slot.
    other = start(client, "pre", "upload/o.mp4")
    assert wait_for(client, other["Id"], {"Complete", "Error"})["Status"] == "Complete"
    bad = client.put(f"/api/workflow/execution/{waiting['Id']}", json={"WaitingStageName": "pre-stage0"})
    assert bad.status_code == 400
    assert "Workflow status is not 'Waiting'" in bad.json()["Message"]
    assert client.put(f"/api/workflow/execution/{waiting['Id']}", json={}).json() == {}
    ok = client.put(f"/api/workflow/execution/{waiting['Id']}", json={"WaitingStageName": "wait-here"})
    assert ok.json() == {"Id": waiting["Id"], "Status": "Resumed"}
    done = wait_for(client, waiting["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete"
    assert done["Workflow"]["Stages"]["wait-here"]["Outputs"][0]["Status"] == "Complete"


def test_cancel_and_delete_stop_work(client: TestClient) -> None:
    make_workflow(client, "slow-wf", [[operation("slow", SleepSeconds=0.5)], [operation("after")]])
    rec = start(client, "slow-wf", "upload/s.mp4")
    wait_for(client, rec["Id"], {"Started"})
    cancelled = client.post(f"/api/workflow/execution/{rec['Id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["Message"] == "Cancelled by request"
    time.sleep(0.8)  # the operator finishes meanwhile; its late result must not revive the execution
    final = client.get(f"/api/workflow/execution/{rec['Id']}").json()
    assert final["Status"] == "Error"
    assert final["CurrentStage"] == "End"
    assert client.post(f"/api/workflow/execution/{rec['Id']}/cancel").status_code == 409
    second = start(client, "slow-wf", "upload/t.mp4")
    assert client.delete(f"/api/workflow/execution/{second['Id']}").json()["Id"] == second["Id"]
    assert client.get(f"/api/workflow/execution/{second['Id']}").status_code == 404


def test_expired_lease_from_a_dead_worker_is_run_again(settings: Settings) -> None:
    svc = build(fast_settings(settings.data_dir, task_lease_seconds=0.3))
    svc.start()
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            make_workflow(client, "lease-wf", [[operation("leased")]])
            client.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": 1})
            # Pretend a worker on another node claimed the task and died.
            svc.scheduler.stop()
            rec = start(client, "lease-wf", "upload/l.mp4")
            stopped = Scheduler(
                svc.engine_store,
                svc.catalog,
                svc.changes,
                svc.settings,
                dispatcher=dispatcher(svc.settings, svc.registry, svc.dataplane, svc.engine_store),
                node_id="other",
            )
            stopped.step()  # admits the execution, creates and claims its task as node "other"
            stopped.stop(timeout=0)
            with svc.db.write() as conn:
                conn.execute(
                    update(tasks).values(state="running", lease_owner="other:dead", lease_until=time.time() + 0.3)
                )
            fresh = Scheduler(
                svc.engine_store,
                svc.catalog,
                svc.changes,
                svc.settings,
                dispatcher=dispatcher(svc.settings, svc.registry, svc.dataplane, svc.engine_store),
                node_id="local",
            )
            svc.scheduler = fresh
            fresh.start()
            done = wait_for(client, rec["Id"], {"Complete", "Error"}, timeout=10)
            assert done["Status"] == "Complete", done.get("Message")
    finally:
        svc.stop()


def test_restart_recovers_running_tasks_and_repairs(settings: Settings) -> None:
    svc = build(settings)
    svc.start()
    with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
        make_workflow(client, "rec-wf", [[operation("r1")], [operation("r2")]])
        rec = start(client, "rec-wf", "upload/r.mp4")
        wait_for(client, rec["Id"], {"Complete"})
    svc.stop()
    # Simulate a crash that left a Started execution with a task marked running by this node.
    svc2 = build(settings)
    with svc2.db.write() as conn:
        row = conn.execute(select(executions).where(executions.c.id == rec["Id"])).one()
        conn.execute(
            insert(executions).values(
                id="crashed",
                workflow_name=row.workflow_name,
                asset_id=row.asset_id,
                status="Started",
                current_stage="rec-wf-stage0",
                created=row.created,
                queued_at=time.time(),
                doc=row.doc.replace(rec["Id"], "crashed"),
            )
        )
    svc2.start()
    try:
        with TestClient(svc2.app(), headers={"x-api-key": API_KEY}) as client:
            done = wait_for(client, "crashed", {"Complete", "Error"}, timeout=10)
            assert done["Status"] == "Complete", done.get("Message")
    finally:
        svc2.stop()


def test_services_refuse_a_second_engine_on_one_data_dir(services: Services, settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="another mie server"):
        build(settings)
