"""Statuses as the CLI shows them: registrations, operators of a running stage, cancelled executions, and errors
that name the real cause (a wrong URL is not a wrong key)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mie.cli import client as cli_client
from mie.cli import render
from mie.cli.client import CliError, Connection, MieClient
from mie.cli.resources import registration

OPERATION = {
    "Name": "AudioLoudness",
    "Type": "Sync",
    "Configuration": {"MediaType": "Audio", "Enabled": True, "TargetLoudness": -23},
    "StartLambdaArn": "AudioLoudness",
}


def test_a_fresh_registration_is_not_outdated() -> None:
    operator = {"Name": "AudioLoudness", "Version": "1.0.0", "Registered": True, "RegisteredVersion": "v0",
                "Operation": OPERATION}  # fmt: skip
    stored = {**OPERATION, "Version": "v0", "Id": "x", "StateMachineAsl": {}}
    assert registration(operator, stored).plain == "yes"
    updated = {**stored, "Version": "v2"}
    assert registration({**operator, "RegisteredVersion": "v2"}, updated).plain == "yes (v2)"
    edited = {**stored, "Configuration": {**OPERATION["Configuration"], "TargetLoudness": -16}}
    assert registration(operator, edited).plain.startswith("differs (Configuration)")
    assert registration({**operator, "Registered": False, "RegisteredVersion": None}, None).plain == "no"


def running_record() -> dict[str, Any]:
    return {
        "Id": "e1",
        "Status": "Started",
        "CurrentStage": "Video",
        "Workflow": {
            "StartAt": "Prelim",
            "Stages": {
                "Prelim": {
                    "Status": "Complete",
                    "Operations": ["Mediainfo"],
                    "Next": "Video",
                    "Outputs": [{"Name": "Mediainfo", "Status": "Complete", "MetaData": {"Duration": 1}}],
                },
                "Video": {
                    "Status": "Started",
                    "Operations": ["labelDetection", "faceDetection", "textDetection"],
                    "Next": "Text",
                },
                "Text": {"Status": "Not Started", "Operations": ["DetectSentiment"], "End": True},
            },
        },
        "Progress": [
            {"Stage": "Video", "Operation": "labelDetection", "State": "Done"},
            {"Stage": "Video", "Operation": "faceDetection", "State": "Running", "Percent": 40},
        ],
    }


def test_operators_of_the_running_stage_take_their_state_from_progress() -> None:
    rows = {r["Operator"]: r["Status"] for r in render.operator_outputs(running_record())}
    assert rows == {
        "Mediainfo": "Complete",
        "labelDetection": "Done",  # done, while its stage still runs: never "Not Started"
        "faceDetection": "Running",
        "textDetection": "Pending",
        "DetectSentiment": "Not Started",
    }


def test_a_cancelled_execution_shows_as_cancelled() -> None:
    record = {**running_record(), "Status": "Error", "Message": "Cancelled by request", "CurrentStage": "End"}
    del record["Progress"]
    assert render.execution_status(record) == "Cancelled"
    rows = {r["Operator"]: r["Status"] for r in render.operator_outputs(record)}
    assert rows["labelDetection"] == "Cancelled"
    assert rows["DetectSentiment"] == "Not Started"
    assert render.execution_status({"Status": "Error", "Message": "labelDetection failed"}) == "Error"


@pytest.fixture
def answer(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[httpx.Response]]:
    """The one response every request of the CLI's client gets."""
    responses: list[httpx.Response] = []
    monkeypatch.setattr(cli_client, "transport_override", httpx.MockTransport(lambda _: responses[0]))
    return responses


def error_of(key: str | None) -> str:
    client = MieClient(Connection("http://127.0.0.1:9", key, "--api-key" if key else "", cli_client.Path("k")))
    with pytest.raises(CliError) as caught:
        client.get("/api/workflow")
    return caught.value.message


def test_a_wrong_key_is_blamed_on_the_key(answer: list[httpx.Response]) -> None:
    answer.append(httpx.Response(401, json={"Code": "UnauthorizedError", "Message": "The API key is not valid"}))
    message = error_of("wrong")
    assert "refused the API key from --api-key" in message


def test_a_wrong_url_is_not_blamed_on_the_key(answer: list[httpx.Response]) -> None:
    answer.append(httpx.Response(401, text="<html><body>Login required</body></html>"))
    message = error_of("right")
    assert "API key" not in message
    assert "--url" in message
    answer[0] = httpx.Response(404, text="<html>Not Found</html>")
    assert "does not answer like a mie server" in error_of("right")


def test_nothing_listening_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = MieClient(Connection(f"http://127.0.0.1:{port}", "key", "--api-key", cli_client.Path("k")))
    with pytest.raises(CliError, match="cannot reach mie at"):
        client.get("/api/workflow")


def test_serve_on_a_taken_port_fails_before_saying_it_serves(tmp_path: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "mie.cli.main", "serve", "--port", str(port), "--data-dir", str(tmp_path)],
            env={k: v for k, v in os.environ.items() if not k.startswith("MIE_")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 1, proc
    assert "serving" not in proc.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing was started: no database, no key
