"""The outbound URL policy (``MIE_OUTBOUND_ALLOW``): webhooks and HTTP operators may not reach loopback, link-local
(cloud metadata), private or other non-public addresses unless allowed; checked at registration and again after
DNS resolution, and the request goes to the address that was checked."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mie.bootstrap import build
from mie.consumers.webhooks import WebhookSender, check_url
from mie.errors import ConfigurationError, InvalidError, OperatorError
from mie.operators.context import Runtime
from mie.operators.invoke import invoke
from mie.operators.outbound import OutboundPolicy, OutboundRefusedError
from mie.operators.registry import OperatorRegistry
from tests.conftest import fast_settings
from tests.helpers import API_KEY, assert_error, make_workflow, operation, start, unique, wait_for

REFUSED = [
    "http://127.0.0.1:8080/hook",
    "http://127.1.2.3/hook",
    "http://[::1]:9000/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://localhost:8080/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one number
    "http://0x7f.1/hook",
    "http://0251.0376.0251.0376/latest/meta-data/",  # 169.254.169.254 in octal
    "https://api.localhost/hook",
]


class Receiver:
    """A loopback HTTP server that records requests (path, Host header, body) and answers an MIE output object."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                state.requests.append((self.path, self.headers.get("Host", ""), body))
                out = json.dumps(dict(body, Status="Complete")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def resolving_to(address: str) -> Any:
    return lambda host, port: [address]


# --- the policy ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", REFUSED)
def test_non_public_targets_are_refused_at_registration_naming_the_setting(url: str) -> None:
    with pytest.raises(InvalidError, match="MIE_OUTBOUND_ALLOW"):
        check_url(url)


def test_public_addresses_and_host_names_pass_registration() -> None:
    assert check_url("https://93.184.216.34/hook") == "https://93.184.216.34/hook"
    assert check_url("https://hooks.example.com/mie") == "https://hooks.example.com/mie"


def test_the_allow_list_takes_addresses_networks_and_names() -> None:
    policy = OutboundPolicy.parse("127.0.0.1, 10.0.0.0/8,hooks.internal,::1")
    policy.check("http://127.0.0.1:1/x")
    policy.check("http://10.9.8.7/x")
    policy.check("http://[::1]/x")
    policy.check("http://HOOKS.internal./x")
    with pytest.raises(InvalidError, match="link-local"):
        policy.check("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(InvalidError, match="private"):
        policy.check("http://192.168.1.1/x")
    with pytest.raises(ConfigurationError, match="MIE_OUTBOUND_ALLOW"):
        OutboundPolicy.parse("10.0.0.0/33")
    with pytest.raises(ConfigurationError, match="MIE_OUTBOUND_ALLOW"):
        OutboundPolicy.parse("http://x")


def test_a_public_looking_name_resolving_to_loopback_is_refused_at_request_time() -> None:
    strict = OutboundPolicy(resolver=resolving_to("127.0.0.1"))
    strict.check("http://hooks.example.com/x")  # a name: fine at registration
    with pytest.raises(OutboundRefusedError, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        strict.pin("http://hooks.example.com/x")
    metadata = OutboundPolicy(resolver=resolving_to("169.254.169.254"))
    with pytest.raises(OutboundRefusedError, match="link-local"):
        metadata.pin("http://metadata.example.com/latest")
    # One bad address among several is enough to refuse (a rebinding resolver may alternate).
    mixed = OutboundPolicy(resolver=lambda host, port: ["93.184.216.34", "127.0.0.1"])
    with pytest.raises(OutboundRefusedError, match="loopback"):
        mixed.pin("https://hooks.example.com/x")
    public = OutboundPolicy(resolver=resolving_to("93.184.216.34"))
    pinned = public.pin("https://hooks.example.com:8443/x?y=1")
    assert pinned.url == "https://93.184.216.34:8443/x?y=1"
    assert pinned.headers == {"Host": "hooks.example.com:8443"}
    assert pinned.extensions == {"sni_hostname": "hooks.example.com"}


# --- webhooks and HTTP operators at request time -----------------------------------------------------------------


def test_webhook_sender_refuses_a_name_resolving_to_loopback(receiver: Receiver) -> None:
    sender = WebhookSender(5.0, OutboundPolicy(resolver=resolving_to("127.0.0.1")))
    try:
        outcome = sender.post(
            f"http://hooks.example.com:{receiver.port}/hook", b"{}", secret=None, delivery_id="d", event="job", now=0
        )
    finally:
        sender.close()
    assert not outcome.delivered
    assert outcome.error is not None
    assert "loopback" in outcome.error
    assert "MIE_OUTBOUND_ALLOW" in outcome.error
    assert receiver.requests == []


def test_an_allowed_request_goes_to_the_checked_address_with_the_original_host(receiver: Receiver) -> None:
    # The name does not exist in DNS: the request can only arrive because it was sent to the resolved address.
    policy = OutboundPolicy.parse("127.0.0.0/8", resolver=resolving_to("127.0.0.1"))
    sender = WebhookSender(5.0, policy)
    try:
        url = f"http://hooks.example.invalid:{receiver.port}/hook"
        outcome = sender.post(url, b'{"a": 1}', secret=None, delivery_id="d", event="job", now=0)
    finally:
        sender.close()
    assert outcome.delivered, outcome.error
    assert receiver.requests == [("/hook", f"hooks.example.invalid:{receiver.port}", {"a": 1})]


def test_http_operator_refuses_a_name_resolving_to_loopback(receiver: Receiver, tmp_path: Path) -> None:
    registry = OperatorRegistry(outbound=OutboundPolicy(resolver=resolving_to("127.0.0.1")))
    target = registry.resolve(f"http://operator.example.com:{receiver.port}/ok")
    runtime = Runtime(dataplane=None)  # type: ignore[arg-type]  # an HTTP call never touches the data plane
    with pytest.raises(OperatorError, match="loopback"):
        invoke(target, {"Name": "x"}, runtime)
    assert receiver.requests == []


# --- through the server -----------------------------------------------------------------------------------------


@pytest.fixture
def strict_client(tmp_path: Path) -> Iterator[TestClient]:
    """A server without the tests' loopback allowance."""
    svc = build(fast_settings(tmp_path / "data", outbound_allow=""))
    svc.start()
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            yield client
    finally:
        svc.stop()


def test_server_refuses_loopback_and_metadata_targets_with_a_400(strict_client: TestClient) -> None:
    for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data/"):
        r = strict_client.post("/api/notifications", json={"Url": url})
        assert_error(r, 400, "MIE_OUTBOUND_ALLOW")
        op = operation(unique("http-op"), start=url)
        r = strict_client.post("/api/workflow/operation", json=op)
        assert_error(r, 400, "StartLambdaArn", "MIE_OUTBOUND_ALLOW")
    op = operation(unique("http-op"), kind="Async", start="https://ops.example.com/s", monitor="http://[::1]/m")
    assert_error(strict_client.post("/api/workflow/operation", json=op), 400, "MonitorLambdaArn", "loopback")


def test_server_refuses_at_request_time_a_name_that_resolves_to_loopback(
    strict_client: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo

    def fake(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "operator.example.com" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    op = operation(unique("http-op"), start=f"http://operator.example.com:{receiver.port}/ok")
    name = unique("wf")
    make_workflow(strict_client, name, [[op]])
    execution = start(strict_client, name, f"upload/{name}.mp4")
    done = wait_for(strict_client, execution["Id"], {"Complete", "Error"}, timeout=30)
    assert done["Status"] == "Error"
    message = json.dumps(done)
    assert "resolves to 127.0.0.1, a loopback address" in message
    assert "MIE_OUTBOUND_ALLOW" in message
    assert receiver.requests == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a test certificate")
def test_https_is_pinned_to_the_checked_address_and_still_verifies_the_host_name(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=hooks.example.test", "-addext", "subjectAltName=DNS:hooks.example.test"],
        check=True, capture_output=True,
    )  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = self.headers.get("Host", "").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    port = int(server.server_address[1])
    policy = OutboundPolicy.parse("127.0.0.1", resolver=resolving_to("127.0.0.1"))
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        with httpx.Client(verify=trust, trust_env=False) as http:
            pinned = policy.pin(f"https://hooks.example.test:{port}/hook")
            r = http.post(pinned.url, content=b"{}", headers=pinned.headers, extensions=pinned.extensions)
            assert (r.status_code, r.text) == (200, f"hooks.example.test:{port}")
            # The certificate is still checked against the original name, not the address connected to.
            wrong = policy.pin(f"https://other.example.test:{port}/hook")
            with pytest.raises(httpx.ConnectError, match="certificate"):
                http.post(wrong.url, content=b"{}", headers=wrong.headers, extensions=wrong.extensions)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
