"""Webhooks against a real ``mie serve``: subscribe with the CLI, run a workflow, receive signed notifications on
loopback, read the delivery log, restart the server (nothing is sent again), unsubscribe."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from mie.consumers.webhooks import verify
from tests.e2e.conftest import FAST_ENV, MieServer
from tests.helpers import API_KEY, make_workflow, operation, start, wait_for
from tests.unit.test_notifications import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {**FAST_ENV, "MIE_NOTIFY_BACKOFF": "0.05", "MIE_NOTIFY_BACKOFF_MAX": "0.2", "MIE_NOTIFY_ATTEMPTS": "4"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(codes=[502])  # the first POST fails: the server retries it
    yield rec
    rec.close()


def mie(server: MieServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIE_")}
    env.update({"MIE_URL": server.base_url, "MIE_API_KEY": API_KEY, "COLUMNS": "200"})
    proc = subprocess.run(
        [*MieServer.command(), *args], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, f"mie {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def wait_requests(receiver: Receiver, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.requests) < count:
        assert time.monotonic() < deadline, f"{len(receiver.requests)} of {count} webhook requests arrived"
        time.sleep(0.05)


def test_cli_subscription_signed_webhooks_retries_and_restart(server: MieServer, receiver: Receiver) -> None:
    added = json.loads(
        mie(server, "notification", "add", receiver.url, "-e", "execution", "-s", "Complete", "--json").stdout
    )
    secret, sub_id = added["Secret"], added["Id"]
    assert sub_id in mie(server, "notification", "list").stdout
    client = server.client
    make_workflow(client, "hooked", [[operation("hooked-op")]])
    execution = start(client, "hooked", "upload/hooked.mp4")
    assert wait_for(client, execution["Id"], {"Complete", "Error"})["Status"] == "Complete"
    wait_requests(receiver, 2)  # one 502, then the retry
    for headers, body in receiver.requests:
        assert verify(secret, body, headers["x-mie-signature"])
        assert json.loads(body)["ExecutionId"] == execution["Id"]
    deadline = time.monotonic() + 10
    while True:
        log = json.loads(mie(server, "notification", "deliveries", sub_id, "--json").stdout)
        if (log and log[0]["State"] == "delivered") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [(d["Status"], d["State"], d["Attempts"], d["StatusCode"]) for d in log] == [
        ("Complete", "delivered", 2, 200)
    ]
    assert "delivered" in mie(server, "notification", "deliveries", sub_id).stdout

    server.stop()
    server.start()
    time.sleep(0.5)
    assert len(receiver.requests) == 2  # nothing is sent again after the restart
    second = start(client, "hooked", "upload/hooked-2.mp4")
    assert wait_for(client, second["Id"], {"Complete", "Error"})["Status"] == "Complete"
    wait_requests(receiver, 3)
    assert json.loads(receiver.requests[-1][1])["ExecutionId"] == second["Id"]

    assert f"deleted subscription {sub_id}" in mie(server, "notification", "delete", sub_id).stdout
    assert "no subscriptions" in mie(server, "notification", "list").stdout
