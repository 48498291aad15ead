"""Every input gets a clear 4xx, never a 500: bodies the JSON parser half-accepts, out-of-range integers and tokens,
crafted cursors, keys and names the store or the signer cannot hold, and methods a served route does not have."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mie.api import errors as api_errors
from mie.bootstrap import Services
from mie.dataplane.service import encode_cursor
from mie.dataplane.signing import UrlSigner
from mie.errors import describe
from tests.helpers import MP4_BYTES, upload

JSON = {"content-type": "application/json"}

#: Routes that take a JSON body, with a body that is valid apart from the part each test spoils.
BODY_ROUTES: list[tuple[str, str]] = [
    ("POST", "/api/dataplane/upload"),
    ("POST", "/api/dataplane/download"),
    ("POST", "/api/dataplane/create"),
    ("POST", "/api/dataplane/metadata/some-asset"),
    ("POST", "/api/workflow/stage"),
    ("POST", "/api/workflow/operation"),
    ("POST", "/api/workflow"),
    ("POST", "/api/workflow/execution"),
    ("POST", "/api/system/configuration"),
    ("PUT", "/api/workflow/stage"),
]


def bad_request(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    message: str = response.json()["Message"]
    assert message.startswith("BadRequestError: ")
    return message


def token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_deep_nesting_is_a_400(client: TestClient, method: str, path: str) -> None:
    for depth in (150, 100_000):  # deeper than our limit, and deep enough for the parser's RecursionError
        raw = '{"S3Bucket": "dataplane", "S3Key": ' + "[" * depth + "]" * depth + "}"
        assert "nested" in bad_request(client.request(method, path, content=raw, headers=JSON))


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_huge_integers_nan_and_infinity_are_400(client: TestClient, method: str, path: str) -> None:
    for literal in ("1" * 5000, "-" + "9" * 200, "NaN", "Infinity", "1e999"):
        raw = '{"Name": "x", "Value": ' + literal + ', "S3Bucket": "dataplane", "S3Key": "k"}'
        bad_request(client.request(method, path, content=raw, headers=JSON))


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_lone_surrogates_anywhere_in_a_body_are_400(client: TestClient, method: str, path: str) -> None:
    for raw in (
        '{"S3Bucket": "dataplane", "S3Key": "upload/a\\ud800.mp4"}',
        '{"Name": "x\\udfff", "Operations": ["a"], "Input": {"S3Bucket": "dataplane", "S3Key": "k"}}',
        '{"Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "\\ud800"}}}, "Name": "w"}',
        '{"Results": {"\\ud83d": 1}, "OperatorName": "op", "WorkflowId": "w"}',
    ):
        assert "surrogate" in bad_request(client.request(method, path, content=raw, headers=JSON))


def test_a_valid_surrogate_pair_is_fine(client: TestClient) -> None:
    """``\\ud83d\\ude00`` is one character (😀), not a lone surrogate."""
    raw = '{"S3Bucket": "dataplane", "S3Key": "upload/\\ud83d\\ude00.mp4"}'
    response = client.post("/api/dataplane/upload", content=raw, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["fields"]["key"] == "upload/😀.mp4"


def test_change_feed_position_out_of_range_is_400(client: TestClient) -> None:
    bad_request(client.get("/api/dataplane/changes", params={"after": "99999999999999999999"}))
    assert client.get("/api/dataplane/changes", params={"after": str(2**63 - 1)}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/workflow/execution",
        "/api/workflow/execution/status/Complete",
        "/api/notifications",
        "/api/search",
    ],
)
def test_page_tokens_that_are_huge_or_not_ascii_digits_are_400(client: TestClient, path: str) -> None:
    for text in ("9" * 30, "99999999999999999999", "²", "١٢", "-1", " 5", ""):
        response = client.get(path, params={"q": "x", "limit": 5, "next": token(text) or "="})
        assert response.status_code == 400, (text, response.text)
    assert client.get(path, params={"q": "x", "limit": 5, "next": token("3")}).status_code == 200


def _asset_with_results(client: TestClient) -> tuple[str, str]:
    upload(client, "upload/cursor.mp4")
    asset = client.post(
        "/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": "upload/cursor.mp4"}}
    )
    asset_id: str = asset.json()["AssetId"]
    stored = client.post(
        f"/api/dataplane/metadata/{asset_id}",
        json={"OperatorName": "labelDetection", "WorkflowId": "w1", "Results": {"Labels": []}},
    )
    assert stored.status_code == 200, stored.text
    return asset_id, asset.json()["S3Key"]


def test_crafted_metadata_cursors_are_400(client: TestClient) -> None:
    asset_id, media_key = _asset_with_results(client)
    first = client.get(f"/api/dataplane/metadata/{asset_id}").json()
    assert client.get(f"/api/dataplane/metadata/{asset_id}", params={"cursor": first["cursor"]}).status_code == 200
    pointer = f"private/assets/{asset_id}/workflows/w1/labelDetection.json"
    crafted: list[dict[str, Any]] = [
        {"next": {"labelDetection": pointer, "page": "x"}},
        {"next": {"labelDetection": pointer, "page": [1]}},
        {"next": {"labelDetection": pointer, "page": True}},
        {"next": {"labelDetection": pointer, "page": -1}},
        {"next": {"labelDetection": pointer, "page": 10**30}},
        {"next": {"labelDetection": 7, "page": 0}},
        # Another object of the asset, even its input media, is not a result.
        {"next": {"labelDetection": media_key, "page": 0}},
        {"next": {"Other": pointer, "page": 0}},
        {"next": {"labelDetection": pointer.replace("w1", "w2"), "page": 0}},
        {"next": {"labelDetection": pointer}, "remaining": [{"x": media_key}]},
    ]
    for state in crafted:
        cursor = encode_cursor(state)
        whole = client.get(f"/api/dataplane/metadata/{asset_id}", params={"cursor": cursor})
        if state.get("remaining"):  # the first page is legitimate; the crafted one comes next
            assert whole.status_code == 200, whole.text
            whole = client.get(f"/api/dataplane/metadata/{asset_id}", params={"cursor": whole.json()["cursor"]})
        assert whole.status_code == 400, (state, whole.text)
        if "remaining" not in state:
            one = client.get(f"/api/dataplane/metadata/{asset_id}/labelDetection", params={"cursor": cursor})
            bad_request(one)


def test_key_segments_longer_than_a_file_name_are_refused_at_upload(client: TestClient) -> None:
    long_name = "é" * 200 + ".mp4"  # 404 bytes of UTF-8: fits S3's 1024, not a file name
    message = bad_request(client.post("/api/dataplane/upload", json={"S3Bucket": "dataplane", "S3Key": long_name}))
    assert "255 bytes" in message
    bad_request(client.post("/api/dataplane/upload", json={"S3Bucket": "b" * 300, "S3Key": "k"}))
    assert client.post("/api/dataplane/upload", json={"S3Bucket": "dataplane", "S3Key": "é" * 127}).status_code == 200


@pytest.mark.parametrize(("first", "second"), [("upload/a", "upload/a/b"), ("upload/a/b", "upload/a")])
def test_a_key_and_a_key_below_it_conflict_clearly(client: TestClient, first: str, second: str) -> None:
    upload(client, first)
    form = client.post("/api/dataplane/upload", json={"S3Bucket": "dataplane", "S3Key": second}).json()
    response = client.post("/api/dataplane/objects/upload", data=form["fields"], files={"file": ("f", MP4_BYTES)})
    assert response.status_code == 409, response.text
    assert "folder" in response.json()["Message"]
    # The first object is untouched and still served.
    url = client.post("/api/dataplane/download", json={"S3Bucket": "dataplane", "S3Key": first}).json()
    assert client.get(httpx.URL(url).raw_path.decode()).content == MP4_BYTES


@pytest.mark.parametrize("suffix", ["\n", "\r\n", "\x00", " \n"])
def test_names_ending_in_a_newline_are_refused(client: TestClient, suffix: str) -> None:
    name = "Legit" + suffix
    op = {"Name": name, "Type": "Sync", "Configuration": {"MediaType": "Video", "Enabled": True},
          "StartLambdaArn": "VideoSyncOKLambda"}  # fmt: skip
    bad_request(client.post("/api/workflow/operation", json=op))
    bad_request(client.post("/api/workflow/stage", json={"Name": name, "Operations": ["x"]}))
    bad_request(client.post("/api/workflow", json={"Name": name, "StartAt": "s", "Stages": {"s": {"End": True}}}))
    bad_request(client.post("/api/dataplane/metadata/a", json={"OperatorName": name, "WorkflowId": "w", "Results": {}}))


@pytest.mark.parametrize(
    ("bucket", "key"),
    [("alpha\nb", "c"), ("alpha", "b\nc"), ("dataplane", "a\tb"), ("dataplane", "a\x7fb"), ("dataplane", "a\rb")],
)
def test_control_characters_in_buckets_and_keys_are_refused(client: TestClient, bucket: str, key: str) -> None:
    assert "control characters" in bad_request(
        client.post("/api/dataplane/upload", json={"S3Bucket": bucket, "S3Key": key})
    )
    bad_request(client.post("/api/dataplane/download", json={"S3Bucket": bucket, "S3Key": key}))
    bad_request(client.post("/api/dataplane/create", json={"Input": {"S3Bucket": bucket, "S3Key": key}}))


def test_signatures_cannot_move_a_field_boundary(client: TestClient) -> None:
    signer = UrlSigner(b"s" * 32)
    assert signer.sign("POST", "alpha", "b\nc", 1) != signer.sign("POST", "alpha\nb", "c", 1)
    assert signer.sign("POST", "a", "b", 1, "5") != signer.sign("POST", "a", "b\n5", 1)
    # A form signed for one bucket and key, POSTed with the boundary moved, is not accepted.
    form = client.post("/api/dataplane/upload", json={"S3Bucket": "alpha", "S3Key": "bc"}).json()
    fields = dict(form["fields"], bucket="alpha\nb", key="c")
    response = client.post("/api/dataplane/objects/upload", data=fields, files={"file": ("f", b"x")})
    assert response.status_code in (400, 403), response.text


def test_a_put_on_a_served_service_route_is_405(client: TestClient) -> None:
    response = client.put("/api/service/transcribe/create_vocabulary", json={})
    assert response.status_code == 405, response.text
    assert response.json()["Code"] == "MethodNotAllowedError"
    assert "POST" in response.headers["allow"]
    # A route MIE has and this engine does not serve stays 501.
    assert client.post("/api/service/transcribe/update_vocabulary", json={}).status_code == 501


def test_describe_never_gives_an_empty_reason() -> None:
    assert describe(ValueError("bad")) == "bad"
    assert describe(IndexError()) == "IndexError"
    assert describe(RuntimeError("  ")) == "RuntimeError"


def test_error_messages_quoting_surrogates_still_encode(client: TestClient) -> None:
    raw = json.dumps({"Name": "x", "Value": "\ud800"})
    assert "surrogate" in bad_request(client.post("/api/system/configuration", content=raw, headers=JSON))
    # Should a message ever quote one, the error body still encodes (a 4xx stays a 4xx, never a 500).
    response = api_errors.error_response(400, "BadRequestError", "bad name 'a\ud800'")
    assert json.loads(response.body)["Message"] == "BadRequestError: bad name 'a\\ud800'"


def test_checkin_without_a_checkout_is_409(client: TestClient) -> None:
    asset_id, _ = _asset_with_results(client)
    response = client.post(f"/api/dataplane/checkin/{asset_id}")
    assert response.status_code == 409, response.text
    assert "not checked out" in response.json()["Message"]
    assert client.post(f"/api/dataplane/checkout/{asset_id}", json={"LockedBy": "alice"}).status_code == 200
    assert client.post(f"/api/dataplane/checkin/{asset_id}").json() == f"Unlocked asset {asset_id}"
    assert client.post(f"/api/dataplane/checkin/{asset_id}").status_code == 409


def test_the_data_directory_and_database_are_owner_only(services: Services, client: TestClient) -> None:
    import stat

    assert client.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": 3}).status_code
    data_dir = services.settings.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    databases = list(data_dir.glob("*.db"))
    assert databases
    for database in databases:
        for item in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
            if item.exists():
                assert stat.S_IMODE(item.stat().st_mode) & 0o077 == 0, item
