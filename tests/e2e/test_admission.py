"""``MaxConcurrentWorkflows``: never more executions ``Started`` than allowed, FIFO, and changes apply at once.

Concurrency is measured by replaying the ``WorkflowExecution`` events of the change feed (every status change is
logged in the transaction that makes it), so a brief overlap between polls cannot hide.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import assert_error, changes, last_seq, make_workflow, operation, start, unique, wait_for

pytestmark = pytest.mark.e2e


def set_max(client: httpx.Client, value: Any) -> httpx.Response:
    return client.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": value})


@pytest.fixture
def restore_max(client: httpx.Client) -> Iterator[None]:
    yield
    assert set_max(client, 5).status_code == 200


def replay(client: httpx.Client, after: int) -> tuple[int, list[str], list[str]]:
    """Max executions Started at once, the order executions started in, and the order they finished in."""
    status: dict[str, str] = {}
    peak = 0
    started: list[str] = []
    finished: list[str] = []
    for event in changes(client, after, source="WorkflowExecution"):
        payload = event["payload"]
        before = status.get(payload["Id"])
        status[payload["Id"]] = payload["Status"]
        if payload["Status"] == "Started" and before != "Started" and payload["Id"] not in started:
            started.append(payload["Id"])
        if payload["Status"] in ("Complete", "Error"):
            finished.append(payload["Id"])
        peak = max(peak, sum(1 for s in status.values() if s == "Started"))
    return peak, started, finished


def slow_workflow(client: httpx.Client, seconds: float) -> str:
    wf = unique("slow")
    make_workflow(client, wf, [[operation(unique("slow-op"), SleepSeconds=seconds)]])
    return wf


def test_max_concurrent_workflows_one_runs_them_one_at_a_time_in_order(client: httpx.Client, restore_max: None) -> None:
    r = set_max(client, 1)
    assert r.status_code == 200, r.text
    assert r.json() == {}
    items = client.get("/api/system/configuration").json()
    assert {"Name": "MaxConcurrentWorkflows", "Value": 1} in items
    wf = slow_workflow(client, 0.3)
    after = last_seq(client)
    ids = [start(client, wf, f"upload/{wf}-{n}.mp4")["Id"] for n in range(4)]

    # Watch the Started list while they run, as a client would.
    deadline = time.monotonic() + 30
    seen_started: set[str] = set()
    while time.monotonic() < deadline:
        running = client.get("/api/workflow/execution/status/Started").json()
        assert len(running) <= 1, running
        seen_started.update(e["Id"] for e in running)
        complete = {e["Id"] for e in client.get("/api/workflow/execution/status/Complete").json()}
        if complete >= set(ids):
            break
        time.sleep(0.02)
    for execution_id in ids:
        assert wait_for(client, execution_id, {"Complete", "Error"})["Status"] == "Complete"
    assert seen_started, "no execution was ever seen Started"

    peak, started, finished = replay(client, after)
    assert peak == 1
    assert started == ids
    assert finished == ids


def test_raising_the_limit_takes_effect_at_once(client: httpx.Client, restore_max: None) -> None:
    assert set_max(client, 1).status_code == 200
    wf = slow_workflow(client, 1.0)
    after = last_seq(client)
    ids = [start(client, wf, f"upload/{wf}-{n}.mp4")["Id"] for n in range(3)]
    wait_for(client, ids[0], {"Started"})
    assert client.get(f"/api/workflow/execution/{ids[1]}").json()["Status"] == "Queued"
    assert set_max(client, 3).status_code == 200
    # The queued two start while the first still runs (its operator sleeps 1 s).
    wait_for(client, ids[2], {"Started", "Complete"}, timeout=5)
    assert client.get(f"/api/workflow/execution/{ids[0]}").json()["Status"] == "Started"
    for execution_id in ids:
        assert wait_for(client, execution_id, {"Complete", "Error"})["Status"] == "Complete"
    peak, started, _ = replay(client, after)
    assert peak == 3
    assert started == ids


@pytest.mark.parametrize("value", [0, -1, "abc", 1.5, True, None, [2]])
def test_invalid_max_concurrent_workflows_is_400(client: httpx.Client, value: Any) -> None:
    assert_error(set_max(client, value), 400, "MaxConcurrentWorkflows")
    items = client.get("/api/system/configuration").json()
    assert [i["Value"] for i in items if i["Name"] == "MaxConcurrentWorkflows"] == [5]


def test_other_configuration_items_are_stored_verbatim(client: httpx.Client) -> None:
    name = unique("Setting")
    r = client.post("/api/system/configuration", json={"Name": name, "Value": {"any": ["json", 1]}})
    assert r.status_code == 200, r.text
    assert {"Name": name, "Value": {"any": ["json", 1]}} in client.get("/api/system/configuration").json()
