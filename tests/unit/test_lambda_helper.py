"""``MediaInsightsEngineLambdaHelper``: MIE operator code runs unchanged on this engine and its data plane."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from MediaInsightsEngineLambdaHelper import (
    DataPlane,
    MasExecutionError,
    MediaInsightsOperationHelper,
    OutputHelper,
    Status,
)
from mie.bootstrap import Services
from mie.operators.context import Runtime
from mie.operators.invoke import runtime_scope
from tests.helpers import make_workflow, operation, start, upload, wait_for
from tests.unit import mie_style_operator

OP = "python:tests.unit.mie_style_operator:"

EVENT: dict[str, Any] = {
    "Name": "Mediainfo",
    "AssetId": "a-1",
    "WorkflowExecutionId": "w-1",
    "Input": {"Media": {"Video": {"S3Bucket": "b", "S3Key": "k.mp4"}}, "MetaData": {}},
    "Configuration": {"MediaType": "Video", "Enabled": True},
    "Status": "Started",
    "MetaData": {},
    "Media": {},
}


@pytest.fixture
def in_process(services: Services) -> Iterator[Services]:
    """Calls made here go to the engine's data plane, as they do inside an operator."""
    with runtime_scope(Runtime(dataplane=services.dataplane)):
        yield services


def new_asset(client: TestClient, key: str) -> str:
    upload(client, key)
    r = client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": key}})
    assert r.status_code == 200, r.text
    asset_id: str = r.json()["AssetId"]
    return asset_id


def walk_operator(client: TestClient, asset_id: str, operator: str) -> list[Any]:
    """Every page of an operator's newest result, through the API's cursor."""
    url = f"/api/dataplane/metadata/{asset_id}/{operator}"
    body = client.get(url).json()
    pages = [body["results"]]
    while "cursor" in body:
        body = client.get(url, params={"cursor": body["cursor"]}).json()
        pages.append(body["results"])
    return pages


# The helper classes ---------------------------------------------------------------------------------------------


def test_status_constants_are_mies() -> None:
    assert Status.WORKFLOW_STATUS_QUEUED == "Queued"
    assert Status.WORKFLOW_STATUS_WAITING == "Waiting"
    assert Status.WORKFLOW_STATUS_RESUMED == "Resumed"
    assert Status.STAGE_STATUS_NOT_STARTED == "Not Started"
    assert Status.STAGE_STATUS_EXECUTING == "Executing"
    assert Status.OPERATION_STATUS_SKIPPED == "Skipped"
    assert Status.OPERATION_STATUS_EXECUTING == "Executing"
    assert Status.OPERATION_STATUS_COMPLETE == Status.WORKFLOW_STATUS_COMPLETE == "Complete"


def test_operation_helper_reads_the_event_and_builds_the_output() -> None:
    event = json.loads(json.dumps(EVENT))
    op = MediaInsightsOperationHelper(event)
    assert (op.name, op.asset_id, op.workflow_execution_id, op.status) == ("Mediainfo", "a-1", "w-1", "Started")
    assert op.input == EVENT["Input"]
    assert op.configuration == EVENT["Configuration"]
    assert op.base_s3_key == "private/media/"
    assert op.workflow_info() == {"AssetId": "a-1", "WorkflowExecutionId": "w-1"}
    assert not hasattr(op, "taskToken")
    op.update_workflow_status(Status.OPERATION_STATUS_COMPLETE)
    op.add_workflow_metadata(A="1", B="2")
    op.add_workflow_metadata_json({"Mediainfo": {"Meta": "x"}})
    op.add_media_object("Audio", "bkt", "key.mp4")
    out = op.return_output_object()
    assert list(out) == [
        "Name",
        "AssetId",
        "WorkflowExecutionId",
        "Input",
        "Configuration",
        "Status",
        "MetaData",
        "Media",
    ]
    assert out["Status"] == "Complete"
    assert out["MetaData"] == {"A": "1", "B": "2", "Mediainfo": {"Meta": "x"}}
    assert out["Media"] == {"Audio": {"S3Bucket": "bkt", "S3Key": "key.mp4"}}
    # As in MIE the event's MetaData dict is the helper's (a monitor adds to what its start handed on).
    assert event["MetaData"] is op.metadata


def test_operation_helper_defaults_and_missing_keys() -> None:
    minimal = {k: v for k, v in EVENT.items() if k not in ("MetaData", "Media")}
    op = MediaInsightsOperationHelper({**minimal, "TaskToken": "tok"})
    assert (op.metadata, op.media, op.taskToken) == ({}, {}, "tok")
    for required in ("Name", "AssetId", "WorkflowExecutionId", "Input", "Configuration", "Status"):
        broken = {k: v for k, v in EVENT.items() if k != required}
        with pytest.raises(KeyError, match=required):
            MediaInsightsOperationHelper(broken)


def test_output_helper_builds_the_short_output() -> None:
    out = OutputHelper("Thumbnail")
    assert out.return_output_object() == {"Name": "Thumbnail", "Status": "", "MetaData": {}, "Media": {}}
    out.update_workflow_status("Complete")
    out.add_workflow_metadata(MediaconvertJobId="j-1")
    out.add_media_object("Thumbnail", "b", "k.jpg")
    assert out.return_output_object() == {
        "Name": "Thumbnail",
        "Status": "Complete",
        "MetaData": {"MediaconvertJobId": "j-1"},
        "Media": {"Thumbnail": {"S3Bucket": "b", "S3Key": "k.jpg"}},
    }


def test_mas_execution_error_carries_the_output_object() -> None:
    output = {"Name": "X", "Status": "Error", "MetaData": {"XError": "bad"}}
    with pytest.raises(MasExecutionError) as info:
        raise MasExecutionError(output)
    assert info.value.args[0] is output
    assert type(info.value).__name__ == "MasExecutionError"


# MIE operators through the engine -------------------------------------------------------------------------------


def replace_operations(client: TestClient, *ops: dict[str, Any]) -> None:
    """Define operations under MIE's names, replacing built-in ones of the same name (as a user porting their own
    Mediainfo would): the MIE-style handlers write keys derived from the operation's name."""
    for op in ops:
        r = client.post("/api/workflow/operation", json=op)
        if r.status_code == 409:
            r = client.put("/api/workflow/operation", json=op)
        assert r.status_code == 200, r.text


def test_mie_operators_run_unchanged_through_the_engine(client: TestClient) -> None:
    mediainfo = operation("Mediainfo", start=OP + "lambda_handler", Tracks=["Video", "Audio", "Audio"])
    labels = operation(
        "labelDetection",
        "Async",
        start=OP + "start_label_detection",
        monitor=OP + "check_label_detection_status",
        Pages=5,
        PagesPerCall=2,
    )
    reader = operation("ReadBack", start=OP + "read_back")
    replace_operations(client, mediainfo, labels)
    make_workflow(client, "mie-style", [[mediainfo], [labels], [reader]])
    execution = start(client, "mie-style", "upload/clip.mp4")
    done = wait_for(client, execution["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete", done.get("Message")
    asset_id = done["AssetId"]
    wf_id = execution["Id"]

    # The Mediainfo output object is MIE's full shape, and its MetaData reaches later stages.
    out = done["Workflow"]["Stages"]["mie-style-stage0"]["Outputs"][0]
    assert out["Status"] == "Complete"
    assert out["MetaData"] == {"Mediainfo_num_audio_tracks": "2", "AssetId": asset_id, "WorkflowExecutionId": wf_id}
    assert set(out) == {
        "Name",
        "AssetId",
        "WorkflowExecutionId",
        "Input",
        "Configuration",
        "Status",
        "MetaData",
        "Media",
    }
    assert done["Globals"]["MetaData"]["Mediainfo_num_audio_tracks"] == "2"

    # What it stored, read through the data-plane API.
    body = client.get(f"/api/dataplane/metadata/{asset_id}/Mediainfo").json()
    assert body["operator"] == "Mediainfo"
    tracks = body["results"]["tracks"]
    assert [t["track_type"] for t in tracks] == ["General", "Video", "Audio", "Audio"]
    assert tracks[0]["complete_name"] == f"s3://dataplane/private/assets/{asset_id}/input/upload/clip.mp4"

    # The async monitor wrote 5 pages over 3 calls (PageToken continuation); readers see them in order.
    pages = walk_operator(client, asset_id, "labelDetection")
    assert [p["Labels"][0]["Label"]["Name"] for p in pages] == [f"label-{i}" for i in range(5)]
    assert "NextToken" not in pages[-1]
    label_out = done["Workflow"]["Stages"]["mie-style-stage1"]["Outputs"][0]
    assert label_out["Status"] == "Complete"
    assert label_out["MetaData"]["JobId"] == f"job-{wf_id}"
    assert "PageToken" not in label_out["MetaData"]

    # The OutputHelper operator read both results back in-process with the cursor walk.
    reader_out = done["Workflow"]["Stages"]["mie-style-stage2"]["Outputs"][0]
    assert reader_out["Status"] == "Complete"
    assert reader_out["MetaData"] == {"ReadBackPages": "5"}
    media_prefix = f"private/assets/{asset_id}/workflows/{wf_id}/"
    assert reader_out["Media"] == {"Text": {"S3Bucket": "dataplane", "S3Key": media_prefix + "summary.json"}}
    summary = client.get(f"/api/dataplane/metadata/{asset_id}/ReadBack").json()["results"]
    assert summary["operators"] == ["Mediainfo"] + ["labelDetection"] * 5
    assert summary["labels"] == [f"label-{i}" for i in range(5)]
    assert summary["label_pages"] == 5
    assert summary["media_path"] == {"S3Bucket": "dataplane", "S3Key": media_prefix}


def test_mas_execution_error_is_retried_and_its_details_kept(client: TestClient) -> None:
    failing = operation("Mediainfo", start=OP + "lambda_handler", FailWith="pymediainfo could not parse the file")
    replace_operations(client, failing)
    make_workflow(client, "mie-fail", [[failing]])
    execution = start(client, "mie-fail", "upload/broken.mp4")
    done = wait_for(client, execution["Id"], {"Complete", "Error"})
    assert done["Status"] == "Error"
    # MIE's ASL retries MasExecutionError twice: three calls in all.
    assert mie_style_operator.CALLS[f"lambda_handler:{execution['Id']}"] == 3
    expected = "MediainfoError: Unable to get Mediainfo results. pymediainfo could not parse the file"
    assert expected in done["Message"]
    assert "operation Mediainfo" in done["Message"]
    out = done["Workflow"]["Stages"]["mie-fail-stage0"]["Outputs"][0]
    assert out["Status"] == "Error"
    assert out["MetaData"]["MediainfoError"] == "Unable to get Mediainfo results. pymediainfo could not parse the file"
    # Nothing was stored for the asset.
    assert "cursor" not in client.get(f"/api/dataplane/metadata/{done['AssetId']}").json()


def test_data_plane_errors_come_back_as_bodies_inside_operators(client: TestClient) -> None:
    make_workflow(client, "mie-bad-store", [[operation("BadStore", start=OP + "store_not_a_dict")]])
    done = wait_for(client, start(client, "mie-bad-store", "upload/b.mp4")["Id"], {"Complete", "Error"})
    assert done["Status"] == "Error"
    assert "StoreError: BadRequestError: Results of BadStore are not the required data type, dict" in done["Message"]


# The DataPlane class in-process ------------------------------------------------------------------------------------


def test_paginated_writes_round_trip(client: TestClient, in_process: Services) -> None:
    asset_id = new_asset(client, "upload/pages.mp4")
    dp = DataPlane()
    pages = [{"Labels": [{"Name": f"p{i}"}], "Float": i + 0.5} for i in range(3)]
    assert dp.store_asset_metadata(asset_id, "labelDetection", "wf-1", pages[0], paginate=True) == {"Status": "Success"}
    assert dp.store_asset_metadata(asset_id, "labelDetection", "wf-1", pages[1], paginate=True) == {"Status": "Success"}
    # Before the last page nothing is readable: pointers move only when the set is complete.
    first = dp.retrieve_asset_metadata(asset_id)
    assert "cursor" not in first
    assert first["asset_id"] == asset_id
    assert first["results"]["S3Key"] == f"private/assets/{asset_id}/input/upload/pages.mp4"
    final = dp.store_asset_metadata(asset_id, "labelDetection", "wf-1", pages[2], paginate=True, end=True)
    key = f"private/assets/{asset_id}/workflows/wf-1/labelDetection.json"
    assert final == {"Status": "Success", "Bucket": "dataplane", "Key": key}
    single = dp.store_asset_metadata(asset_id, "Mediainfo", "wf-1", {"tracks": []})
    assert single == {
        "Status": "Success",
        "Bucket": "dataplane",
        "Key": f"private/assets/{asset_id}/workflows/wf-1/Mediainfo.json",
    }

    # One operator, page by page.
    got = []
    response = dp.retrieve_asset_metadata(asset_id, "labelDetection")
    got.append(response["results"])
    while "cursor" in response:
        response = dp.retrieve_asset_metadata(asset_id, "labelDetection", response["cursor"])
        assert response["operator"] == "labelDetection"
        got.append(response["results"])
    assert got == pages

    # The whole asset: the asset first, then each page of each operator, MIE's loop.
    walked = []
    response = dp.retrieve_asset_metadata(asset_id)
    while "cursor" in response:
        response = dp.retrieve_asset_metadata(asset_id, cursor=response["cursor"])
        walked.append((response["operator"], response["results"]))
    assert walked == [("labelDetection", p) for p in pages] + [("Mediainfo", {"tracks": []})]

    # The API serves exactly the same pages (and MIE's standard-base64 decoding of the cursor works too).
    assert walk_operator(client, asset_id, "labelDetection") == pages
    cursor = dp.retrieve_asset_metadata(asset_id, "labelDetection")["cursor"]
    standard = base64.b64encode(base64.urlsafe_b64decode(cursor)).decode()
    assert dp.retrieve_asset_metadata(asset_id, "labelDetection", standard)["results"] == pages[1]


def test_errors_come_back_as_bodies(client: TestClient, in_process: Services) -> None:
    asset_id = new_asset(client, "upload/errors.mp4")
    dp = DataPlane()
    missing = dp.retrieve_asset_metadata("no-such-asset")
    assert missing["Code"] == "NotFoundError"
    assert "no-such-asset" in missing["Message"]
    no_op = dp.retrieve_asset_metadata(asset_id, "Nobody")
    assert no_op["Code"] == "NotFoundError"
    not_dict = dp.store_asset_metadata(asset_id, "Op", "wf", ["a", "list"])
    assert not_dict == {
        "Code": "BadRequestError",
        "Message": "BadRequestError: Results of Op are not the required data type, dict",
    }
    # MIE sends ?end=true alone when paginate is False; the API refuses it, as MIE's did.
    end_only = dp.store_asset_metadata(asset_id, "Op", "wf", {}, end=True)
    assert end_only["Code"] == "BadRequestError"
    assert "paginated" in end_only["Message"]
    unknown_asset = dp.store_asset_metadata("nope", "Op", "wf", {})
    assert unknown_asset["Code"] == "NotFoundError"
    assert dp.call_dataplane("/nowhere", "/nowhere", "GET")["Code"] == "NotFoundError"
    # A body that is not JSON fails in the caller, as MIE's json.dumps did.
    with pytest.raises(TypeError):
        dp.store_asset_metadata(asset_id, "Op", "wf", {"x": object()})


def test_assets_media_paths_and_direct_calls(client: TestClient, in_process: Services) -> None:
    upload(client, "upload/v2.mp4")
    upload(client, "upload/v4.mp4")
    dp = DataPlane()
    v2 = dp.create_asset("dataplane", "upload/v2.mp4")
    assert v2["MediaType"] == "Video"
    assert v2["S3Key"] == f"private/assets/{v2['AssetId']}/input/upload/v2.mp4"
    v4 = dp.create_asset("Video", "dataplane", "upload/v4.mp4")
    assert (v4["MediaType"], v4["S3Bucket"]) == ("Video", "dataplane")
    assert dp.create_asset("dataplane", "upload/missing.mp4")["Code"] == "BadRequestError"
    with pytest.raises(TypeError):
        dp.create_asset("a", "b", "c", "d")
    assert dp.generate_media_storage_path(v2["AssetId"], "wf-9") == {
        "S3Bucket": "dataplane",
        "S3Key": f"private/assets/{v2['AssetId']}/workflows/wf-9/",
    }
    # call_dataplane with a template and no path parameters finds them in the path.
    path = f"/mediapath/{v4['AssetId']}/wf-1"
    assert dp.call_dataplane(path, "/mediapath/{asset_id}/{workflow_id}", "GET")["S3Key"].endswith("/wf-1/")
    listed = dp.call_dataplane("/metadata", "/metadata", "GET")
    assert {v2["AssetId"], v4["AssetId"]} <= set(listed["assets"])
    # What needs the API server says so instead of half-working.
    assert dp.call_dataplane(f"/metadata/{v2['AssetId']}", "/metadata/{asset_id}", "DELETE")["Code"] == (
        "NotImplementedError"
    )


def test_an_instance_made_inside_an_operator_stays_in_process(client: TestClient, services: Services) -> None:
    asset_id = new_asset(client, "upload/thread.mp4")
    with runtime_scope(Runtime(dataplane=services.dataplane)):
        dp = DataPlane()
    # Outside the scope (as in a thread the operator started) it still reaches the engine's data plane.
    assert dp.retrieve_asset_metadata(asset_id)["asset_id"] == asset_id


# Over HTTP against a real `mie serve` --------------------------------------------------------------------------------


@pytest.mark.e2e
def test_http_mode_against_a_real_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.e2e.conftest import FAST_ENV, MieServer

    monkeypatch.setenv("NO_PROXY", ",".join(filter(None, ["127.0.0.1,localhost", os.environ.get("NO_PROXY")])))
    server = MieServer(tmp_path / "data", dict(FAST_ENV))
    try:
        server.start()
        monkeypatch.setenv("MIE_URL", server.base_url)
        monkeypatch.setenv("MIE_API_KEY", FAST_ENV["MIE_API_KEY"])
        upload(server.client, "upload/http.mp4")
        dp = DataPlane()  # no operator runtime here: HTTP to MIE_URL
        asset = dp.create_asset("dataplane", "upload/http.mp4")
        asset_id = asset["AssetId"]
        assert asset["S3Key"] == f"private/assets/{asset_id}/input/upload/http.mp4"
        assert dp.store_asset_metadata(asset_id, "op", "wf", {"n": 0}, paginate=True) == {"Status": "Success"}
        last = dp.store_asset_metadata(asset_id, "op", "wf", {"n": 1}, paginate=True, end=True)
        assert last["Key"] == f"private/assets/{asset_id}/workflows/wf/op.json"
        first = dp.retrieve_asset_metadata(asset_id, "op")
        second = dp.retrieve_asset_metadata(asset_id, "op", first["cursor"])
        assert (first["results"], second["results"], "cursor" in second) == ({"n": 0}, {"n": 1}, False)
        assert dp.generate_media_storage_path(asset_id, "wf")["S3Key"] == f"private/assets/{asset_id}/workflows/wf/"
        # Errors are bodies, not exceptions, over HTTP too.
        assert dp.retrieve_asset_metadata("no-such-asset")["Code"] == "NotFoundError"
        assert dp.store_asset_metadata(asset_id, "op", "wf", [1])["Code"] == "BadRequestError"
        wrong_key = DataPlane(url=server.base_url + "/api", api_key="wrong")
        assert wrong_key.retrieve_asset_metadata(asset_id)["Code"] == "UnauthorizedError"
        server.stop()
    finally:
        server.close()
    with pytest.raises(ConnectionError, match="MIE_URL"):
        DataPlane().retrieve_asset_metadata(asset_id)
