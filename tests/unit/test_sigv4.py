"""SigV4 requests (as MIE's clients sign them), scoped credentials, the short-key refusal and the 401 brake.

Requests are signed with botocore's own signer and, independently, by hand the way MIE's ``sigv4_get_sample.py`` /
``sigv4_post_sample.py`` do (hmac/hashlib), then sent to the in-process app.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import importlib
import json
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.testclient import TestClient
from typer.testing import CliRunner

import mie.api
from mie.api.auth import FailureBrake
from mie.api.deps import require_key
from mie.api.sigv4 import canonical_queries, canonical_uris
from mie.bootstrap import Services, build
from mie.cli.main import app as cli
from mie.config import load_settings
from mie.errors import ConfigurationError
from tests.conftest import fast_settings
from tests.helpers import API_KEY, assert_error, operation, unique

ADMIN_ID = "AKIAMIEADMINEXAMPLE1"
ADMIN_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYADMINEXAMPLE"
READ_ID = "AKIAMIEREADEXAMPLE01"
READ_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbREADEXAMPLE"
READ_KEY = "read-only-key-0123456789"
REGION = "us-west-2"
BASE = "http://testserver"


@pytest.fixture(scope="module")
def signed_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    # One engine for the module; each test gets its own app (so its own replay record and failure brake).
    settings = fast_settings(
        tmp_path_factory.mktemp("sigv4") / "data",
        sigv4_access_key_id=ADMIN_ID,
        sigv4_secret_access_key=ADMIN_SECRET,
        sigv4_readonly_access_key_id=READ_ID,
        sigv4_readonly_secret_access_key=READ_SECRET,
        sigv4_region=REGION,
        api_keys_readonly=READ_KEY,
        auth_failure_burst=1000,
        max_body_bytes=4096,
    )
    svc = build(settings)
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def anon(signed_services: Services) -> Iterator[TestClient]:
    """A client that sends no credential of its own."""
    with TestClient(signed_services.app()) as client:
        yield client


def boto_signed(
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    key_id: str = ADMIN_ID,
    secret: str = ADMIN_SECRET,
    region: str = REGION,
    service: str = "execute-api",
) -> tuple[str, dict[str, str]]:
    """``(url, headers)`` of a request signed by botocore, as boto3-based tools sign for API Gateway."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(key_id, secret), service, region).add_auth(request)
    prepared = request.prepare()
    return prepared.url, dict(prepared.headers.items())


def send(client: TestClient, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> Any:
    return client.request(method, url, headers=headers, content=body)


# ---- the seed's sample, step by step (MIE's docs/sigv4_post_sample.py and sigv4_get_sample.py) ----------------------


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _signature_key(key: str, date_stamp: str, region_name: str, service_name: str) -> bytes:
    k_date = _sign(("AWS4" + key).encode("utf-8"), date_stamp)
    k_region = _sign(k_date, region_name)
    k_service = _sign(k_region, service_name)
    return _sign(k_service, "aws4_request")


def sample_signed(
    method: str,
    canonical_uri: str,
    request_parameters: str = "",
    *,
    canonical_querystring: str = "",
    when: datetime.datetime | None = None,
    signed_headers: str = "host;x-amz-date",
    secret: str = ADMIN_SECRET,
    region: str = REGION,
) -> tuple[dict[str, str], str]:
    """Headers signed exactly as MIE's samples build them (and the signature), for host ``testserver``."""
    host = "testserver"
    service = "execute-api"
    t = when or datetime.datetime.now(datetime.UTC)
    amz_date = t.strftime("%Y%m%dT%H%M%SZ")
    date_stamp = t.strftime("%Y%m%d")
    header_values = {"host": host, "x-amz-date": amz_date}
    canonical_headers = "".join(f"{name}:{header_values[name]}\n" for name in signed_headers.split(";"))
    payload_hash = hashlib.sha256(request_parameters.encode("utf-8")).hexdigest()
    canonical_request = (
        method + "\n" + canonical_uri + "\n" + canonical_querystring + "\n" + canonical_headers + "\n"
        + signed_headers + "\n" + payload_hash
    )  # fmt: skip
    algorithm = "AWS4-HMAC-SHA256"
    credential_scope = date_stamp + "/" + region + "/" + service + "/" + "aws4_request"
    string_to_sign = (
        algorithm + "\n" + amz_date + "\n" + credential_scope + "\n"
        + hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    )  # fmt: skip
    signing_key = _signature_key(secret, date_stamp, region, service)
    signature = hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization_header = (
        algorithm + " " + "Credential=" + ADMIN_ID + "/" + credential_scope + ", " + "SignedHeaders="
        + signed_headers + ", " + "Signature=" + signature
    )  # fmt: skip
    headers = {"Authorization": authorization_header, "Content-Type": "application/json", "x-amz-date": amz_date}
    return headers, signature


# ---- accepted ----------------------------------------------------------------------------------------------------


def test_botocore_get_with_a_query_string(anon: TestClient) -> None:
    url, headers = boto_signed("GET", f"{BASE}/api/workflow/execution?limit=5&b=a%20b&a=%C3%BC")
    response = send(anon, "GET", url, headers)
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list)


def test_botocore_post_with_a_json_body(anon: TestClient) -> None:
    name = unique("SigV4Op")
    body = json.dumps(operation(name)).encode()
    url, headers = boto_signed("POST", f"{BASE}/api/workflow/operation", body, {"Content-Type": "application/json"})
    response = send(anon, "POST", url, headers, body)
    assert response.status_code == 200, response.text
    assert response.json()["Name"] == name  # the route read the body the signature check had read


@pytest.mark.parametrize("name", ["with space", "unicodé-名前", "a:b(c)!"])
def test_botocore_paths_with_spaces_and_unicode(anon: TestClient, name: str) -> None:
    # The path is signed as given (decoded), and sent percent-encoded: auth passes, the operation does not exist.
    url, headers = boto_signed("GET", f"{BASE}/api/workflow/operation/{name}")
    assert_error(send(anon, "GET", url, headers), 404)


def test_botocore_given_an_encoded_url_signs_it_encoded_twice(anon: TestClient) -> None:
    # AWS's rule for non-S3 services: the SDKs pass an encoded path, which the signer encodes once more.
    url, headers = boto_signed("GET", f"{BASE}/api/workflow/operation/with%20space")
    assert_error(send(anon, "GET", url, headers), 404)


def test_botocore_doubled_slash(anon: TestClient) -> None:
    # MIE clients build /api//workflow; botocore signs the normalised path, the route collapses the slashes.
    url, headers = boto_signed("GET", f"{BASE}/api//workflow")
    assert "//workflow" in url
    response = send(anon, "GET", url, headers)
    assert response.status_code == 200, response.text


def test_sample_signed_get_of_the_raw_doubled_slash_path(anon: TestClient) -> None:
    headers, _ = sample_signed("GET", "/api//workflow")
    response = anon.get("/api//workflow", headers=headers)
    assert response.status_code == 200, response.text


def test_sample_signed_post_starts_nothing_it_should_not(anon: TestClient) -> None:
    name = unique("SampleOp")
    request_parameters = json.dumps(operation(name))
    headers, _ = sample_signed("POST", "/api/workflow/operation", request_parameters)
    response = anon.post("/api/workflow/operation", headers=headers, content=request_parameters.encode())
    assert response.status_code == 200, response.text
    assert anon.get(f"/api/workflow/operation/{name}", headers={"x-api-key": API_KEY}).status_code == 200


def test_sample_signed_get_with_a_query_string(anon: TestClient) -> None:
    headers, _ = sample_signed("GET", "/api/workflow/execution", canonical_querystring="limit=2")
    response = anon.get("/api/workflow/execution?limit=2", headers=headers)
    assert response.status_code == 200, response.text


def test_presigned_url(anon: TestClient) -> None:
    request = AWSRequest(method="GET", url=f"{BASE}/api/workflow?x=1")
    SigV4QueryAuth(Credentials(ADMIN_ID, ADMIN_SECRET), "execute-api", REGION, expires=60).add_auth(request)
    url = request.prepare().url
    assert "X-Amz-Signature=" in url
    first = anon.get(url)
    assert first.status_code == 200, first.text
    assert anon.get(url).status_code == 200  # a presigned URL is valid until it expires, like AWS's
    tampered = url.replace("x=1", "x=2")
    assert_error(anon.get(tampered), 401, "signature does not match")


def test_the_api_key_still_works_next_to_sigv4(anon: TestClient) -> None:
    assert anon.get("/api/workflow", headers={"x-api-key": API_KEY}).status_code == 200
    assert anon.get("/api/workflow", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200


# ---- refused -----------------------------------------------------------------------------------------------------


def test_wrong_secret_does_not_leak_the_expected_signature(anon: TestClient) -> None:
    url, headers = boto_signed("GET", f"{BASE}/api/workflow", secret="not-the-secret-at-all-0123456789")
    body = assert_error(send(anon, "GET", url, headers), 401, "signature does not match")
    amz_date = headers["X-Amz-Date"]
    right, expected = sample_signed("GET", "/api/workflow", when=_parse(amz_date))
    assert expected not in body["Message"]
    assert "Signature=" not in body["Message"]
    assert right["Authorization"] != headers["Authorization"]


def _parse(amz_date: str) -> datetime.datetime:
    return datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)


def test_unknown_access_key(anon: TestClient) -> None:
    url, headers = boto_signed("GET", f"{BASE}/api/workflow", key_id="AKIANOBODYKNOWS00000")
    assert_error(send(anon, "GET", url, headers), 401, "not known")


def test_wrong_region(anon: TestClient) -> None:
    url, headers = boto_signed("GET", f"{BASE}/api/workflow", region="eu-west-1")
    assert_error(send(anon, "GET", url, headers), 401, "region 'eu-west-1'", REGION)


def test_wrong_service(anon: TestClient) -> None:
    url, headers = boto_signed("GET", f"{BASE}/api/workflow", service="s3")
    assert_error(send(anon, "GET", url, headers), 401, "service 's3'", "execute-api")


@pytest.mark.parametrize("minutes", [-10, 10])
def test_stale_or_future_x_amz_date(anon: TestClient, minutes: int) -> None:
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=minutes)
    headers, _ = sample_signed("GET", "/api/workflow", when=when)
    assert_error(anon.get("/api/workflow", headers=headers), 401, "expired or is dated in the future")


def test_tampered_body(anon: TestClient) -> None:
    body = json.dumps(operation(unique("Signed"))).encode()
    url, headers = boto_signed("POST", f"{BASE}/api/workflow/operation", body, {"Content-Type": "application/json"})
    other = json.dumps(operation(unique("Tampered"))).encode()
    assert_error(send(anon, "POST", url, headers, other), 401, "signature does not match")


def test_tampered_body_against_its_declared_hash(anon: TestClient) -> None:
    body = b"{}"
    extra = {"Content-Type": "application/json", "x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    url, headers = boto_signed("POST", f"{BASE}/api/workflow/operation", body, extra)
    assert_error(send(anon, "POST", url, headers, b'{"Name":"x"}'), 401, "x-amz-content-sha256")


def test_unsigned_payload_is_refused(anon: TestClient) -> None:
    extra = {"Content-Type": "application/json", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    url, headers = boto_signed("POST", f"{BASE}/api/workflow/operation", b"{}", extra)
    assert_error(send(anon, "POST", url, headers, b"{}"), 401, "UNSIGNED-PAYLOAD")


def test_tampered_signed_header(anon: TestClient) -> None:
    url, headers = boto_signed("GET", f"{BASE}/api/workflow", headers={"X-Mie-Note": "signed"})
    assert "x-mie-note" in headers["Authorization"]
    headers["X-Mie-Note"] = "changed"
    assert_error(send(anon, "GET", url, headers), 401, "signature does not match")


def test_header_values_are_trimmed_and_collapsed(anon: TestClient) -> None:
    url, headers = boto_signed("GET", f"{BASE}/api/workflow", headers={"X-Mie-Note": "a b"})
    headers["X-Mie-Note"] = "  a    b "
    assert send(anon, "GET", url, headers).status_code == 200


def test_replayed_request(anon: TestClient) -> None:
    url, headers = boto_signed("GET", f"{BASE}/api/workflow")
    assert send(anon, "GET", url, headers).status_code == 200
    assert_error(send(anon, "GET", url, headers), 401, "already used")


def test_host_must_be_signed(anon: TestClient) -> None:
    headers, _ = sample_signed("GET", "/api/workflow", signed_headers="x-amz-date")
    assert_error(anon.get("/api/workflow", headers=headers), 401, "must include host and x-amz-date")


def test_malformed_authorization(anon: TestClient) -> None:
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20250101/us-west-2", "x-amz-date": "x"}
    assert_error(anon.get("/api/workflow", headers=headers), 401, "SigV4")
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=a, SignedHeaders=host, Signature=0"}
    assert_error(anon.get("/api/workflow", headers=headers), 401, "x-amz-date")


def test_signed_body_over_the_limit_is_413(anon: TestClient) -> None:
    body = b'{"Name":"' + b"x" * 5000 + b'"}'
    url, headers = boto_signed("POST", f"{BASE}/api/workflow/operation", body, {"Content-Type": "application/json"})
    assert_error(send(anon, "POST", url, headers, body), 413, "larger than 4096 bytes")


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 ",
        "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=",
        "AWS4-HMAC-SHA256 Credential=A/B/C/D/aws4_request, SignedHeaders=Host;x-amz-date, Signature=00",
        "AWS4-HMAC-SHA256 Credential=A/B/C/D/aws4_request, SignedHeaders=x-amz-date;host, Signature=00",
        f"AWS4-HMAC-SHA256 Credential={ADMIN_ID}/20260101/{REGION}/execute-api/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=zz",
        "AWS4-HMAC-SHA256 Credential=%FF/1/2/3/aws4_request, SignedHeaders=host, Signature=1, Signature=2",
    ],
)
def test_garbage_authorization_is_401(anon: TestClient, authorization: str) -> None:
    headers = {"Authorization": authorization, "x-amz-date": "20260101T000000Z"}
    assert_error(anon.get("/api/workflow", headers=headers), 401, "SigV4")


@pytest.mark.parametrize(
    "query",
    [
        "X-Amz-Signature=00",
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Date=1&X-Amz-Expires=%C2%B2"
        "&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Date=1&X-Amz-Expires=99999999999999999999999"
        "&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
    ],
)
def test_garbage_presigned_query_is_401(anon: TestClient, query: str) -> None:
    assert_error(anon.get(f"/api/workflow?{query}"), 401, "SigV4")


# ---- scopes ------------------------------------------------------------------------------------------------------


def test_read_only_sigv4_may_read_but_not_write(anon: TestClient) -> None:
    url, headers = boto_signed("GET", f"{BASE}/api/workflow", key_id=READ_ID, secret=READ_SECRET)
    assert send(anon, "GET", url, headers).status_code == 200
    body = json.dumps(operation(unique("ReadOnly"))).encode()
    url, headers = boto_signed(
        "POST", f"{BASE}/api/workflow/operation", body, {"Content-Type": "application/json"},
        key_id=READ_ID, secret=READ_SECRET,
    )  # fmt: skip
    assert_error(send(anon, "POST", url, headers, body), 403, "read-only")


def test_read_only_api_key(anon: TestClient) -> None:
    assert anon.get("/api/workflow", headers={"x-api-key": READ_KEY}).status_code == 200
    response = anon.post("/api/workflow/operation", headers={"x-api-key": READ_KEY}, json=operation(unique("RO")))
    assert_error(response, 403, "read-only")
    response = anon.delete("/api/workflow/operation/Anything", headers={"Authorization": f"Bearer {READ_KEY}"})
    assert_error(response, 403, "read-only")
    admin = anon.post("/api/workflow/operation", headers={"x-api-key": API_KEY}, json=operation(unique("RW")))
    assert admin.status_code == 200, admin.text


def test_sigv4_without_a_configured_pair(services: Services) -> None:
    url, headers = boto_signed("GET", f"{BASE}/api/workflow")
    with TestClient(services.app()) as anonymous:
        assert_error(anonymous.get(url, headers=headers), 401, "no SigV4 key pair configured")


# ---- canonical forms ---------------------------------------------------------------------------------------------


def test_canonical_uri_forms() -> None:
    assert canonical_uris("/api//workflow") == ["/api/workflow", "/api//workflow", "/api/workflow/", "/api//workflow/"]
    assert canonical_uris("/a%20b")[:2] == ["/a%2520b", "/a%20b"]
    # A decoded path holding a literal % gets AWS's form only: no other path's signature can cover it.
    assert canonical_uris("/a%2541") == ["/a%252541", "/a%252541/"]
    assert canonical_uris("") == ["/"]
    assert canonical_uris("/api/workflow/") == ["/api/workflow/"]


def test_no_keyed_route_tells_a_trailing_slash_apart() -> None:
    # canonical_uris accepts a signature over /x/ for /x: sound only while /x/ can never be served apart from /x,
    # i.e. while no keyed route has a {name:path} parameter (the /service fallback answers 501 for any path).
    keyed_path_routes = set()
    for module in pkgutil.iter_modules(mie.api.__path__):
        for router in vars(importlib.import_module(f"mie.api.{module.name}")).values():
            if isinstance(router, APIRouter) and any(d.dependency is require_key for d in router.dependencies):
                keyed_path_routes |= {r.path for r in router.routes if isinstance(r, APIRoute) and ":path}" in r.path}
    assert keyed_path_routes == {"/service/{rest:path}"}


def test_the_get_sample_signs_a_trailing_slash_and_follows_the_redirect(anon: TestClient) -> None:
    # sigv4_get_sample.py: canonical_uri = '/api/workflow/'; the router redirects to /api/workflow (307).
    headers, _ = sample_signed("GET", "/api/workflow/")
    response = anon.get("/api/workflow/", headers=headers)  # TestClient follows redirects, as requests does
    assert response.status_code == 200, response.text
    assert response.history
    assert response.history[0].status_code == 307


def test_canonical_query_forms() -> None:
    assert canonical_queries("b=2&a=1", drop_signature=False) == ["a=1&b=2"]
    assert canonical_queries("q=a+b", drop_signature=False) == ["q=a%20b", "q=a+b"]
    assert canonical_queries("X-Amz-Signature=ff&a=", drop_signature=True) == ["a="]


# ---- configuration and the 401 brake ------------------------------------------------------------------------------


def test_short_api_key_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="MIE_API_KEY is 9 characters long: use at least 16"):
        load_settings(environ={"MIE_API_KEY": "short-key"}, data_dir=tmp_path)
    assert load_settings(environ={"MIE_API_KEY": "x" * 16}, data_dir=tmp_path).api_key == "x" * 16
    assert load_settings(environ={}, data_dir=tmp_path).api_key == ""  # generated later, 43 characters


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        ({"MIE_API_KEYS_READONLY": "short"}, "MIE_API_KEYS_READONLY"),
        ({"MIE_SIGV4_ACCESS_KEY_ID": "AKIAX"}, "set both MIE_SIGV4_ACCESS_KEY_ID"),
        ({"MIE_SIGV4_ACCESS_KEY_ID": "AKIAX", "MIE_SIGV4_SECRET_ACCESS_KEY": "short"}, "at least 16"),
        ({"MIE_SIGV4_MAX_SKEW_SECONDS": "0"}, "MIE_SIGV4_MAX_SKEW_SECONDS"),
    ],
)
def test_auth_settings_are_checked(tmp_path: Path, environ: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        load_settings(environ=environ, data_dir=tmp_path)


def test_repeated_401s_are_slowed_down_per_client(tmp_path: Path) -> None:
    svc = build(fast_settings(tmp_path / "data", auth_failure_burst=3, auth_failure_window=60))
    svc.start()
    try:
        app = svc.app()
        with TestClient(app, client=("10.0.0.1", 1234)) as attacker, TestClient(app, client=("10.0.0.2", 1)) as other:
            for _ in range(3):
                assert_error(attacker.get("/api/workflow", headers={"x-api-key": "wrong-key"}), 401)
            throttled = attacker.get("/api/workflow", headers={"x-api-key": "wrong-key"})
            assert_error(throttled, 429, "too many failed authentication attempts")
            assert 1 <= int(throttled.headers["Retry-After"]) <= 20
            # The brake comes before the key check, so it cannot be used to test keys; other clients go on.
            assert attacker.get("/api/workflow", headers={"x-api-key": API_KEY}).status_code == 429
            assert other.get("/api/workflow", headers={"x-api-key": API_KEY}).status_code == 200
            assert_error(other.get("/api/workflow"), 401)
    finally:
        svc.stop()


def test_failure_brake_refills() -> None:
    now = [0.0]
    brake = FailureBrake(burst=2, window=10, clock=lambda: now[0])
    brake.failed("a")
    brake.failed("a")
    assert brake.retry_after("a") == 5
    assert brake.retry_after("b") is None
    now[0] = 5.0
    assert brake.retry_after("a") is None
    assert FailureBrake(burst=0, window=10).retry_after("a") is None


def test_mie_config_masks_every_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MIE_API_KEY": API_KEY,
        "MIE_API_KEYS_READONLY": READ_KEY,
        "MIE_SIGV4_ACCESS_KEY_ID": ADMIN_ID,
        "MIE_SIGV4_SECRET_ACCESS_KEY": ADMIN_SECRET,
        "MIE_SIGV4_READONLY_ACCESS_KEY_ID": READ_ID,
        "MIE_SIGV4_READONLY_SECRET_ACCESS_KEY": READ_SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["config", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert ADMIN_ID in result.output  # ids are not secret
    for secret in (API_KEY, READ_KEY, ADMIN_SECRET, READ_SECRET):
        assert secret not in result.output
