"""Regression tests for what the schema fuzzer (tests/e2e/test_fuzz.py) and the crash test
(tests/e2e/test_crash_pages.py) found: each request below once answered 500 and must answer a clear 4xx in MIE's
error shape; an execution once stayed Started for ever after a restart."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from mie.bootstrap import build, dispatcher
from mie.config import Settings
from mie.engine.scheduler import Scheduler
from mie.storage.sql.tables import tasks
from tests.helpers import API_KEY, assert_error, make_workflow, operation, start, wait_for


@pytest.mark.parametrize(
    "stages",
    [
        {"A": {"Next": []}, "B": {"End": True}},  # a list is not hashable: `in stages` raised TypeError
        {"A": {"Next": {"B": 1}}, "B": {"End": True}},
    ],
)
def test_a_workflow_whose_next_is_not_a_stage_name_is_a_400(client: TestClient, stages: dict[str, Any]) -> None:
    response = client.post("/api/workflow", json={"Name": "fuzz-next", "StartAt": "A", "Stages": stages})
    assert_error(response, 400, "Next stage")


@pytest.mark.parametrize("start_at", [["A"], {"A": 1}])
def test_a_workflow_whose_start_at_is_not_a_stage_name_is_a_400(client: TestClient, start_at: Any) -> None:
    body = {"Name": "fuzz-start", "StartAt": start_at, "Stages": {"A": {"End": True}}}
    assert_error(client.post("/api/workflow", json=body), 400, "StartAt")


def test_a_task_interrupted_too_often_ends_its_execution_in_error(settings: Settings) -> None:
    """Found by tests/e2e/test_crash_pages.py: a restart that failed a task interrupted once too often (retries used
    up) left its execution Started for ever, with no task to run."""
    svc = build(settings)
    svc.start()
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            # Slow enough that the claimed task is still running when the scheduler that claimed it is dropped.
            make_workflow(client, "interrupted-wf", [[operation("interrupted", SleepSeconds=3)]])
            svc.scheduler.stop()
            rec = start(client, "interrupted-wf", "upload/i.mp4")
            crashed = Scheduler(
                svc.engine_store,
                svc.catalog,
                svc.changes,
                svc.settings,
                dispatcher=dispatcher(svc.settings, svc.registry, svc.dataplane, svc.engine_store),
                node_id="local",
            )
            crashed.step()  # admits the execution, creates and claims its task
            crashed.stop(timeout=0)
            # As a crash leaves it: the task running on this node, on its last allowed attempt.
            with svc.db.write() as conn:
                crashed_task = conn.execute(
                    update(tasks).values(state="running", lease_owner="local:dead", attempt=settings.operator_retries)
                )
                assert crashed_task.rowcount == 1
            restarted = Scheduler(
                svc.engine_store,
                svc.catalog,
                svc.changes,
                svc.settings,
                dispatcher=dispatcher(svc.settings, svc.registry, svc.dataplane, svc.engine_store),
                node_id="local",
            )
            svc.scheduler = restarted
            restarted.start()
            done = wait_for(client, rec["Id"], {"Complete", "Error"}, timeout=10)
            assert done["Status"] == "Error"
            assert "interrupted" in str(done["Workflow"]["Stages"]["interrupted-wf-stage0"]), done
    finally:
        svc.stop()
