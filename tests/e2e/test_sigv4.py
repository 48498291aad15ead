"""SigV4 against a real ``mie serve``: botocore-signed and sample-signed requests over HTTP, the 401 brake, and the
refusal of a short API key at start-up."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import subprocess
from pathlib import Path

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.e2e.conftest import FAST_ENV, MieServer
from tests.helpers import assert_error, operation, unique

KEY_ID = "AKIAMIEE2EEXAMPLE001"
SECRET = "Yq2d8c+5kE2bX/7b0Jv0sLwzqgE2ETOEEXAMPLE"
REGION = "eu-central-1"


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {
        **FAST_ENV,
        "MIE_SIGV4_ACCESS_KEY_ID": KEY_ID,
        "MIE_SIGV4_SECRET_ACCESS_KEY": SECRET,
        "MIE_SIGV4_REGION": REGION,
        "MIE_AUTH_FAILURE_BURST": "5",
    }


def boto_request(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Request:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(KEY_ID, SECRET), "execute-api", REGION).add_auth(request)
    prepared = request.prepare()
    return httpx.Request(method, prepared.url, headers=dict(prepared.headers.items()), content=body)


def test_botocore_signed_requests_over_http(server: MieServer) -> None:
    with httpx.Client(timeout=15) as anonymous:
        # MIE clients join endpoint and path with a doubled slash; uvicorn passes the raw path on.
        response = anonymous.send(boto_request("GET", f"{server.base_url}/api//workflow?limit=3&a=b%20c"))
        assert response.status_code == 200, response.text
        name = unique("E2eSigned")
        body = json.dumps(operation(name)).encode()
        request = boto_request(
            "POST", f"{server.base_url}/api/workflow/operation", body, {"Content-Type": "application/json"}
        )
        response = anonymous.send(request)
        assert response.status_code == 200, response.text
        assert response.json()["Name"] == name
        replayed = anonymous.send(request)
        assert_error(replayed, 401, "already used")


def test_sample_signed_request_with_the_port_in_host(server: MieServer) -> None:
    # As MIE's sigv4_get_sample.py: the host signed is the Host header the client sends (here with the port).
    host = f"127.0.0.1:{server.port}"
    t = datetime.datetime.now(datetime.UTC)
    amz_date, date_stamp = t.strftime("%Y%m%dT%H%M%SZ"), t.strftime("%Y%m%d")
    canonical_headers = "host:" + host + "\n" + "x-amz-date:" + amz_date + "\n"
    payload_hash = hashlib.sha256(b"").hexdigest()
    canonical_request = "GET\n/api/workflow/execution\n\n" + canonical_headers + "\nhost;x-amz-date\n" + payload_hash
    scope = f"{date_stamp}/{REGION}/execute-api/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    key = ("AWS4" + SECRET).encode()
    for part in (date_stamp, REGION, "execute-api", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={KEY_ID}/{scope}, SignedHeaders=host;x-amz-date, Signature={signature}"
    )
    with httpx.Client(timeout=15) as anonymous:
        response = anonymous.get(
            f"{server.base_url}/api/workflow/execution",
            headers={"x-amz-date": amz_date, "Authorization": authorization},
        )
    assert response.status_code == 200, response.text


def test_repeated_failures_get_429(server: MieServer) -> None:
    with httpx.Client(timeout=15) as anonymous:
        codes = [
            anonymous.get(f"{server.base_url}/api/workflow", headers={"x-api-key": "nope"}).status_code
            for _ in range(8)
        ]
    # Five failures per burst (the replayed request above was one of them), then 429 until tokens come back.
    first = codes.index(429)
    assert 3 <= first <= 5, codes
    assert set(codes[:first]) == {401}, codes
    assert set(codes[first:]) == {429}, codes
    assert server.client.get(f"{server.base_url}/api/version").status_code == 200


def test_short_api_key_refused_at_start(tmp_path: Path) -> None:
    srv = MieServer(tmp_path / "data", {**FAST_ENV, "MIE_API_KEY": "short"})
    try:
        done = subprocess.run(
            [*srv.command(), "serve", "--data-dir", str(tmp_path / "data"), "--port", "0"],
            env=srv.process_env(),
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        srv.close()
    assert done.returncode != 0
    assert "MIE_API_KEY is 5 characters long: use at least 16" in done.stderr + done.stdout
