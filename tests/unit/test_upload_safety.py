"""Signed uploads check their permission before reading the body and stream it with a hard cap; CORS is off
unless ``MIE_CORS_ORIGINS`` names origins."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services, build
from tests.conftest import fast_settings
from tests.helpers import API_KEY, MP4_BYTES

UPLOAD = "/api/dataplane/objects/upload"


def _form(client: TestClient, key: str = "upload/x.mp4") -> tuple[str, dict[str, str]]:
    spec = client.post("/api/dataplane/upload", json={"S3Bucket": "dataplane", "S3Key": key}).json()
    return httpx.URL(spec["url"]).raw_path.decode(), spec["fields"]


class Counting:
    """A request body fed straight to the ASGI app in chunks, counting how much of it the app asked for."""

    def __init__(self, head: bytes, size: int) -> None:
        self.head, self.size, self.sent = head, size, 0

    async def receive(self) -> dict[str, Any]:
        chunk = self.head if self.sent == 0 and self.head else b"x" * 65536
        self.sent += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": self.sent < self.size}


def post_streamed(services: Services, path: str, body: Counting, headers: dict[str, str]) -> int:
    """POST ``body`` to the app in-process without buffering it (TestClient reads a body whole first)."""
    target, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": target,
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    asyncio.run(services.app()(scope, body.receive, send))
    return status[0]


def _multipart_head(fields: dict[str, str], boundary: str = "b0undary") -> bytes:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n')
    return "".join(parts).encode()


def test_the_handed_out_url_carries_the_grant_and_uploads_work(client: TestClient) -> None:
    url, fields = _form(client)
    assert "signature=" in url
    # Posted to the URL (signature in the query) or to the bare path (signature in the fields): both work.
    assert client.post(url, data=fields, files={"file": ("f", MP4_BYTES)}).status_code == 204
    assert client.post(UPLOAD, data=fields, files={"file": ("f", MP4_BYTES)}).status_code == 204
    assert client.post(url, files={"file": ("f", MP4_BYTES)}).status_code == 204  # the query alone suffices


def test_an_unsigned_body_is_refused_before_it_is_read(services: Services) -> None:
    body = Counting(
        _multipart_head(
            {"bucket": "dataplane", "key": "k", "expires": "9999999999", "max-bytes": "5", "signature": "0" * 64}
        ),
        50 * 1024 * 1024,
    )
    status = post_streamed(services, UPLOAD, body, {"content-type": "multipart/form-data; boundary=b0undary"})
    assert status == 403
    assert body.sent < 1024 * 1024  # refused at the file part's headers, not after 50 MB


def test_a_bad_query_signature_is_refused_without_reading(services: Services, client: TestClient) -> None:
    url, _fields = _form(client)
    forged = url.replace("signature=", "signature=0")
    body = Counting(b"", 50 * 1024 * 1024)
    assert post_streamed(services, forged, body, {"content-type": "multipart/form-data; boundary=x"}) == 403
    assert body.sent == 0


def test_declared_and_streamed_sizes_are_capped(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path / "small", max_upload_bytes=1000)
    small = build(settings)
    small.start()
    try:
        with TestClient(small.app(), headers={"x-api-key": API_KEY}) as client:
            url, fields = _form(client)
            head = {"content-type": "multipart/form-data; boundary=b0undary", "content-length": str(10**9)}
            assert client.post(url, content=b"", headers=head).status_code == 413
            too_big = client.post(url, data=fields, files={"file": ("f", b"x" * 1001)})
            assert too_big.status_code == 413, too_big.text
            # Streamed without a Content-Length: cut off at the cap, not read to the end.
            body = Counting(_multipart_head(fields), 20 * 1024 * 1024)
            assert post_streamed(small, UPLOAD, body, {"content-type": head["content-type"]}) == 413
            assert body.sent < 1024 * 1024
            assert client.post(url, data=fields, files={"file": ("f", b"x" * 1000)}).status_code == 204
    finally:
        small.stop()


@pytest.mark.parametrize(
    "body",
    [b"", b"not multipart", b"--b0undary\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b0undary--\r\n"],
)
def test_malformed_forms_are_400(client: TestClient, body: bytes) -> None:
    url, _ = _form(client)
    response = client.post(url, content=body, headers={"content-type": "multipart/form-data; boundary=b0undary"})
    assert response.status_code == 400, response.text


def test_fields_that_contradict_the_signed_url_are_403(client: TestClient) -> None:
    url, fields = _form(client)
    response = client.post(url, data={**fields, "key": "other"}, files={"file": ("f", b"x")})
    assert response.status_code == 403, response.text


def _cors(client: TestClient, origin: str) -> dict[str, Any]:
    simple = client.get("/api/workflow", headers={"Origin": origin})
    preflight = client.options(
        "/api/workflow",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    return {
        "simple": simple.headers.get("access-control-allow-origin"),
        "preflight": preflight.headers.get("access-control-allow-origin"),
    }


def test_cors_is_off_by_default(client: TestClient) -> None:
    assert _cors(client, "https://evil.example") == {"simple": None, "preflight": None}


def test_cors_allows_only_the_configured_origins(tmp_path: Path) -> None:
    svc = build(fast_settings(tmp_path / "cors", cors_origins="https://ui.example, http://localhost:3000/"))
    svc.start()
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            assert _cors(client, "https://ui.example") == {
                "simple": "https://ui.example",
                "preflight": "https://ui.example",
            }
            assert _cors(client, "http://localhost:3000")["simple"] == "http://localhost:3000"
            assert _cors(client, "https://evil.example") == {"simple": None, "preflight": None}
    finally:
        svc.stop()


def test_a_truncated_form_is_not_stored(client: TestClient) -> None:
    url, fields = _form(client, "upload/truncated.mp4")
    body = _multipart_head(fields) + MP4_BYTES  # no closing boundary
    response = client.post(url, content=body, headers={"content-type": "multipart/form-data; boundary=b0undary"})
    assert response.status_code == 400, response.text
    assert "closing boundary" in response.json()["Message"]
    missing = client.post("/api/dataplane/download", json={"S3Bucket": "dataplane", "S3Key": "upload/truncated.mp4"})
    assert missing.status_code == 404
    whole = _multipart_head(fields) + MP4_BYTES + b"\r\n--b0undary--\r\n"
    ok = client.post(url, content=whole, headers={"content-type": "multipart/form-data; boundary=b0undary"})
    assert ok.status_code == 204, ok.text
