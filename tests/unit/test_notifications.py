"""Notifications: subscriptions over the API, signed webhooks on loopback, retries and the delivery log, e-mail
through a loopback SMTP server, and restarts that neither lose nor resend deliveries."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socketserver
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services, build
from mie.config import Settings
from mie.consumers.base import ChangeConsumer
from mie.consumers.notify import JOB_SOURCE, Notifications, classify
from mie.consumers.notify_settings import NotifySettings
from mie.consumers.webhooks import sign, verify
from mie.dataplane.changes import WORKFLOW_EXECUTION
from mie.errors import ConfigurationError
from mie.types import JSONDict
from tests.conftest import fast_settings
from tests.helpers import API_KEY, assert_error, make_workflow, operation, start, wait_for

FAST_NOTIFY = {"notify_backoff": "0.05", "notify_backoff_max": "0.2", "notify_timeout": "5", "notify_attempts": "3"}


# --- loopback receivers ----------------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on 127.0.0.1: records every request, answers from ``codes`` (then 200)."""

    def __init__(self, codes: list[int] | None = None) -> None:
        self.codes = list(codes or [])
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if code >= 300 else b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[JSONDict]:
        with self._lock:
            return [json.loads(body) for _, body in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpServer:
    """The least SMTP a client needs (EHLO, MAIL, RCPT, DATA, QUIT) on 127.0.0.1; keeps each message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                sender, recipients = "", []
                self.reply("220 localhost test SMTP")
                while line := self.rfile.readline():
                    verb = line.decode().strip().split(" ")[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 localhost")
                    elif verb == "MAIL":
                        sender = line.decode().strip()[len("MAIL FROM:") :]
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        recipients.append(line.decode().strip()[len("RCPT TO:") :])
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        data = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        outer.messages.append((sender, recipients, data))
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 OK")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback webhooks must not go through an HTTP proxy of the environment."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


def notify_settings(data_dir: Path, **extra: str) -> Settings:
    return fast_settings(data_dir).with_overrides(**{**FAST_NOTIFY, **extra})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return notify_settings(tmp_path / "data")


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = build(settings)
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(services.app(), headers={"x-api-key": API_KEY}) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One server for the tests that only read or validate (building one per parameter would be slow)."""
    svc = build(notify_settings(tmp_path_factory.mktemp("shared") / "data"))
    svc.start()
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as test_client:
            yield test_client
    finally:
        svc.stop()


def component(services: Services) -> Notifications:
    found = services.components["notifications"]
    assert isinstance(found, Notifications)
    return found


def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def job_event(job_id: str, status: str, **detail: Any) -> JSONDict:
    """A MediaConvert "Job State Change" event as EventBridge shapes it (and the jobs package appends it)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "MediaConvert Job State Change",
        "source": "aws.mediaconvert",
        "time": "2026-11-23T10:00:00Z",
        "region": "local",
        "detail": {"timestamp": 1, "jobId": job_id, "status": status, "userMetadata": {}, **detail},
    }


def append(services: Services, source: str, payload: JSONDict, asset_id: str | None = None) -> int:
    with services.db.write() as conn:
        services.changes.append(conn, source, asset_id, payload)
    services.changes.notify()
    return services.changes.last_seq()


def subscribe(client: TestClient, body: JSONDict) -> JSONDict:
    r = client.post("/api/notifications", json=body)
    assert r.status_code == 200, r.text
    record: JSONDict = r.json()
    return record


def deliveries(client: TestClient, subscription_id: str) -> list[JSONDict]:
    r = client.get(f"/api/notifications/{subscription_id}/deliveries")
    assert r.status_code == 200, r.text
    items: list[JSONDict] = r.json()
    return items


def settled(client: TestClient, subscription_id: str, count: int) -> list[JSONDict]:
    """The delivery log once it has ``count`` entries, none pending."""

    def check() -> list[JSONDict] | None:
        items = deliveries(client, subscription_id)
        return items if len(items) >= count and all(d["State"] != "pending" for d in items) else None

    found: list[JSONDict] = eventually(check, what=f"{count} settled deliveries")
    return found


# --- webhooks ---------------------------------------------------------------------------------------------------


def test_webhook_gets_signed_notifications_for_every_status_of_an_execution(
    client: TestClient, receiver: Receiver
) -> None:
    sub = subscribe(client, {"Url": receiver.url})
    assert sub["Kind"] == "webhook"
    assert sub["Events"] == ["execution", "job"]
    secret = sub["Secret"]
    assert len(secret) >= 32
    make_workflow(client, "notify-wf", [[operation("notify-op")]])
    execution = start(client, "notify-wf", "upload/notify.mp4")
    assert wait_for(client, execution["Id"], {"Complete", "Error"})["Status"] == "Complete"
    log = settled(client, sub["Id"], 3)
    assert [d["Status"] for d in log] == ["Queued", "Started", "Complete"]
    assert all(d["State"] == "delivered" and d["Attempts"] == 1 and d["StatusCode"] == 200 for d in log)
    assert len(receiver.requests) == 3
    for headers, body in receiver.requests:
        # The signature is an HMAC-SHA256 of the exact body bytes, keyed with the subscription's secret.
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-mie-signature"] == expected
        assert verify(secret, body, headers["x-mie-signature"])
        assert not verify("another secret of 32 characters", body, headers["x-mie-signature"])
        assert abs(int(headers["x-mie-timestamp"]) - time.time()) < 60
        assert headers["content-type"] == "application/json"
        assert headers["x-mie-event"] == "execution"
        payload = json.loads(body)
        assert headers["x-mie-delivery"] == payload["Id"]
        assert payload["ExecutionId"] == execution["Id"]
        assert payload["AssetId"] == execution["AssetId"]
        assert payload["Detail"]["Id"] == execution["Id"]
        assert payload["Detail"]["Status"] == payload["Status"]
    # Two senders work in parallel: the arrival order is not guaranteed, Seq gives the order of the changes.
    bodies = sorted(receiver.bodies(), key=lambda b: int(b["Seq"]))
    assert [b["Status"] for b in bodies] == ["Queued", "Started", "Complete"]
    assert bodies[-1]["Message"].startswith(f"Workflow execution {execution['Id']} on asset {execution['AssetId']}")
    assert f"/api/workflow/execution/{execution['Id']}" in bodies[-1]["Message"]
    # The secret is shown once: never by GET or in listings.
    assert "Secret" not in client.get(f"/api/notifications/{sub['Id']}").json()
    assert all("Secret" not in s for s in client.get("/api/notifications").json())


def test_failing_receiver_is_retried_with_backoff_and_the_log_shows_attempts(client: TestClient) -> None:
    flaky = Receiver(codes=[500, 200])
    try:
        sub = subscribe(client, {"Url": flaky.url, "Events": ["job"], "Secret": "s" * 20})
        services = client.app.state.services  # type: ignore[attr-defined]
        append(services, JOB_SOURCE, job_event("job-1", "COMPLETE"))
        [entry] = settled(client, sub["Id"], 1)
        assert entry["State"] == "delivered"
        assert entry["Attempts"] == 2
        assert entry["StatusCode"] == 200
        assert entry["LastError"] is None
        assert len(flaky.requests) == 2
        (first_headers, first_body), (second_headers, second_body) = flaky.requests
        assert first_headers["x-mie-delivery"] == second_headers["x-mie-delivery"] == entry["Id"]
        assert first_body == second_body  # the same body on every attempt, signed again
        assert second_headers["x-mie-signature"] == sign("s" * 20, second_body)
        body = json.loads(second_body)
        assert body["Event"] == "job"
        assert body["JobId"] == "job-1"
        assert body["Message"] == (
            "Job job-1 finished with status COMPLETE. Job details: http://127.0.0.1:8080/api/jobs/job-1"
        )
    finally:
        flaky.close()


def test_retries_run_out_and_the_failure_is_logged(client: TestClient) -> None:
    broken = Receiver(codes=[503] * 10)
    try:
        sub = subscribe(client, {"Url": broken.url, "Events": ["job"]})
        services = client.app.state.services  # type: ignore[attr-defined]
        append(services, JOB_SOURCE, job_event("job-2", "ERROR", errorCode=1010, errorMessage="bad input"))
        [entry] = settled(client, sub["Id"], 1)
        assert entry["State"] == "failed"
        assert entry["Attempts"] == 3  # MIE_NOTIFY_ATTEMPTS
        assert entry["StatusCode"] == 503
        assert entry["LastError"].startswith("HTTP 503")
        assert len(broken.requests) == 3
        assert "Error 1010: bad input" in entry["Payload"]["Message"]
    finally:
        broken.close()


def test_an_unreachable_receiver_is_a_logged_failure(client: TestClient) -> None:
    dead = Receiver()
    dead.close()  # nothing listens on its port any more
    sub = subscribe(client, {"Url": dead.url, "Events": ["job"]})
    append(client.app.state.services, JOB_SOURCE, job_event("job-3", "COMPLETE"))  # type: ignore[attr-defined]
    [entry] = settled(client, sub["Id"], 1)
    assert entry["State"] == "failed"
    assert entry["StatusCode"] is None
    assert "ConnectError" in entry["LastError"]


def test_event_types_and_status_filters_choose_what_is_sent(client: TestClient, receiver: Receiver) -> None:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    done = subscribe(client, {"Url": receiver.url, "Events": ["execution"], "Statuses": ["complete", "Error"]})
    jobs = subscribe(client, {"Url": receiver.url, "Events": ["JOB"], "Statuses": ["ERROR"]})
    assert jobs["Events"] == ["job"]
    execution = {"Id": "e1", "AssetId": "a1", "Status": "Started", "CurrentStage": "s", "Message": None}
    append(services, WORKFLOW_EXECUTION, execution, "a1")
    append(services, WORKFLOW_EXECUTION, {**execution, "Status": "Complete", "CurrentStage": "End"}, "a1")
    for status in ("PROGRESSING", "STATUS_UPDATE", "COMPLETE", "CANCELED", "ERROR"):
        append(services, JOB_SOURCE, job_event("job-4", status))
    # Events of other sources are not notifications.
    append(services, "Dataplane", {"EventName": "INSERT", "AssetId": "a1"}, "a1")
    assert component(services).consumer.wait_until(services.changes.last_seq(), 10)
    assert [d["Status"] for d in settled(client, done["Id"], 1)] == ["Complete"]
    assert [d["Status"] for d in settled(client, jobs["Id"], 1)] == ["ERROR"]
    assert len(receiver.requests) == 2


def test_a_subscription_hears_only_events_logged_after_it(client: TestClient, receiver: Receiver) -> None:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    append(services, JOB_SOURCE, job_event("before", "COMPLETE"))
    sub = subscribe(client, {"Url": receiver.url, "Events": ["job"]})
    assert sub["FromSeq"] == services.changes.last_seq()
    append(services, JOB_SOURCE, job_event("after", "COMPLETE"))
    assert [d["Payload"]["JobId"] for d in settled(client, sub["Id"], 1)] == ["after"]


# --- e-mail -----------------------------------------------------------------------------------------------------


def test_email_carries_the_samples_message_text(tmp_path: Path) -> None:
    smtp = SmtpServer()
    settings = notify_settings(
        tmp_path / "data", smtp_host="127.0.0.1", smtp_port=str(smtp.port), smtp_from="mie@example.com"
    )
    svc = build(settings)
    svc.start()
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            sub = subscribe(client, {"Email": "ops@example.com"})
            assert sub["Kind"] == "email"
            assert sub["Events"] == ["job"]
            assert "Secret" not in sub
            append(svc, JOB_SOURCE, job_event("1637012345678-abcdef", "COMPLETE"))
            [entry] = settled(client, sub["Id"], 1)
            assert entry["State"] == "delivered", entry
    finally:
        svc.stop()
        smtp.close()
    [(sender, recipients, data)] = smtp.messages
    assert sender == "<mie@example.com>"
    assert recipients == ["<ops@example.com>"]
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["To"] == "ops@example.com"
    assert message["Subject"] == "MIE job 1637012345678-abcdef finished with status COMPLETE"
    text = message.get_body(("plain",)).get_content().strip()  # type: ignore[union-attr]
    assert text == (
        "Job 1637012345678-abcdef finished with status COMPLETE. "
        "Job details: http://127.0.0.1:8080/api/jobs/1637012345678-abcdef"
    )


def test_email_subscriptions_need_smtp(shared_client: TestClient) -> None:
    assert_error(shared_client.post("/api/notifications", json={"Email": "ops@example.com"}), 400, "MIE_SMTP_HOST")


# --- restarts ---------------------------------------------------------------------------------------------------


def test_restart_neither_loses_nor_resends_notifications(settings: Settings, receiver: Receiver) -> None:
    first = build(settings)
    first.start()
    try:
        with TestClient(first.app(), headers={"x-api-key": API_KEY}) as client:
            sub = subscribe(client, {"Url": receiver.url, "Events": ["job"]})
            append(first, JOB_SOURCE, job_event("job-a", "COMPLETE"))
            settled(client, sub["Id"], 1)
    finally:
        first.stop()
    # While the server is down, a job finishes (its event is in the log; nobody follows it).
    down = build(settings)
    try:
        append(down, JOB_SOURCE, job_event("job-b", "ERROR"))
        down.start()
        with TestClient(down.app(), headers={"x-api-key": API_KEY}) as client:
            log = settled(client, sub["Id"], 2)
            assert component(down).consumer.wait_until(down.changes.last_seq(), 10)
            time.sleep(0.3)  # room for a duplicate to show up
            log = deliveries(client, sub["Id"])
    finally:
        down.stop()
    assert [d["Payload"]["JobId"] for d in log] == ["job-a", "job-b"]
    assert [d["State"] for d in log] == ["delivered", "delivered"]
    assert [b["JobId"] for b in receiver.bodies()] == ["job-a", "job-b"]


def test_planning_is_idempotent(client: TestClient, receiver: Receiver) -> None:
    """The consumer may hand a batch again after a crash before its offset was saved: nothing is planned twice."""
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    notifications = component(services)
    sub = subscribe(client, {"Url": receiver.url, "Events": ["job"]})
    seq = append(services, JOB_SOURCE, job_event("job-5", "COMPLETE"))
    settled(client, sub["Id"], 1)
    events = services.changes.read(seq - 1, limit=1)
    notifications.plan(events)
    notifications.plan(events)
    assert len(deliveries(client, sub["Id"])) == 1
    time.sleep(0.2)
    assert len(receiver.requests) == 1


class MemoryOffsets:
    def __init__(self, fail_saves: int = 0) -> None:
        self.saved: dict[str, int] = {}
        self.fail_saves = fail_saves

    def load(self, name: str) -> int | None:
        return self.saved.get(name)

    def save(self, name: str, seq: int) -> None:
        if self.fail_saves:
            self.fail_saves -= 1
            raise RuntimeError("database went away")
        self.saved[name] = seq


def test_consumer_hands_a_batch_again_when_its_offset_cannot_be_saved(services: Services) -> None:
    offsets = MemoryOffsets()
    offsets.saved["test"] = services.changes.last_seq()  # start after what is there
    seen: list[list[int]] = []
    consumer = ChangeConsumer(
        "test", services.changes, offsets, lambda batch: seen.append([e["seq"] for e in batch]), sources={JOB_SOURCE}
    )
    consumer.start()
    try:
        offsets.fail_saves = 1
        first = append(services, JOB_SOURCE, job_event("j", "COMPLETE"))
        assert consumer.wait_until(first, 10)
        assert seen == [[first], [first]]  # handed again, never skipped
        other = append(services, "Dataplane", {"EventName": "INSERT"})
        assert consumer.wait_until(other, 10)  # the offset moves past events of other sources
        assert offsets.saved["test"] == other
        assert seen == [[first], [first]]
    finally:
        consumer.stop()
    assert not consumer.running


# --- the API ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([1, 2], "JSON object"),
        ({}, "exactly one of Url"),
        ({"Url": "http://example.com", "Email": "a@example.com"}, "exactly one of Url"),
        ({"Url": ""}, "non-empty string"),
        ({"Url": 42}, "non-empty string"),
        ({"Url": "ftp://example.com/x"}, "http:// or https://"),
        ({"Url": "example.com/hook"}, "http:// or https://"),
        ({"Url": "http://"}, "has no host"),
        ({"Url": "http://exa mple.com"}, "spaces"),
        ({"Url": "http://example.com:99999/x"}, "invalid port"),
        ({"Url": "http://user:pw@example.com/"}, "credentials"),
        ({"Url": "http://exa$mple.com/"}, "invalid host"),
        ({"Url": "http://example.com/" + "x" * 3000}, "longer than"),
        ({"Email": "not-an-address"}, "not an e-mail address"),
        ({"Url": "http://example.com", "Events": []}, "non-empty list"),
        ({"Url": "http://example.com", "Events": "job"}, "non-empty list"),
        ({"Url": "http://example.com", "Events": ["jobs"]}, "unknown event type"),
        ({"Url": "http://example.com", "Statuses": ["Done"]}, "unknown status"),
        ({"Url": "http://example.com", "Events": ["job"], "Statuses": ["Started"]}, "unknown status"),
        ({"Url": "http://example.com", "Statuses": []}, "non-empty list"),
        ({"Url": "http://example.com", "Secret": "short"}, "16 to 256"),
        ({"Url": "http://example.com", "Topic": "x"}, "unknown field(s) Topic"),
    ],
)
def test_bad_subscription_bodies_are_400(shared_client: TestClient, body: Any, needle: str) -> None:
    assert_error(shared_client.post("/api/notifications", json=body), 400, needle)


def test_a_body_that_is_not_json_is_400(shared_client: TestClient) -> None:
    r = shared_client.post("/api/notifications", content=b"{nope", headers={"content-type": "application/json"})
    assert_error(r, 400, "not valid JSON")


def test_subscriptions_list_get_delete_and_auth(client: TestClient) -> None:
    made = [subscribe(client, {"Url": f"https://hooks.example.com/{i}"}) for i in range(3)]
    first = client.get("/api/notifications", params={"limit": 2})
    assert first.status_code == 200
    assert [s["Id"] for s in first.json()] == [m["Id"] for m in made[:2]]
    token = first.headers["X-Next-Token"]
    rest = client.get("/api/notifications", params={"limit": 2, "next": token})
    assert [s["Id"] for s in rest.json()] == [made[2]["Id"]]
    assert "X-Next-Token" not in rest.headers
    assert_error(client.get("/api/notifications", params={"next": "Zm9v"}), 400, "next")
    got = client.get(f"/api/notifications/{made[0]['Id']}").json()
    assert got["Url"] == "https://hooks.example.com/0"
    assert client.delete(f"/api/notifications/{made[0]['Id']}").json()["Id"] == made[0]["Id"]
    assert_error(client.get(f"/api/notifications/{made[0]['Id']}"), 404, made[0]["Id"])
    assert_error(client.delete(f"/api/notifications/{made[0]['Id']}"), 404)
    assert_error(client.get(f"/api/notifications/{made[0]['Id']}/deliveries"), 404)
    assert len(client.get("/api/notifications").json()) == 2
    anonymous = client.get("/api/notifications", headers={"x-api-key": ""})
    assert_error(anonymous, 401)


# --- pieces -----------------------------------------------------------------------------------------------------


def test_settings_come_from_mie_variables(tmp_path: Path) -> None:
    base = fast_settings(tmp_path)
    defaults = NotifySettings.from_settings(base)
    assert (defaults.attempts, defaults.backoff, defaults.timeout, defaults.smtp) == (5, 2.0, 10.0, None)
    assert [defaults.retry_delay(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert defaults.retry_delay(20) == 300.0
    smtp = NotifySettings.from_settings(base.with_overrides(smtp_host="mail", smtp_ssl="true", smtp_from="a@b.c")).smtp
    assert smtp is not None
    assert (smtp.host, smtp.port, smtp.ssl, smtp.sender) == ("mail", 465, True, "a@b.c")
    for extra, needle in [
        ({"notify_attempts": "0"}, "MIE_NOTIFY_ATTEMPTS"),
        ({"notify_backoff": "soon"}, "MIE_NOTIFY_BACKOFF"),
        ({"smtp_host": "mail", "smtp_port": "x"}, "MIE_SMTP_PORT"),
        ({"smtp_host": "mail", "smtp_ssl": "maybe"}, "MIE_SMTP_SSL"),
        ({"smtp_host": "mail", "smtp_user": "u"}, "MIE_SMTP_PASSWORD"),
    ]:
        with pytest.raises(ConfigurationError, match=needle):
            NotifySettings.from_settings(base.with_overrides(**extra))
    public = NotifySettings.from_settings(base.with_overrides(public_url="https://mie.example.com/"))
    assert public.public_url == "https://mie.example.com"


def test_classify_reads_execution_and_mediaconvert_events() -> None:
    execution = {"seq": 1, "source": WORKFLOW_EXECUTION, "payload": {"Id": "e", "Status": "Error"}}
    assert classify(execution) == ("execution", "Error", execution["payload"])
    complete = {"seq": 2, "source": JOB_SOURCE, "payload": job_event("j", "COMPLETE")}
    assert classify(complete) is not None
    assert classify(complete)[:2] == ("job", "COMPLETE")  # type: ignore[index]
    progressing = {"seq": 3, "source": JOB_SOURCE, "payload": job_event("j", "PROGRESSING")}
    assert classify(progressing) is None
    api_call = {"seq": 4, "source": JOB_SOURCE, "payload": {"detail-type": "AWS API Call via CloudTrail"}}
    assert classify(api_call) is None
    assert classify({"seq": 5, "source": "Dataplane", "payload": {"Status": "Complete"}}) is None
