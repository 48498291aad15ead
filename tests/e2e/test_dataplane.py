"""The data-plane round trip of MIE's ``test/integ/dataplaneapi`` test, plus signed URLs, locks and the change feed."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from tests.e2e.conftest import MieServer
from tests.helpers import API_KEY, MP4_BYTES, assert_error, changes, last_seq, unique

pytestmark = pytest.mark.e2e

NON_PAGINATED = {"OperatorName": "samplenonpagresults", "WorkflowId": "test-123", "Results": {"Testing": "Hello"}}


def label_page(n: int) -> dict[str, Any]:
    """A Rekognition-like page of labels, as MIE's integ test stores."""
    return {"Labels": [{"Timestamp": n * 1000, "Label": {"Name": f"label-{n}", "Confidence": 90.5 + n}}]}


def form_upload(client: httpx.Client, key: str, data: bytes) -> None:
    """POST /upload for a form, then send the form to the URL it names, without the API key (as a browser does)."""
    form = client.post("/api/dataplane/upload", json={"S3Bucket": "dataplane", "S3Key": key})
    assert form.status_code == 200, form.text
    spec = form.json()
    assert set(spec) == {"url", "fields"}
    assert spec["url"].startswith(str(client.base_url).rstrip("/") + "/")
    r = httpx.post(spec["url"], data=spec["fields"], files={"file": ("media.mp4", data, "video/mp4")})
    assert r.status_code == 204, r.text
    # A form whose signature was tampered with is refused.
    fields = dict(spec["fields"], key=key + ".evil")
    assert_error(httpx.post(spec["url"], data=fields, files={"file": ("f", b"x")}), 403)


def result_key(asset_id: str, operator: str) -> str:
    return f"private/assets/{asset_id}/workflows/test-123/{operator}.json"


def files_under(server: MieServer, asset_id: str) -> list[Path]:
    root = server.data_dir / "objects" / "dataplane" / "private" / "assets" / asset_id
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def tamper(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_dataplane_round_trip(server: MieServer, client: httpx.Client) -> None:
    after = last_seq(client)
    key = f"upload/{unique('sample')}.mp4"
    form_upload(client, key, MP4_BYTES)

    # /create infers the MediaType from the content and moves the object under the asset's prefix.
    uploaded = server.data_dir / "objects" / "dataplane" / key
    assert uploaded.read_bytes() == MP4_BYTES
    r = client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": key}})
    assert r.status_code == 200, r.text
    assert not uploaded.exists()
    asset = r.json()
    asset_id = asset["AssetId"]
    assert asset == {
        "AssetId": asset_id,
        "MediaType": "Video",
        "S3Bucket": "dataplane",
        "S3Key": f"private/assets/{asset_id}/input/{key}",
    }
    assert asset_id in client.get("/api/dataplane/metadata").json()["assets"]
    path = client.get(f"/api/dataplane/mediapath/{asset_id}/wf-1").json()
    assert path == {"S3Bucket": "dataplane", "S3Key": f"private/assets/{asset_id}/workflows/wf-1/"}

    # Metadata: one non-paginated result, then two pages and a final page of another operator.
    r = client.post(f"/api/dataplane/metadata/{asset_id}", json=NON_PAGINATED)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "Status": "Success",
        "Bucket": "dataplane",
        "Key": f"private/assets/{asset_id}/workflows/test-123/samplenonpagresults.json",
    }
    for n in range(3):
        params = {"paginated": "true", **({"end": "true"} if n == 2 else {})}
        body = {"OperatorName": "samplepagresults", "WorkflowId": "test-123", "Results": label_page(n)}
        r = client.post(f"/api/dataplane/metadata/{asset_id}", params=params, json=body)
        assert r.status_code == 200, r.text
        if n < 2:
            assert r.json() == {"Status": "Success"}
        else:
            assert r.json()["Key"] == f"private/assets/{asset_id}/workflows/test-123/samplepagresults.json"

    # Follow the cursor: the asset first, then every operator and page exactly once, in order.
    first = client.get(f"/api/dataplane/metadata/{asset_id}").json()
    assert first["asset_id"] == asset_id
    assert {k: first["results"][k] for k in ("S3Bucket", "S3Key", "MediaType")} == {
        "S3Bucket": "dataplane",
        "S3Key": asset["S3Key"],
        "MediaType": "Video",
    }
    seen: list[tuple[str, Any]] = []
    cursor = first.get("cursor")
    while cursor:
        r = client.get(f"/api/dataplane/metadata/{asset_id}", params={"cursor": cursor})
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["asset_id"] == asset_id
        seen.append((page["operator"], page["results"]))
        cursor = page.get("cursor")
        assert len(seen) <= 10, "the cursor does not end"
    assert seen == [
        ("samplenonpagresults", {"Testing": "Hello"}),
        ("samplepagresults", label_page(0)),
        ("samplepagresults", label_page(1)),
        ("samplepagresults", label_page(2)),
    ]

    # One operator's results.
    one = client.get(f"/api/dataplane/metadata/{asset_id}/samplenonpagresults").json()
    assert one == {"asset_id": asset_id, "operator": "samplenonpagresults", "results": {"Testing": "Hello"}}
    paged = client.get(f"/api/dataplane/metadata/{asset_id}/samplepagresults").json()
    assert paged["results"] == label_page(0)
    nxt = client.get(f"/api/dataplane/metadata/{asset_id}/samplepagresults", params={"cursor": paged["cursor"]})
    assert nxt.json()["results"] == label_page(1)

    # Download: a signed URL that serves the bytes, with ranges; tampering is refused.
    r = client.post("/api/dataplane/download", json={"S3Bucket": "dataplane", "S3Key": asset["S3Key"]})
    assert r.status_code == 200, r.text
    url = r.json()
    assert isinstance(url, str)
    with httpx.Client() as anonymous:
        whole = anonymous.get(url)
        assert whole.status_code == 200, whole.text
        assert whole.content == MP4_BYTES
        ranged = anonymous.get(url, headers={"Range": "bytes=0-9"})
        assert ranged.status_code == 206
        assert ranged.content == MP4_BYTES[:10]
        assert ranged.headers["Content-Range"] == f"bytes 0-9/{len(MP4_BYTES)}"
        tail = anonymous.get(url, headers={"Range": "bytes=-4"})
        assert tail.status_code == 206
        assert tail.content == MP4_BYTES[-4:]
        assert anonymous.head(url).headers["Content-Length"] == str(len(MP4_BYTES))
        assert_error(anonymous.get(url, headers={"Range": f"bytes={len(MP4_BYTES)}-"}), 416)
        signature = dict(parse_qsl(urlsplit(url).query))["signature"]
        forged = ("0" if signature[0] != "0" else "1") + signature[1:]
        assert_error(anonymous.get(tamper(url, signature=forged)), 403)
        assert_error(anonymous.get(tamper(url, expires="9999999999")), 403)
        other_key = url.replace("/input/", "/inputs/")
        assert_error(anonymous.get(other_key), 403)

    # Locks.
    r = client.post(f"/api/dataplane/checkout/{asset_id}", json={"LockedBy": "alice"})
    assert r.status_code == 200, r.text
    lock = r.json()
    assert lock["AssetId"] == asset_id
    assert lock["LockedBy"] == "alice"
    assert isinstance(lock["LockedAt"], int)
    assert_error(client.post(f"/api/dataplane/checkout/{asset_id}", json={"LockedBy": "bob"}), 409, "alice")
    assert {"AssetId": asset_id, "LockedBy": "alice", "LockedAt": lock["LockedAt"]} in client.get(
        "/api/dataplane/checkouts"
    ).json()["locks"]
    assert client.post(f"/api/dataplane/checkin/{asset_id}").status_code == 200
    assert asset_id not in [x["AssetId"] for x in client.get("/api/dataplane/checkouts").json()["locks"]]

    # Delete one operator's results, then the whole asset and its objects.
    r = client.delete(f"/api/dataplane/metadata/{asset_id}/samplenonpagresults")
    assert r.status_code == 200, r.text
    assert r.json() == {"Deleted": [{"Key": result_key(asset_id, "samplenonpagresults")}]}
    assert_error(client.get(f"/api/dataplane/metadata/{asset_id}/samplenonpagresults"), 404)
    assert_error(client.delete(f"/api/dataplane/metadata/{asset_id}/samplenonpagresults"), 404)
    remaining = client.get(f"/api/dataplane/metadata/{asset_id}").json()
    state = client.get(f"/api/dataplane/metadata/{asset_id}", params={"cursor": remaining["cursor"]}).json()
    assert state["operator"] == "samplepagresults"

    on_disk = files_under(server, asset_id)
    assert {p.name for p in on_disk} >= {Path(key).name, "samplepagresults.json"}
    r = client.delete(f"/api/dataplane/metadata/{asset_id}")
    assert r.status_code == 200, r.text
    assert isinstance(r.json(), str)
    assert_error(client.get(f"/api/dataplane/metadata/{asset_id}"), 404)
    assert_error(client.get(f"/api/dataplane/metadata/{asset_id}/samplepagresults"), 404)
    assert_error(client.delete(f"/api/dataplane/metadata/{asset_id}"), 404)
    assert files_under(server, asset_id) == []
    assert all(not p.exists() for p in on_disk)
    assert asset_id not in client.get("/api/dataplane/metadata").json()["assets"]
    with httpx.Client() as anonymous:
        assert_error(anonymous.get(url), 404)

    # The change feed told the story in order: INSERT, MODIFY per stored result, REMOVE of one operator, REMOVE.
    actions = [
        (e["payload"]["Action"], e["payload"].get("Operator"))
        for e in changes(client, after, source="Dataplane")
        if e["AssetId"] == asset_id
    ]
    assert actions == [
        ("INSERT", None),
        ("MODIFY", "samplenonpagresults"),
        ("MODIFY", "samplepagresults"),
        ("REMOVE", "samplenonpagresults"),
        ("REMOVE", None),
    ]


def test_concurrent_page_writes_lose_no_page(client: httpx.Client) -> None:
    key = f"upload/{unique('pages')}.mp4"
    form_upload(client, key, MP4_BYTES)
    asset_id = client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": key}}).json()[
        "AssetId"
    ]
    pages = 24
    errors: list[str] = []

    def write(numbers: range) -> None:
        with httpx.Client(base_url=client.base_url, headers={"x-api-key": API_KEY}, timeout=15) as own:
            for n in numbers:
                body = {"OperatorName": "labels", "WorkflowId": "wf-pages", "Results": label_page(n)}
                r = own.post(f"/api/dataplane/metadata/{asset_id}", params={"paginated": "true"}, json=body)
                if r.status_code != 200:
                    errors.append(r.text)

    threads = [threading.Thread(target=write, args=(range(i, pages, 4),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    end = {"OperatorName": "labels", "WorkflowId": "wf-pages", "Results": label_page(pages)}
    r = client.post(f"/api/dataplane/metadata/{asset_id}", params={"paginated": "true", "end": "true"}, json=end)
    assert r.status_code == 200, r.text
    got: list[Any] = []
    response = client.get(f"/api/dataplane/metadata/{asset_id}/labels").json()
    while True:
        got.append(response["results"])
        if "cursor" not in response:
            break
        response = client.get(
            f"/api/dataplane/metadata/{asset_id}/labels", params={"cursor": response["cursor"]}
        ).json()
    assert sorted(got, key=lambda p: p["Labels"][0]["Timestamp"]) == [label_page(n) for n in range(pages + 1)]
    assert got[-1] == label_page(pages)


def test_change_feed_long_poll_wakes_on_a_change(client: httpx.Client) -> None:
    after = last_seq(client)
    result: dict[str, Any] = {}

    def follow() -> None:
        with httpx.Client(base_url=client.base_url, headers={"x-api-key": API_KEY}, timeout=15) as own:
            began = time.monotonic()
            result["response"] = own.get("/api/dataplane/changes", params={"after": after, "wait": 10})
            result["took"] = time.monotonic() - began

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.3)
    key = f"upload/{unique('feed')}.mp4"
    form_upload(client, key, MP4_BYTES)
    asset_id = client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": key}}).json()[
        "AssetId"
    ]
    follower.join(15)
    assert result["took"] < 5, "the long poll did not wake on the change"
    body = result["response"].json()
    assert body["changes"][0]["seq"] == after + 1
    assert body["last"] == body["changes"][-1]["seq"]
    event = next(e for e in body["changes"] if e["AssetId"] == asset_id)
    assert event["source"] == "Dataplane"
    assert event["payload"]["Action"] == "INSERT"
    assert event["payload"]["S3Key"] == f"private/assets/{asset_id}/input/{key}"
    # Nothing new: an immediate answer with no events and the same position.
    assert client.get("/api/dataplane/changes", params={"after": body["last"] + 1000}).json() == {
        "changes": [],
        "last": body["last"] + 1000,
    }
