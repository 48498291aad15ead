"""HTTP operators (``StartLambdaArn: "http://..."``): the event is POSTed, the answer is the output object.

A small operator server (``http.server`` in a thread) plays the operator; each test runs it through the real engine.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.helpers import make_workflow, operation, start, unique, wait_for


class OperatorServer:
    """What the operator server received: every request body (and headers) by path."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: dict[str, list[dict[str, Any]]] = {}
        self.headers: dict[str, list[dict[str, str]]] = {}
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def calls(self, path: str, execution_id: str | None = None) -> int:
        with self.lock:
            events = self.requests.get(path, [])
            return sum(1 for e in events if execution_id is None or e.get("WorkflowExecutionId") == execution_id)


def _handler(state: OperatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
            pass

        def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the engine gave up waiting (the timeout test)

        def _json(self, value: Any, status: int = 200) -> None:
            self._answer(status, json.dumps(value).encode())

        def do_POST(self) -> None:
            event = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            path = self.path.split("?")[0]
            with state.lock:
                state.requests.setdefault(path, []).append(event)
                state.headers.setdefault(path, []).append(dict(self.headers.items()))
                calls = sum(1 for e in state.requests[path] if e["WorkflowExecutionId"] == event["WorkflowExecutionId"])
            if path == "/ok":
                self._json(dict(event, Status="Complete", MetaData={"Via": "http", "Calls": str(calls)}))
            elif path == "/async/start":
                self._json(dict(event, Status="Executing", MetaData={"JobId": "http-job"}))
            elif path == "/async/monitor":
                polls = int(event["MetaData"].get("Polls", "0")) + 1
                status = "Complete" if polls >= 3 else "Executing"
                self._json(dict(event, Status=status, MetaData={**event["MetaData"], "Polls": str(polls)}))
            elif path == "/fail500":
                self._answer(500, b"kaboom: the operator service crashed", "text/plain")
            elif path == "/flaky500":
                if calls == 1:
                    self._answer(503, b"warming up", "text/plain")
                else:
                    self._json(dict(event, Status="Complete", MetaData={"Calls": str(calls)}))
            elif path == "/text":
                self._answer(200, b"<html>hello, not an output object</html>", "text/html")
            elif path == "/nostatus":
                self._json({"Name": event["Name"], "MetaData": {}})
            elif path == "/slow":
                time.sleep(3)
                self._json(dict(event, Status="Complete"))
            else:
                self._answer(404, b'{"message": "no such operator"}')

    return Handler


@pytest.fixture
def operator_server() -> Iterator[OperatorServer]:
    state = OperatorServer(0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True  # a sleeping /slow handler must not hold the test up at the end
    state.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours proxy variables; requests to the local operator server must not go through one."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def run(client: TestClient, *ops: dict[str, Any]) -> dict[str, Any]:
    """Run a one-stage workflow of ``ops`` on a fresh upload; the finished execution record."""
    name = unique("http-wf")
    make_workflow(client, name, [list(ops)])
    execution = start(client, name, f"upload/{name}.mp4")
    done = wait_for(client, execution["Id"], {"Complete", "Error"}, timeout=30)
    done["_stage"] = f"{name}-stage0"
    return done


def http_op(url: str, **extra: Any) -> dict[str, Any]:
    op = operation(unique("http-op"), start=url)
    op.update(extra)
    return op


def test_sync_http_operator_completes(client: TestClient, operator_server: OperatorServer) -> None:
    op = http_op(operator_server.url("/ok"))
    done = run(client, op)
    assert done["Status"] == "Complete", done.get("Message")
    assert done["Globals"]["MetaData"] == {"Via": "http", "Calls": "1"}
    event = operator_server.requests["/ok"][0]
    assert event["Name"] == op["Name"]
    assert event["AssetId"] == done["AssetId"]
    assert event["WorkflowExecutionId"] == done["Id"]
    assert event["Status"] == "Started"
    assert event["Configuration"] == {"MediaType": "Video", "Enabled": True}
    video = event["Input"]["Media"]["Video"]
    assert video["S3Key"] == f"private/assets/{done['AssetId']}/input/upload/{done['Workflow']['Name']}.mp4"
    headers = {k.lower(): v for k, v in operator_server.headers["/ok"][0].items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-mie-operator"] == op["Name"]


def test_async_http_operator_is_monitored_until_complete(client: TestClient, operator_server: OperatorServer) -> None:
    op = operation(
        unique("http-async"),
        "Async",
        start=operator_server.url("/async/start"),
        monitor=operator_server.url("/async/monitor"),
    )
    done = run(client, op)
    assert done["Status"] == "Complete", done.get("Message")
    assert done["Globals"]["MetaData"] == {"JobId": "http-job", "Polls": "3"}
    # The monitor receives the previous output, as MIE's does.
    assert operator_server.requests["/async/monitor"][0]["MetaData"] == {"JobId": "http-job"}
    assert operator_server.calls("/async/monitor", done["Id"]) == 3


def test_5xx_is_retried_and_can_recover(client: TestClient, operator_server: OperatorServer) -> None:
    done = run(client, http_op(operator_server.url("/flaky500")))
    assert done["Status"] == "Complete", done.get("Message")
    assert done["Globals"]["MetaData"] == {"Calls": "2"}


def test_5xx_is_retried_then_fails_with_a_clear_message(client: TestClient, operator_server: OperatorServer) -> None:
    url = operator_server.url("/fail500")
    done = run(client, http_op(url))
    assert done["Status"] == "Error"
    assert operator_server.calls("/fail500", done["Id"]) == 3  # the first call and two retries
    message = done["Message"]
    assert f"HTTP operator {url} answered 500" in message
    assert "kaboom: the operator service crashed" in message
    out = done["Workflow"]["Stages"][done["_stage"]]["Outputs"][0]
    assert out["Status"] == "Error"


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/text", "answered with something that is not JSON: <html>hello, not an output object</html>"),
        ("/nostatus", "answered JSON that is not an MIE output object with a Status"),
        ("/missing", "answered 404 after"),
    ],
)
def test_bad_answers_fail_without_retry(
    client: TestClient, operator_server: OperatorServer, path: str, needle: str
) -> None:
    url = operator_server.url(path)
    done = run(client, http_op(url))
    assert done["Status"] == "Error"
    assert f"HTTP operator {url} {needle}" in done["Message"]
    # A client error or a malformed answer will not get better by asking again.
    assert operator_server.calls(path, done["Id"]) == 1


def test_timeout_fails_naming_the_url(client: TestClient, operator_server: OperatorServer) -> None:
    url = operator_server.url("/slow")
    began = time.monotonic()
    done = run(client, http_op(url, TimeoutSeconds=2))
    assert done["Status"] == "Error"
    assert url in done["Message"]
    assert "2 s" in done["Message"]
    assert time.monotonic() - began < 10


def test_unreachable_operator_fails_naming_the_url(client: TestClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens on it once the socket is closed
    url = f"http://127.0.0.1:{port}/operator"
    done = run(client, http_op(url))
    assert done["Status"] == "Error"
    assert f"HTTP operator {url} could not be reached" in done["Message"]
