"""Client errors get their real 4xx with MIE's body ``{"Code", "Message"}`` and never a 500.

This module's server has small body and upload limits so that 413s are cheap to provoke. Its log is checked for
tracebacks and server errors when it stops (conftest).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import FAST_ENV, MieServer
from tests.helpers import API_KEY, assert_error, make_workflow, operation, start, unique, upload, wait_for

pytestmark = pytest.mark.e2e

MAX_BODY = 16 * 1024
MAX_UPLOAD = 64 * 1024
META: dict[str, Any] = {"WorkflowId": "w", "Results": {"a": 1}}


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    # The 401 tests below fail on purpose dozens of times from one address: the brake (429) is tested elsewhere.
    return {
        **FAST_ENV,
        "MIE_MAX_BODY_BYTES": str(MAX_BODY),
        "MIE_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "MIE_AUTH_FAILURE_BURST": "0",
    }


@pytest.fixture(scope="module")
def workflow(client: httpx.Client) -> str:
    """A one-stage workflow whose operator sleeps 0.5 s."""
    wf = unique("bad-inputs-wf")
    make_workflow(client, wf, [[operation(unique("bad-inputs-op"), SleepSeconds=0.5)]])
    return wf


def assets(client: httpx.Client) -> list[str]:
    ids: list[str] = client.get("/api/dataplane/metadata").json()["assets"]
    return ids


# Authentication ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/workflow"),
        ("POST", "/api/workflow/execution"),
        ("GET", "/api/workflow/execution/status/Complete"),
        ("GET", "/api/dataplane/metadata"),
        ("POST", "/api/dataplane/upload"),
        ("GET", "/api/dataplane/changes"),
        ("POST", "/api/system/configuration"),
    ],
)
def test_missing_or_wrong_key_is_401(server: MieServer, method: str, path: str) -> None:
    with httpx.Client(base_url=server.base_url) as anonymous:
        assert_error(anonymous.request(method, path, json={}), 401, "API key")
        assert_error(anonymous.request(method, path, json={}, headers={"x-api-key": API_KEY + "x"}), 401, "not valid")
        assert_error(anonymous.request(method, path, json={}, headers={"Authorization": "Bearer nope"}), 401)
        assert_error(anonymous.request(method, path, json={}, headers={"Authorization": f"Basic {API_KEY}"}), 401)


def test_bearer_token_is_accepted(server: MieServer) -> None:
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {API_KEY}"}) as bearer:
        assert bearer.get("/api/workflow").status_code == 200


# Bodies -----------------------------------------------------------------------------------------------------------


def test_invalid_json_is_400(client: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    assert_error(client.post("/api/workflow/operation", content=b"{not json", headers=headers), 400, "JSON")
    assert_error(client.post("/api/workflow/stage", content=b"\xff\xfe", headers=headers), 400, "JSON")
    assert_error(client.post("/api/workflow", content=b"[1, 2", headers=headers), 400)
    # Valid JSON of the wrong shape.
    assert_error(client.post("/api/workflow/operation", json=[1, 2]), 400)
    assert_error(client.post("/api/workflow/execution", json="just a string"), 400)
    assert_error(client.post("/api/workflow/operation", content=b"", headers=headers), 400)


def test_wrong_content_type_is_415(client: httpx.Client) -> None:
    body = json.dumps(operation(unique("typed"))).encode()
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        assert_error(client.post("/api/workflow/operation", content=body, headers={"Content-Type": ctype}), 415)
    # No Content-Type at all is read as JSON, as Chalice did.
    r = client.post("/api/workflow/operation", content=body)
    assert r.status_code == 200, r.text


def test_body_over_the_limit_is_413(client: httpx.Client) -> None:
    big = json.dumps({"Name": "x", "Value": "a" * (MAX_BODY + 10)}).encode()
    assert_error(
        client.post("/api/system/configuration", content=big, headers={"Content-Type": "application/json"}), 413
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        for offset in range(0, len(big), 4096):
            yield big[offset : offset + 4096]

    r = client.post("/api/system/configuration", content=chunks(), headers={"Content-Type": "application/json"})
    assert_error(r, 413)
    # Nothing was stored.
    assert "x" not in [i["Name"] for i in client.get("/api/system/configuration").json()]


def test_upload_over_the_limit_is_413(client: httpx.Client) -> None:
    form = client.post("/api/dataplane/upload", json={"S3Bucket": "dataplane", "S3Key": "upload/too-big.bin"}).json()
    assert form["fields"]["max-bytes"] == str(MAX_UPLOAD)
    r = httpx.post(form["url"], data=form["fields"], files={"file": ("f", b"\0" * (MAX_UPLOAD + 1))})
    assert_error(r, 413)
    r = httpx.post(
        form["url"], data=dict(form["fields"], **{"max-bytes": str(10 * MAX_UPLOAD)}), files={"file": ("f", b"\0" * 10)}
    )
    assert_error(r, 403)
    assert_error(
        client.post("/api/dataplane/download", json={"S3Bucket": "dataplane", "S3Key": "upload/too-big.bin"}), 404
    )


# Unknown and duplicate records ------------------------------------------------------------------------------------


def test_unknown_records_are_404(client: httpx.Client) -> None:
    ghost = unique("ghost")
    for path in (
        f"/api/workflow/{ghost}",
        f"/api/workflow/operation/{ghost}",
        f"/api/workflow/stage/{ghost}",
        f"/api/workflow/execution/{ghost}",
        f"/api/workflow/configuration/{ghost}",
        f"/api/dataplane/metadata/{ghost}",
        f"/api/dataplane/metadata/{ghost}/someop",
        f"/api/{ghost}",
    ):
        assert_error(client.get(path), 404)
    assert_error(client.delete(f"/api/workflow/execution/{ghost}"), 404)
    assert_error(client.delete(f"/api/dataplane/metadata/{ghost}"), 404)
    assert_error(client.post(f"/api/dataplane/checkout/{ghost}", json={"LockedBy": "a"}), 404)
    assert_error(client.post(f"/api/dataplane/metadata/{ghost}", json={**META, "OperatorName": "op"}), 404)
    assert_error(client.put("/api/workflow/operation", json=operation(ghost)), 404)
    assert_error(client.post("/api/workflow/stage", json={"Name": unique("s"), "Operations": [ghost]}), 404, ghost)
    r = client.post("/api/workflow/execution", json={"Name": ghost, "Input": {"AssetId": ghost}})
    assert_error(r, 404, ghost)
    # MIE answers 200 with a warning when deleting an operation that does not exist.
    r = client.delete(f"/api/workflow/operation/{ghost}")
    assert r.status_code == 200
    assert "not found" in r.json()["Message"]


def test_duplicates_are_409(client: httpx.Client) -> None:
    wf = unique("dup")
    op = operation(unique("dup-op"))
    make_workflow(client, wf, [[op]])
    assert_error(client.post("/api/workflow/operation", json=op), 409, op["Name"])
    assert_error(client.post("/api/workflow/stage", json={"Name": f"{wf}-stage0", "Operations": [op["Name"]]}), 409)
    body = {"Name": wf, "StartAt": f"{wf}-stage0", "Stages": {f"{wf}-stage0": {"End": True}}}
    assert_error(client.post("/api/workflow", json=body), 409, wf)


# Invalid requests -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"Type": "Sync", "Configuration": {"MediaType": "Video", "Enabled": True}, "StartLambdaArn": "X"},
        {**operation("bad-type"), "Type": "Sometimes"},
        {**operation("no-monitor"), "Type": "Async"},
        {**operation("no-media"), "Configuration": {"Enabled": True}},
        {**operation("enabled-str"), "Configuration": {"MediaType": "Video", "Enabled": "yes"}},
        operation("../escape"),
        operation("has/slash"),
        {**operation("no-start"), "StartLambdaArn": ""},
    ],
)
def test_invalid_operations_are_400(client: httpx.Client, body: dict[str, Any]) -> None:
    assert_error(client.post("/api/workflow/operation", json=body), 400)


def test_invalid_stages_and_workflows_are_400(client: httpx.Client) -> None:
    op = operation(unique("for-stage"))
    assert client.post("/api/workflow/operation", json=op).status_code == 200
    assert_error(client.post("/api/workflow/stage", json={"Name": unique("s"), "Operations": []}), 400)
    assert_error(client.post("/api/workflow/stage", json={"Name": unique("s")}), 400)
    assert_error(client.post("/api/workflow/stage", json={"Name": unique("s"), "Operations": [op["Name"]] * 2}), 400)
    stage = f"_{op['Name']}"
    for body in (
        {"Name": unique("w"), "Stages": {stage: {"End": True}}},
        {"Name": unique("w"), "StartAt": stage, "Stages": {stage: {}}},
        {"Name": unique("w"), "StartAt": stage, "Stages": {stage: {"Next": "nowhere"}}},
        {"Name": unique("w"), "StartAt": "elsewhere", "Stages": {stage: {"End": True}}},
        {"Name": unique("w"), "StartAt": stage, "Stages": {}},
    ):
        assert_error(client.post("/api/workflow", json=body), 400)
    assert_error(client.get("/api/workflow/execution/status/Sleeping"), 400, "Status")
    assert_error(client.get("/api/workflow/operation", params={"limit": 0}), 400)
    assert_error(client.get("/api/workflow/operation", params={"next": "%%%"}), 400)
    assert_error(client.delete(f"/api/workflow/operation/{op['Name']}", params={"force": "maybe"}), 400)


@pytest.mark.parametrize("key", ["../escape.mp4", "upload/../../escape.mp4", "/abs/path.mp4", "upload/./x/../y"])
@pytest.mark.parametrize("route", ["/api/dataplane/upload", "/api/dataplane/download"])
def test_object_keys_cannot_escape_their_bucket(client: httpx.Client, route: str, key: str) -> None:
    assert_error(client.post(route, json={"S3Bucket": "dataplane", "S3Key": key}), 400)


@pytest.mark.parametrize("bucket", ["..", "../other", "a/b", ""])
def test_bucket_names_are_checked(client: httpx.Client, bucket: str) -> None:
    assert_error(client.post("/api/dataplane/upload", json={"S3Bucket": bucket, "S3Key": "k"}), 400)


def test_create_asset_with_bad_key_or_missing_object_is_400(client: httpx.Client) -> None:
    before = assets(client)
    for key in ("../x.mp4", "/x.mp4"):
        r = client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": key}})
        assert_error(r, 400)
    r = client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": "upload/none.mp4"}})
    assert_error(r, 400, "dataplane", "upload/none.mp4")
    assert_error(client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane"}}), 400, "S3Key")
    assert_error(client.post("/api/dataplane/create", json={}), 400, "Input")
    upload(client, "upload/plain.txt", b"just some words")
    r = client.post(
        "/api/dataplane/create",
        json={"Input": {"S3Bucket": "dataplane", "S3Key": "upload/plain.txt", "MediaType": "Hologram"}},
    )
    assert_error(r, 400, "MediaType")
    assert assets(client) == before


def test_metadata_requests_are_checked(client: httpx.Client) -> None:
    upload(client, "upload/meta.mp4")
    asset = client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": "upload/meta.mp4"}})
    asset_id = asset.json()["AssetId"]
    url = f"/api/dataplane/metadata/{asset_id}"
    assert_error(client.post(url, json={**META}), 400, "OperatorName")
    assert_error(client.post(url, json={**META, "OperatorName": "op", "Results": [1]}), 400, "dict")
    assert_error(client.post(url, json={**META, "OperatorName": "../op"}), 400)
    assert_error(client.post(url, json={**META, "OperatorName": "op", "WorkflowId": "../w"}), 400)
    assert_error(client.post(url, params={"other": "1"}, json={**META, "OperatorName": "op"}), 400, "paginated")
    assert_error(client.post(url, params={"paginated": "maybe"}, json={**META, "OperatorName": "op"}), 400)
    assert_error(
        client.post(url, params={"paginated": "false", "end": "true"}, json={**META, "OperatorName": "op"}), 400
    )
    assert_error(client.get(url, params={"cursor": "not-a-cursor"}), 400, "cursor")
    assert_error(client.get(f"{url}/op", params={"cursor": "e30"}), 400)
    assert_error(client.post(f"/api/dataplane/checkout/{asset_id}", json={}), 400, "LockedBy")
    assert_error(client.get("/api/dataplane/changes", params={"after": -1}), 400)


# Executions -------------------------------------------------------------------------------------------------------


def test_execution_on_a_missing_object_names_bucket_and_key(client: httpx.Client, workflow: str) -> None:
    before = assets(client)
    body = {"Name": workflow, "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/missing.mp4"}}}}
    assert_error(client.post("/api/workflow/execution", json=body), 400, "dataplane", "upload/missing.mp4")
    body["Input"]["Media"]["Video"]["S3Key"] = "../../etc/passwd"
    assert_error(client.post("/api/workflow/execution", json=body), 400)
    assert assets(client) == before


@pytest.mark.parametrize(
    "inp",
    [
        None,
        {},
        {"Media": {}},
        {"Media": {"Video": "upload/x.mp4"}},
        {"Media": {"Video": {"S3Bucket": "dataplane"}}},
        {"AssetId": ""},
        {"AssetId": 7},
    ],
)
def test_malformed_execution_input_is_400(client: httpx.Client, workflow: str, inp: Any) -> None:
    body: dict[str, Any] = {"Name": workflow}
    if inp is not None:
        body["Input"] = inp
    assert_error(client.post("/api/workflow/execution", json=body), 400)
    assert_error(client.post("/api/workflow/execution", json={"Input": {"AssetId": "a"}}), 400, "Name")


def test_configuration_naming_an_unknown_stage_is_400_and_creates_nothing(client: httpx.Client, workflow: str) -> None:
    key = f"upload/{unique('cfg')}.mp4"
    upload(client, key)
    before = assets(client)
    executions_before = len(client.get("/api/workflow/execution").json())
    stage = f"{workflow}-stage0"
    (op,) = client.get(f"/api/workflow/stage/{stage}").json()["Operations"]
    media = {"Video": {"S3Bucket": "dataplane", "S3Key": key}}
    for configuration, needle in (
        ({"NoSuchStage": {op: {"Enabled": False}}}, "NoSuchStage"),
        ({stage: {"NoSuchOp": {"Enabled": False}}}, "NoSuchOp"),
        ({stage: {op: "off"}}, op),
        ("everything", "Configuration"),
    ):
        body = {"Name": workflow, "Input": {"Media": media}, "Configuration": configuration}
        r = client.post("/api/workflow/execution", json=body)
        assert_error(r, 400, needle)
    assert assets(client) == before
    assert len(client.get("/api/workflow/execution").json()) == executions_before
    # The upload was not consumed: the same request with a valid override works.
    r = client.post(
        "/api/workflow/execution",
        json={"Name": workflow, "Input": {"Media": media}, "Configuration": {stage: {op: {"SleepSeconds": 0}}}},
    )
    assert r.status_code == 200, r.text
    assert wait_for(client, r.json()["Id"], {"Complete", "Error"})["Status"] == "Complete"


def test_rerun_on_an_asset_with_an_active_execution_is_409(client: httpx.Client, workflow: str) -> None:
    first = start(client, workflow, f"upload/{unique('rerun')}.mp4")
    rerun = {"Name": workflow, "Input": {"AssetId": first["AssetId"]}}
    assert_error(client.post("/api/workflow/execution", json=rerun), 409, first["Id"], first["AssetId"])
    assert wait_for(client, first["Id"], {"Complete", "Error"})["Status"] == "Complete"
    # Once it has ended the asset can be processed again, with the asset's own media.
    r = client.post("/api/workflow/execution", json=rerun)
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["AssetId"] == first["AssetId"]
    assert second["Globals"]["Media"]["Video"]["S3Key"].startswith(f"private/assets/{first['AssetId']}/input/")
    assert_error(client.post("/api/workflow/execution", json=rerun), 409)
    assert wait_for(client, second["Id"], {"Complete", "Error"})["Status"] == "Complete"
    assert_error(
        client.post("/api/workflow/execution", json={"Name": workflow, "Input": {"AssetId": unique("no")}}), 404
    )


def test_service_routes_answer_501(client: httpx.Client) -> None:
    r = client.post("/api/service/transcribe/update_vocabulary", json={})
    assert_error(r, 501, "not available")


def test_method_not_allowed_is_405(client: httpx.Client) -> None:
    assert_error(client.patch("/api/workflow", json={}), 405)
