"""Cancelling and deleting executions that are queued or running."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import assert_error, make_workflow, operation, start, unique, wait_for

pytestmark = pytest.mark.e2e

CANCELLED = "Cancelled by request"


@pytest.fixture(scope="module")
def slow(client: httpx.Client) -> tuple[str, str]:
    """A workflow whose only operator sleeps 1 s; returns (workflow, operator)."""
    wf, op = unique("slow"), unique("sleeper")
    make_workflow(client, wf, [[operation(op, SleepSeconds=1.0)]])
    return wf, op


@pytest.fixture
def max_one(client: httpx.Client) -> Iterator[None]:
    body = {"Name": "MaxConcurrentWorkflows", "Value": 1}
    assert client.post("/api/system/configuration", json=body).status_code == 200
    yield
    body["Value"] = 5
    assert client.post("/api/system/configuration", json=body).status_code == 200


def running(client: httpx.Client, execution_id: str) -> None:
    """Wait until the execution is Started and its operator has been called."""
    wait_for(client, execution_id, {"Started"})
    time.sleep(0.2)


def test_cancel_a_running_execution(client: httpx.Client, slow: tuple[str, str]) -> None:
    wf, op = slow
    execution = start(client, wf, f"upload/{wf}-cancel.mp4")
    running(client, execution["Id"])
    r = client.post(f"/api/workflow/execution/{execution['Id']}/cancel")
    assert r.status_code == 200, r.text
    cancelled = r.json()
    assert cancelled["Id"] == execution["Id"]
    assert cancelled["Status"] == "Error"
    assert cancelled["Message"] == CANCELLED
    assert cancelled["CurrentStage"] == "End"
    # The operator finishes meanwhile; its late result must not revive the execution.
    time.sleep(1.2)
    final = client.get(f"/api/workflow/execution/{execution['Id']}").json()
    assert final["Status"] == "Error"
    assert final["Message"] == CANCELLED
    assert final["CurrentStage"] == "End"
    assert op not in final["Globals"]["MetaData"]
    assert execution["Id"] not in [e["Id"] for e in client.get("/api/workflow/execution/status/Started").json()]
    # Cancelling an execution that has ended is a conflict; an unknown one is 404.
    assert_error(client.post(f"/api/workflow/execution/{execution['Id']}/cancel"), 409)
    assert_error(client.post(f"/api/workflow/execution/{unique('ghost')}/cancel"), 404)
    # The asset is free again: a re-run on it works and completes.
    rerun = client.post("/api/workflow/execution", json={"Name": wf, "Input": {"AssetId": execution["AssetId"]}})
    assert rerun.status_code == 200, rerun.text
    assert wait_for(client, rerun.json()["Id"], {"Complete", "Error"})["Status"] == "Complete"


def test_cancel_a_finished_execution_is_409(client: httpx.Client) -> None:
    wf = unique("quick")
    make_workflow(client, wf, [[operation(unique("quick-op"))]])
    execution = start(client, wf, f"upload/{wf}.mp4")
    done = wait_for(client, execution["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete"
    assert_error(client.post(f"/api/workflow/execution/{execution['Id']}/cancel"), 409, "Complete")
    assert client.get(f"/api/workflow/execution/{execution['Id']}").json() == done


def test_cancel_a_queued_execution(client: httpx.Client, slow: tuple[str, str], max_one: None) -> None:
    wf, op = slow
    first = start(client, wf, f"upload/{wf}-first.mp4")
    second = start(client, wf, f"upload/{wf}-second.mp4")
    running(client, first["Id"])
    assert client.get(f"/api/workflow/execution/{second['Id']}").json()["Status"] == "Queued"
    r = client.post(f"/api/workflow/execution/{second['Id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["Status"] == "Error"
    assert wait_for(client, first["Id"], {"Complete", "Error"})["Status"] == "Complete"
    final = client.get(f"/api/workflow/execution/{second['Id']}").json()
    assert final["Status"] == "Error"
    assert final["Message"] == CANCELLED
    assert op not in final["Globals"]["MetaData"]


def test_delete_a_running_execution_frees_its_slot(client: httpx.Client, slow: tuple[str, str], max_one: None) -> None:
    wf, _ = slow
    doomed = start(client, wf, f"upload/{wf}-doomed.mp4")
    running(client, doomed["Id"])
    r = client.delete(f"/api/workflow/execution/{doomed['Id']}")
    assert r.status_code == 200, r.text
    assert r.json()["Id"] == doomed["Id"]
    assert_error(client.get(f"/api/workflow/execution/{doomed['Id']}"), 404)
    assert_error(client.delete(f"/api/workflow/execution/{doomed['Id']}"), 404)
    # With MaxConcurrentWorkflows 1, the next execution runs: the deleted one no longer holds the slot, and the
    # scheduler copes with the deleted execution's operator reporting back.
    quick = unique("after-delete")
    make_workflow(client, quick, [[operation(unique("after-delete-op"))]])
    following = start(client, quick, f"upload/{quick}.mp4")
    assert wait_for(client, following["Id"], {"Complete", "Error"}, timeout=10)["Status"] == "Complete"
    time.sleep(1.0)  # the deleted execution's operator has finished by now
    assert_error(client.get(f"/api/workflow/execution/{doomed['Id']}"), 404)
    assert doomed["Id"] not in [e["Id"] for e in client.get("/api/workflow/execution").json()]
    again = start(client, quick, f"upload/{quick}-2.mp4")
    assert wait_for(client, again["Id"], {"Complete", "Error"})["Status"] == "Complete"


def test_deleting_an_asset_cancels_its_running_execution(client: httpx.Client, slow: tuple[str, str]) -> None:
    wf, _ = slow
    execution = start(client, wf, f"upload/{wf}-asset.mp4")
    running(client, execution["Id"])
    r = client.delete(f"/api/dataplane/metadata/{execution['AssetId']}")
    assert r.status_code == 200, r.text
    final = client.get(f"/api/workflow/execution/{execution['Id']}").json()
    assert final["Status"] == "Error"
    assert "asset was deleted" in final["Message"]
    assert_error(client.get(f"/api/dataplane/metadata/{execution['AssetId']}"), 404)
