"""The workflow API in-process: catalog semantics, propagation of updates, paging, auth and error shapes."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from mie.api import errors as api_errors
from mie.bootstrap import Services
from mie.errors import InvalidError, MieError, NotFoundError, NotImplementedYetError, StorageError
from tests.helpers import make_workflow, operation, start, wait_for


def error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"Code", "Message"}
    message: str = body["Message"]
    return message


def test_index_and_version_are_open(services: Services) -> None:
    with TestClient(services.app()) as anonymous:
        assert anonymous.get("/api/").json() == {"hello": "world"}
        assert anonymous.get("/api/version").json()["ApiVersion"] == "2.0.0"
        message = error(anonymous.get("/api/workflow"), 401)
        assert "x-api-key" in message
        assert error(anonymous.get("/api/workflow", headers={"x-api-key": "wrong"}), 401)
        bearer = anonymous.get("/api/workflow", headers={"Authorization": f"Bearer {services.api_key}"})
        assert bearer.status_code == 200


@pytest.mark.parametrize("path", ["/api/dataplane/", "/api/dataplane/version", "/api//dataplane//version"])
def test_dataplane_index_and_version_need_the_key(services: Services, path: str) -> None:
    """DESIGN.md §1 exempts only GET /api/ and GET /api/version."""
    with TestClient(services.app()) as anonymous:
        assert "x-api-key" in error(anonymous.get(path), 401)
        assert error(anonymous.get(path, headers={"x-api-key": "wrong"}), 401)
        keyed = anonymous.get(path, headers={"x-api-key": services.api_key})
        assert keyed.status_code == 200
        bearer = anonymous.get(path, headers={"Authorization": f"Bearer {services.api_key}"})
        assert bearer.json() == keyed.json()
    if path.endswith("version"):
        assert keyed.json()["ApiVersion"] == "1.0.0"
        assert keyed.json()["FrameworkVersion"].startswith("v")
    else:
        assert keyed.json() == {"hello": "world"}


def test_doubled_slashes_are_tolerated(client: TestClient) -> None:
    assert client.get("/api//workflow/operation").status_code == 200
    assert client.get("/api//dataplane//checkouts").json() == {"locks": []}


def test_operation_crud_and_singleton_stage(client: TestClient) -> None:
    created = client.post("/api/workflow/operation", json=operation("op1")).json()
    assert created["StageName"] == "_op1"
    assert client.get("/api/workflow/stage/_op1").json()["Operations"] == ["op1"]
    assert "A operation with the name 'op1' already exists" in error(
        client.post("/api/workflow/operation", json=operation("op1")), 409
    )
    assert error(client.get("/api/workflow/operation/nope"), 404)
    assert error(client.post("/api/workflow/operation", json={"Name": "x"}), 400)
    deleted = client.delete("/api/workflow/operation/op1").json()
    assert deleted["Name"] == "op1"
    assert client.delete("/api/workflow/operation/op1").json() == {"Message": "Warning: operation 'op1' not found"}
    assert error(client.get("/api/workflow/stage/_op1"), 404)


def test_put_operation_propagates_to_stages_and_workflows(client: TestClient) -> None:
    make_workflow(client, "wf", [[operation("op", Threshold=1)]])
    updated = operation("op", Threshold=7)
    r = client.put("/api/workflow/operation", json=updated)
    assert r.status_code == 200
    assert r.json()["Version"] == "v1"
    assert client.get("/api/workflow/stage/wf-stage0").json()["Configuration"]["op"]["Threshold"] == 7
    assert client.get("/api/workflow/configuration/wf").json() == {
        "wf-stage0": {"op": {"MediaType": "Video", "Enabled": True, "Threshold": 7}}
    }
    done = wait_for(client, start(client, "wf", "upload/a.mp4")["Id"], {"Complete", "Error"})
    assert done["Workflow"]["Stages"]["wf-stage0"]["Outputs"][0]["Configuration"]["Threshold"] == 7
    assert error(client.put("/api/workflow/operation", json=operation("ghost")), 404)


def test_put_stage_propagates(client: TestClient) -> None:
    make_workflow(client, "wf2", [[operation("a")]])
    client.post("/api/workflow/operation", json=operation("b", media="Audio", start="AudioSyncOKLambda"))
    r = client.put("/api/workflow/stage", json={"Name": "wf2-stage0", "Operations": ["a", "b"]})
    assert r.status_code == 200, r.text
    wf = client.get("/api/workflow/wf2").json()
    assert wf["Operations"] == ["a", "b"]
    assert wf["Stages"]["wf2-stage0"]["Operations"] == ["a", "b"]
    assert [w["Name"] for w in client.get("/api/workflow/list/operation/b").json()] == ["wf2"]
    assert [w["Name"] for w in client.get("/api/workflow/list/stage/wf2-stage0").json()] == ["wf2"]


def test_dependencies_block_delete_unless_forced(client: TestClient) -> None:
    make_workflow(client, "wf3", [[operation("c")]])
    assert "GET /workflow/list/operation/c" in error(client.delete("/api/workflow/operation/c"), 400)
    assert "GET /workflow/list/stage/" in error(client.delete("/api/workflow/stage/wf3-stage0"), 400)
    assert client.delete("/api/workflow/operation/c?force=true").status_code == 200
    assert client.get("/api/workflow/wf3").json()["StaleOperations"] == ["c"]
    assert client.delete("/api/workflow/stage/wf3-stage0?force=true").status_code == 200
    assert client.get("/api/workflow/wf3").json()["StaleStages"] == ["wf3-stage0"]
    assert error(client.delete("/api/workflow/stage/x?force=maybe"), 400)


def test_workflow_errors_and_update(client: TestClient) -> None:
    make_workflow(client, "wf4", [[operation("d")], [operation("e")]])
    assert "already exists" in error(
        client.post(
            "/api/workflow", json={"Name": "wf4", "StartAt": "wf4-stage0", "Stages": {"wf4-stage0": {"End": True}}}
        ),
        409,
    )
    assert error(
        client.post("/api/workflow", json={"Name": "wf5", "StartAt": "ghost", "Stages": {"ghost": {"End": True}}}), 404
    )
    updated = client.put(
        "/api/workflow", json={"Name": "wf4", "StartAt": "wf4-stage1", "Stages": {"wf4-stage1": {"End": True}}}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["Revisions"] == "2"
    assert list(updated.json()["Stages"]) == ["wf4-stage1"]
    assert error(client.put("/api/workflow", json={"Name": "ghost"}), 404)
    assert client.delete("/api/workflow/wf4").json()["Name"] == "wf4"
    assert client.delete("/api/workflow/wf4").json() == {"Message": "Workflow 'wf4' not found"}


def test_list_routes_page_with_headers(client: TestClient) -> None:
    for n in range(5):
        client.post("/api/workflow/operation", json=operation(f"page-{n}"))
    names: list[str] = []
    url = "/api/workflow/operation?limit=2"
    while True:
        r = client.get(url)
        names.extend(o["Name"] for o in r.json())
        token = r.headers.get("X-Next-Token")
        if token is None:
            break
        assert 'rel="next"' in r.headers["Link"]
        url = f"/api/workflow/operation?limit=2&next={token}"
    assert names == sorted(names)
    assert len(names) == len(set(names))
    assert {f"page-{n}" for n in range(5)} <= set(names)
    assert len(client.get("/api/workflow/operation").json()) == len(names)
    assert error(client.get("/api/workflow/operation?limit=0"), 400)


def test_execution_lists_and_projections(client: TestClient) -> None:
    make_workflow(client, "wf6", [[operation("f")]])
    ids = [start(client, "wf6", f"upload/{n}.mp4")["Id"] for n in range(3)]
    for i in ids:
        wait_for(client, i, {"Complete"})
    first = client.get("/api/workflow/execution?limit=2")
    second = client.get(f"/api/workflow/execution?limit=2&next={first.headers['X-Next-Token']}")
    assert [r["Id"] for r in first.json() + second.json()] == ids
    by_status = client.get("/api/workflow/execution/status/Complete").json()
    assert {"Id", "AssetId", "CurrentStage", "StateMachineExecutionArn", "Status", "Workflow"} <= set(by_status[0])
    asset = client.get(f"/api/workflow/execution/{ids[0]}").json()["AssetId"]
    by_asset = client.get(f"/api/workflow/execution/asset/{asset}").json()
    assert [r["Id"] for r in by_asset] == [ids[0]]
    assert "Created" in by_asset[0]
    assert error(client.get("/api/workflow/execution/status/Bogus"), 400)


def test_rerun_on_asset_and_conflict(client: TestClient) -> None:
    make_workflow(client, "wf7", [[operation("g", SleepSeconds=0.3)]])
    rec = start(client, "wf7", "upload/g.mp4")
    again = client.post("/api/workflow/execution", json={"Name": "wf7", "Input": {"AssetId": rec["AssetId"]}})
    assert "active on AssetId" in error(again, 409)
    wait_for(client, rec["Id"], {"Complete"})
    rerun = client.post("/api/workflow/execution", json={"Name": "wf7", "Input": {"AssetId": rec["AssetId"]}})
    assert rerun.status_code == 200
    assert rerun.json()["Globals"]["Media"]["Video"]["S3Key"].startswith(f"private/assets/{rec['AssetId']}/")
    assert error(client.post("/api/workflow/execution", json={"Name": "wf7", "Input": {"AssetId": "nope"}}), 404)


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"Name": "ghost", "Input": {"Media": {}}}, 404, "workflow name 'ghost' not found"),
        ({"Name": "wf8"}, 400, 'Input must contain either "AssetId" or "Media"'),
        ({"Name": "wf8", "Input": {"Media": {"Video": {"S3Bucket": "dataplane"}}}}, 400, "S3Key"),
        (
            {"Name": "wf8", "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/none.mp4"}}}},
            400,
            "s3://dataplane/upload/none.mp4",
        ),
        ({"Name": "wf8", "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "../x"}}}}, 400, "'..'"),
        (
            {
                "Name": "wf8",
                "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/x.mp4"}}},
                "Configuration": {"nostage": {}},
            },
            400,
            "Invalid stage found in Configuration 'nostage'",
        ),
    ],
)
def test_bad_execution_requests(client: TestClient, body: dict[str, Any], status: int, text: str) -> None:
    make_workflow(client, "wf8", [[operation("h")]])
    assert text in error(client.post("/api/workflow/execution", json=body), status)


def test_bad_bodies(client: TestClient, services: Services) -> None:
    assert "not valid JSON" in error(
        client.post("/api/workflow/operation", content=b"{nope", headers={"content-type": "application/json"}), 400
    )
    assert error(client.post("/api/workflow/operation", content=b"{}", headers={"content-type": "text/plain"}), 415)
    big = b'{"Name": "' + b"x" * services.settings.max_body_bytes + b'"}'
    assert error(client.post("/api/workflow/operation", content=big), 413)
    assert error(client.post("/api/workflow/operation", content=b"[]"), 400)
    assert error(client.get("/api/no/such/route"), 404)


def test_system_configuration(client: TestClient) -> None:
    items = client.get("/api/system/configuration").json()
    assert {"Name": "MaxConcurrentWorkflows", "Value": 5} in items
    assert client.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": 2}).json() == {}
    assert {"Name": "MaxConcurrentWorkflows", "Value": 2} in client.get("/api/system/configuration").json()
    for bad in (0, "abc", 1.5, True, None):
        r = client.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": bad})
        assert "whole number" in error(r, 400)
    assert error(client.post("/api/system/configuration", json={"Value": 1}), 400)


def test_service_routes_answer_501(client: TestClient) -> None:
    # MIE service routes this engine does not serve (the others are in test_*_service.py).
    assert "not available" in error(client.post("/api/service/transcribe/update_vocabulary", json={}), 501)
    assert error(client.post("/api/service/translate/update_terminology", json={}), 501)


def test_only_true_server_errors_are_logged_as_errors(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    api_errors.install(app)
    raised: dict[int, type[MieError]] = {
        400: InvalidError,
        404: NotFoundError,
        501: NotImplementedYetError,
        500: StorageError,
    }

    @app.get("/fail/{status}")
    def fail(status: int) -> None:
        raise raised[status]("boom")

    with (
        caplog.at_level(logging.DEBUG, logger="mie.api.errors"),
        TestClient(app, raise_server_exceptions=False) as anonymous,
    ):
        for status in (400, 404, 501, 500):
            assert anonymous.get(f"/fail/{status}").status_code == status
        assert anonymous.get("/no/such/route").status_code == 404
        assert anonymous.get("/fail/not-a-number").status_code == 400
    records = [r for r in caplog.records if r.name == "mie.api.errors"]
    assert [r.levelno for r in records] == [
        logging.DEBUG,
        logging.DEBUG,
        logging.INFO,
        logging.ERROR,
        logging.DEBUG,
        logging.DEBUG,
    ]
    assert records[3].exc_info is not None  # a server error keeps its traceback


def test_501_routes_do_not_log_errors(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        assert error(client.post("/api/service/transcribe/update_vocabulary", json={}), 501)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    assert "/api/workflow/execution" in spec["paths"]
