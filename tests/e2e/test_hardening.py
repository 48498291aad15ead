"""Bad input against a real ``mie serve``: each is a 4xx and the server logs no server error."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import MieServer, problems

pytestmark = pytest.mark.e2e

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/workflow/stage", '{"Name": ' + "[" * 50_000 + "]" * 50_000 + "}"),
        ("POST", "/api/system/configuration", '{"Name": "MaxConcurrentWorkflows", "Value": ' + "7" * 5000 + "}"),
        ("POST", "/api/dataplane/upload", '{"S3Bucket": "dataplane", "S3Key": "upload/\\ud800.mp4"}'),
        ("POST", "/api/dataplane/upload", '{"S3Bucket": "dataplane", "S3Key": "' + "\\u00e9" * 200 + '"}'),
        ("POST", "/api/dataplane/upload", '{"S3Bucket": "alpha\\nb", "S3Key": "c"}'),
        ("POST", "/api/workflow/operation", '{"Name": "op\\n", "Type": "Sync"}'),
        ("GET", "/api/dataplane/changes?after=99999999999999999999", None),
        ("GET", "/api/workflow/execution?limit=1&next=wrI", None),  # base64 of "²"
        ("GET", "/api/workflow/%ED%A0%80", None),  # a UTF-8-encoded surrogate in the path
        ("GET", "/api/dataplane/metadata/%FF%FE", None),  # not UTF-8 at all
    ],
)
def test_bad_input_is_a_4xx(server: MieServer, method: str, path: str, body: str | None) -> None:
    response = server.client.request(method, path, content=body, headers=JSON if body else None)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
    assert set(response.json()) == {"Code", "Message"}
    assert not problems(server.log())


def test_unsigned_uploads_are_refused_before_the_body(server: MieServer) -> None:
    body = b"--b\r\n" + b'Content-Disposition: form-data; name="file"; filename="f"\r\n\r\n' + b"x" * (8 * 1024 * 1024)
    response = httpx.post(
        f"{server.base_url}/api/dataplane/objects/upload",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=b"},
        timeout=30,
    )
    assert response.status_code == 403, response.text
    assert not problems(server.log())
