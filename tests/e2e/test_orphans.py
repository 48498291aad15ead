"""Worker processes die with their server: after a ``kill -9`` of ``mie serve`` none keeps running (and writing)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import FAST_ENV, MieServer
from tests.helpers import make_workflow, upload


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {**FAST_ENV, "MIE_PLUGINS": "tests.e2e.process_ops:register"}


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is dead: it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_worker_processes_die_with_a_killed_server(server: MieServer, tmp_path: Path) -> None:
    client = server.client
    registered = client.post("/api/operators/E2eProcessWriter/register")
    assert registered.status_code == 200, registered.text
    make_workflow(client, "orphan-proc-wf", [[registered.json()]])
    upload(client, "upload/orphan-proc.mp4")
    pid_file = tmp_path / "worker.pid"
    started = client.post(
        "/api/workflow/execution",
        json={
            "Name": "orphan-proc-wf",
            "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/orphan-proc.mp4"}}},
            "Configuration": {"orphan-proc-wf-stage0": {"E2eProcessWriter": {"PidFile": str(pid_file)}}},
        },
    )
    assert started.status_code == 200, started.text
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text().count(".") >= 3):
        assert time.monotonic() < deadline, "the process operator did not start"
        time.sleep(0.1)
    pid = int(pid_file.read_text().split()[0])
    assert pid != server.proc.pid if server.proc else True
    assert _running(pid)
    server.kill()
    deadline = time.monotonic() + 5
    while _running(pid):
        assert time.monotonic() < deadline, f"worker process {pid} outlived the killed server"
        time.sleep(0.05)
    # And it stopped writing.
    written = pid_file.read_text()
    time.sleep(0.5)
    assert pid_file.read_text() == written
    server.start()  # the module's server is stopped (and checked) cleanly at the end
    assert os.path.exists(pid_file)
