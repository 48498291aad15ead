"""Crashes during paged writes: ``kill -9`` of ``mie serve`` while an operator stores a paged result, several times
and at different points, then a restart on the same data directory each time. At-least-once execution re-runs the
task, and the stored result must read back exactly pages ``0..N-1``, once each, all from the attempt that finished
(no page of an interrupted attempt doubled, none missing), with the execution Complete.

The operators (tests/e2e/crash_ops.py) journal each attempt's start and each page write to a file, which tells the
test when to kill, and hold where the test kills them, so that each kill interrupts its attempt however loaded the
machine is: between two page writes, as a write starts, and after the last page was stored (the result finished,
the task not yet recorded as done).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import MieServer
from tests.helpers import make_workflow, upload, wait_for

pytestmark = pytest.mark.e2e

Launch = Callable[..., MieServer]

PAGES = 8
PAUSE = 0.05
PLUGIN = {"MIE_PLUGINS": "tests.e2e.crash_ops:register"}


class Journal:
    """The operator's journal: one ``start <pid>`` line per attempt, then ``stored <i>`` lines, then ``done``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def attempts(self) -> list[list[str]]:
        """Lines per attempt, oldest attempt first."""
        text = self.path.read_text() if self.path.exists() else ""
        out: list[list[str]] = []
        for line in text.splitlines():
            if line.startswith("start "):
                out.append([line])
            elif out:
                out[-1].append(line)
        return out

    def wait_for(self, attempt: int, line: str, timeout: float = 60.0) -> None:
        """Until attempt number ``attempt`` (1-based) has journaled ``line``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            attempts = self.attempts()
            if len(attempts) >= attempt and line in attempts[attempt - 1]:
                return
            time.sleep(0.01)
        raise AssertionError(f"attempt {attempt} never journaled {line!r}: {self.attempts()}")


def all_pages(client: httpx.Client, asset_id: str, operator_name: str) -> list[Any]:
    """Every page of a paged result, following the cursor to the end."""
    url = f"/api/dataplane/metadata/{asset_id}/{operator_name}"
    response = client.get(url)
    assert response.status_code == 200, response.text
    body = response.json()
    pages = [body["results"]]
    while "cursor" in body:
        response = client.get(url, params={"cursor": body["cursor"]})
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["results"])
        assert len(pages) <= 10 * PAGES, f"the cursor does not end: {pages}"
    return pages


def asset_walk(client: httpx.Client, asset_id: str, operator_name: str) -> list[Any]:
    """The pages of ``operator_name`` met while walking the whole asset's metadata with its cursor."""
    url = f"/api/dataplane/metadata/{asset_id}"
    body = client.get(url).json()
    found: list[Any] = []
    steps = 0
    while "cursor" in body:
        response = client.get(url, params={"cursor": body["cursor"]})
        assert response.status_code == 200, response.text
        body = response.json()
        if body.get("operator") == operator_name:
            found.append(body["results"])
        steps += 1
        assert steps <= 4 * PAGES, "the cursor does not end"
    return found


#: Where each attempt is killed, as (the page it holds after, the journal line the kill follows at once):
#: 1. between two page writes (pages 0 and 1 stored, the operator waiting);
#: 2. just as page 4 is written: the kill lands before, during or after that write (the operator holds after it, so
#:    the attempt is interrupted whatever the timing);
#: 3. after the last page was stored with ``end`` (the result is readable) but before the task is recorded done.
KILLS = [(1, "stored 1"), (4, "writing 4"), (PAGES - 1, f"stored {PAGES - 1}")]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("operator_name", ["E2eCrashPages", "E2eCrashPagesProcess"])
def test_kill_9_during_paged_writes_then_restart_stores_every_page_once(
    launch: Launch, tmp_path: Path, operator_name: str
) -> None:
    # Each kill costs the task one of its retries (MIE_OPERATOR_RETRIES, 2 by default, after which an interrupted task
    # fails): allow one per kill, so that the attempt after the last kill may finish.
    server = launch(**PLUGIN, MIE_OPERATOR_RETRIES=str(len(KILLS)))
    client = server.client
    registered = client.post(f"/api/operators/{operator_name}/register")
    assert registered.status_code == 200, registered.text
    workflow = f"crash-{operator_name}"
    make_workflow(client, workflow, [[registered.json()]])
    upload(client, "upload/crash.mp4")
    journal = Journal(tmp_path / "journal.txt")
    started = client.post(
        "/api/workflow/execution",
        json={
            "Name": workflow,
            "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/crash.mp4"}}},
            "Configuration": {
                f"{workflow}-stage0": {
                    operator_name: {
                        "Pages": PAGES,
                        "PauseSeconds": PAUSE,
                        "Journal": str(journal.path),
                        "Holds": ",".join(str(hold) for hold, _ in KILLS),
                    }
                }
            },
        },
    )
    assert started.status_code == 200, started.text
    execution_id = started.json()["Id"]

    for attempt, (_, line) in enumerate(KILLS, start=1):
        journal.wait_for(attempt, line)
        server.kill()
        assert server.proc is not None
        assert server.proc.returncode == -signal.SIGKILL
        server.start()

    done = wait_for(client, execution_id, {"Complete", "Error"}, timeout=90)
    assert done["Status"] == "Complete", done.get("Message")
    attempts = journal.attempts()
    # Each kill interrupted one attempt and the restart ran another; the last one finished.
    assert len(attempts) >= len(KILLS) + 1, attempts
    assert attempts[-1][-1] == "done", attempts
    for attempt, (hold, line) in zip(attempts, KILLS, strict=False):
        assert line in attempt, attempts
        assert f"writing {hold + 1}" not in attempt, f"an attempt went past its hold: {attempts}"
        assert "done" not in attempt, f"an attempt that was to be killed finished: {attempts}"
    last_pid = int(attempts[-1][0].split()[1])

    pages = all_pages(client, done["AssetId"], operator_name)
    assert [page["Page"] for page in pages] == list(range(PAGES)), pages
    assert {page["Pid"] for page in pages} == {last_pid}, "pages of an interrupted attempt are still there"
    assert {page["Attempt"] for page in pages} == {len(attempts)}, pages
    # The whole-asset walk (MIE's cursor protocol over every operator) reads the same pages, once.
    assert asset_walk(client, done["AssetId"], operator_name) == pages
