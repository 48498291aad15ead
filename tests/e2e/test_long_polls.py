"""Long polls of the change feed hold no request thread: with more waiting polls than the server has threads for
synchronous routes, those routes still answer, and every poll wakes on the next event."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import MieServer
from tests.helpers import API_KEY, upload

pytestmark = pytest.mark.e2e

#: More than the 40 threads Starlette runs synchronous routes on.
WAITERS = 60


def test_many_long_polls_do_not_freeze_other_routes(server: MieServer) -> None:
    client = server.client
    last = client.get("/api/dataplane/changes", params={"after": 0, "limit": 1000}).json()["last"]
    while True:  # to the end of the feed
        page = client.get("/api/dataplane/changes", params={"after": last, "limit": 1000}).json()
        if not page["changes"]:
            break
        last = page["last"]
    results: list[Any] = [None] * WAITERS
    ready = threading.Barrier(WAITERS + 1)

    def poll(index: int) -> None:
        with httpx.Client(base_url=server.base_url, headers={"x-api-key": API_KEY}, timeout=90) as mine:
            ready.wait()
            results[index] = mine.get("/api/dataplane/changes", params={"after": last, "wait": 50}).json()

    threads = [threading.Thread(target=poll, args=(i,), daemon=True) for i in range(WAITERS)]
    for thread in threads:
        thread.start()
    ready.wait()
    # While every poll waits (50 s), synchronous routes answer: before, the polls held every pool thread.
    for _ in range(3):
        assert client.get("/api/workflow/operation", timeout=20).status_code == 200
        assert client.get("/api/dataplane/checkouts", timeout=20).json() == {"locks": []}
    assert all(result is None for result in results)  # nobody woke without an event
    # One event wakes every poll, long before their 50 s.
    upload(client, "upload/wake.mp4")
    created = client.post(
        "/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": "upload/wake.mp4"}}
    )
    assert created.status_code == 200, created.text
    for thread in threads:
        thread.join(30)
    assert all(result is not None and result["changes"] for result in results)
    assert {result["changes"][0]["AssetId"] for result in results} == {created.json()["AssetId"]}
