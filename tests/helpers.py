"""Helpers shared by the API-level tests: they work with any httpx.Client (in-process TestClient or a real server)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

API_KEY = "test-key-0123456789abcdef"
# A minimal MP4 header: enough for content sniffing to say "Video".
MP4_BYTES = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


def upload(client: httpx.Client, key: str, data: bytes = MP4_BYTES, bucket: str = "dataplane") -> None:
    """Upload an object the way an MIE client does: ask /upload for a form, then POST it."""
    form = client.post("/api/dataplane/upload", json={"S3Bucket": bucket, "S3Key": key})
    assert form.status_code == 200, form.text
    spec = form.json()
    url = httpx.URL(spec["url"])
    response = client.post(url.raw_path.decode(), data=spec["fields"], files={"file": ("f", data)})
    assert response.status_code == 204, response.text


def operation(
    name: str,
    kind: str = "Sync",
    media: str = "Video",
    start: str | None = None,
    monitor: str | None = None,
    **config: Any,
) -> dict[str, Any]:
    """An operation definition using MIE's test operators."""
    body: dict[str, Any] = {
        "Name": name,
        "Type": kind,
        "Configuration": {"MediaType": media, "Enabled": True, **config},
        "StartLambdaArn": start or f"{media}{kind}OKLambda",
    }
    if kind == "Async":
        body["MonitorLambdaArn"] = monitor or f"{media}AsyncOKMonitorLambda"
    return body


def make_workflow(client: httpx.Client, name: str, stages: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Create operations, one stage per list and a workflow running them in order; returns the workflow."""
    stage_names = []
    for index, ops in enumerate(stages):
        for op in ops:
            r = client.post("/api/workflow/operation", json=op)
            assert r.status_code in (200, 409), r.text
        stage_name = f"{name}-stage{index}"
        r = client.post("/api/workflow/stage", json={"Name": stage_name, "Operations": [o["Name"] for o in ops]})
        assert r.status_code == 200, r.text
        stage_names.append(stage_name)
    links: dict[str, Any] = {
        s: ({"Next": stage_names[i + 1]} if i + 1 < len(stage_names) else {"End": True})
        for i, s in enumerate(stage_names)
    }
    r = client.post("/api/workflow", json={"Name": name, "StartAt": stage_names[0], "Stages": links})
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def start(client: httpx.Client, workflow: str, key: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Upload media and start a workflow on it; returns the execution record."""
    upload(client, key)
    body: dict[str, Any] = {"Name": workflow, "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": key}}}}
    if configuration is not None:
        body["Configuration"] = configuration
    r = client.post("/api/workflow/execution", json=body)
    assert r.status_code == 200, r.text
    record: dict[str, Any] = r.json()
    return record


def wait_for(client: httpx.Client, execution_id: str, statuses: set[str], timeout: float = 20.0) -> dict[str, Any]:
    """Poll an execution until its Status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    record: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = client.get(f"/api/workflow/execution/{execution_id}")
        assert r.status_code == 200, r.text
        record = r.json()
        if record["Status"] in statuses:
            return record
        time.sleep(0.05)
    raise AssertionError(f"execution {execution_id} stayed {record.get('Status')} ({record.get('Message')})")


def unique(prefix: str) -> str:
    """A record name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def assert_error(response: httpx.Response, status: int, *needles: str) -> dict[str, Any]:
    """The response is ``status`` with MIE's error body ``{"Code", "Message"}`` mentioning every needle."""
    assert response.status_code == status, f"{response.status_code} != {status}: {response.text}"
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"Code", "Message"}, body
    assert isinstance(body["Code"], str), body
    assert isinstance(body["Message"], str), body
    assert body["Code"], body
    assert body["Message"], body
    for needle in needles:
        assert needle in body["Message"], f"{needle!r} not in {body['Message']!r}"
    return body


def changes(client: httpx.Client, after: int = 0, source: str | None = None) -> list[dict[str, Any]]:
    """Every change-feed event after ``after`` (following ``last`` page by page)."""
    events: list[dict[str, Any]] = []
    while True:
        r = client.get("/api/dataplane/changes", params={"after": after, "limit": 1000})
        assert r.status_code == 200, r.text
        body = r.json()
        events.extend(body["changes"])
        if not body["changes"]:
            break
        after = body["last"]
    return [e for e in events if source is None or e["source"] == source]


def last_seq(client: httpx.Client) -> int:
    """The newest change-feed sequence number."""
    events = changes(client)
    return int(events[-1]["seq"]) if events else 0
