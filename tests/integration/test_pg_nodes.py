"""Two engines ("nodes") on one PostgreSQL database: they share the work, never run a task twice, and never admit
more than ``MaxConcurrentWorkflows`` between them."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from mie.bootstrap import Services, build
from mie.config import Settings
from mie.engine import statuses as records
from mie.storage.sql.tables import executions, tasks
from mie.types import TERMINAL_STATUSES
from tests.conftest import fast_settings
from tests.helpers import API_KEY, MP4_BYTES, changes, make_workflow, operation, start, wait_for
from tests.integration.test_pg_engine import StartedSampler

pytestmark = pytest.mark.integration


class Recorder:
    """Operator handlers that record which node ran which task, and how many executions ran at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[str, str, str]] = []
        self._active: collections.Counter[str] = collections.Counter()
        self.most_active = 0

    def handler(self, node: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
            execution_id = event["WorkflowExecutionId"]
            with self._lock:
                self.calls.append((node, execution_id, event["Name"]))
                self._active[execution_id] += 1
                self.most_active = max(self.most_active, len(self._active))
            try:
                time.sleep(float(event["Configuration"].get("SleepSeconds", 0)))
            finally:
                with self._lock:
                    self._active[execution_id] -= 1
                    if not self._active[execution_id]:
                        del self._active[execution_id]
            return dict(event, Status="Complete", MetaData={event["Name"]: node})

        return handle


def node_settings(data_dir: Path, url: str, **overrides: object) -> Settings:
    # One data directory for both nodes: it stands for the shared object store (S3 in a real deployment).
    return fast_settings(data_dir, database_url=url, workers=2, **overrides)


@pytest.fixture
def two_nodes(tmp_path: Path, pg_url: str, make_services: Callable[[Settings], Services]) -> tuple[Services, Services]:
    a = make_services(node_settings(tmp_path / "shared", pg_url))
    b = make_services(node_settings(tmp_path / "shared", pg_url))
    return a, b


def test_two_nodes_share_the_work_once_each_within_the_limit(two_nodes: tuple[Services, Services], pg_url: str) -> None:
    a, b = two_nodes
    assert a.scheduler.node_id != b.scheduler.node_id
    recorder = Recorder()
    a.registry.register("NodeRecorder", recorder.handler("a"))
    b.registry.register("NodeRecorder", recorder.handler("b"))
    limit, count = 3, 12
    stop_waking = threading.Event()

    def waker() -> None:
        # Nodes do not wake each other yet (each wakes on its own API calls and workers), so poke both often: the
        # point here is two schedulers racing for the same rows, as many times as possible.
        while not stop_waking.is_set():
            a.scheduler.wake()
            b.scheduler.wake()
            time.sleep(0.01)

    with (
        TestClient(a.app(), headers={"x-api-key": API_KEY}) as client_a,
        TestClient(b.app(), headers={"x-api-key": API_KEY}) as client_b,
    ):
        clients = [client_a, client_b]
        rec = operation("rec", start="NodeRecorder", SleepSeconds=0.05)
        make_workflow(
            client_a,
            "pg-nodes",
            [[dict(rec, Name="rec-a"), dict(rec, Name="rec-b")], [dict(rec, Name="rec-c")]],
        )
        r = client_b.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": limit})
        assert r.status_code == 200, r.text
        waking = threading.Thread(target=waker, daemon=True)
        waking.start()
        try:
            with StartedSampler(pg_url) as sampler:
                ids = [start(clients[i % 2], "pg-nodes", f"upload/node-{i}.mp4")["Id"] for i in range(count)]
                finals = [wait_for(clients[n % 2], i, {"Complete", "Error"}, timeout=60) for n, i in enumerate(ids)]
        finally:
            stop_waking.set()
            waking.join(5)
        assert [f["Status"] for f in finals] == ["Complete"] * count, [f.get("Message") for f in finals]
        feed = changes(client_b, source="WorkflowExecution")
    runs = collections.Counter((execution_id, name) for _, execution_id, name in recorder.calls)
    assert set(runs) == {(i, n) for i in ids for n in ("rec-a", "rec-b", "rec-c")}
    assert max(runs.values()) == 1, [k for k, v in runs.items() if v > 1]
    assert {node for node, _, _ in recorder.calls} == {"a", "b"}
    assert max(sampler.samples) <= limit
    assert recorder.most_active <= limit
    # Each execution was admitted exactly once.
    admitted = collections.Counter(e["payload"]["Id"] for e in feed if e["payload"]["Status"] == "Started")
    assert admitted == dict.fromkeys(ids, 1)


def test_schedulers_stepping_at_the_same_moment_do_not_over_admit(tmp_path: Path, pg_url: str) -> None:
    # Engines built but not started: this test drives both schedulers' steps itself, from two threads at once.
    nodes = [build(node_settings(tmp_path / "shared", pg_url)) for _ in range(2)]
    limit, rounds, per_round = 2, 12, 4
    try:
        a = nodes[0]
        with TestClient(a.app(), headers={"x-api-key": API_KEY}) as client:
            make_workflow(client, "pg-race", [[operation("race-op", SleepSeconds=0.01)]])
            client.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": limit})
        for round_ in range(rounds):
            queued = []
            for i in range(per_round):
                key = f"upload/race-{round_}-{i}.mp4"
                a.dataplane.objects.put_bytes("dataplane", key, MP4_BYTES)
                body = {"Name": "pg-race", "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": key}}}}
                queued.append(a.executions.create(body)["Id"])
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def step(svc: Services, barrier: threading.Barrier = barrier, errors: list[BaseException] = errors) -> None:
                try:
                    barrier.wait(5)
                    svc.scheduler.step()
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=step, args=(svc,)) for svc in nodes]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert not errors, errors
            with a.db.read() as conn:
                started = conn.execute(select(executions.c.id).where(executions.c.status == "Started")).scalars().all()
                task_counts = dict(
                    conn.execute(select(tasks.c.execution_id, func.count()).group_by(tasks.c.execution_id)).all()
                )
            assert len(started) == limit, f"round {round_}: {len(started)} Started with MaxConcurrentWorkflows={limit}"
            # The oldest were admitted, each with one set of tasks (a double admission would create two).
            assert sorted(started) == sorted(queued[:limit])
            assert task_counts == dict.fromkeys(started, 1)
            # End this round's executions so the next round starts with free slots.
            for execution_id in queued:
                record = a.executions.get(execution_id)
                if record["Status"] not in TERMINAL_STATUSES:
                    a.executions.cancel(execution_id)
    finally:
        for svc in nodes:
            svc.stop()


def test_admission_does_not_overwrite_a_cancel_in_flight(tmp_path: Path, pg_url: str) -> None:
    svc = build(node_settings(tmp_path / "shared", pg_url))  # not started: the test runs the scheduler's step
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            make_workflow(client, "pg-cancel", [[operation("cancel-op")]])
            client.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": 1})
            first = start(client, "pg-cancel", "upload/c1.mp4")["Id"]
            second = start(client, "pg-cancel", "upload/c2.mp4")["Id"]
        locked = threading.Event()
        release = threading.Event()

        def cancel_slowly() -> None:
            # What Executions.cancel does, held open between locking the row and committing.
            with svc.db.write() as conn:
                tx = svc.engine_store.joined(conn)
                row = records.load(tx, first, lock=True)
                records.set_status(tx, row, "Error", current_stage="End", message="Cancelled by request")
                locked.set()
                release.wait(10)

        canceller = threading.Thread(target=cancel_slowly)
        canceller.start()
        try:
            assert locked.wait(10)
            stepper = threading.Thread(target=svc.scheduler.step)
            stepper.start()
            # The step neither waits for the cancelling transaction nor admits its execution: it takes the next.
            stepper.join(5)
            assert not stepper.is_alive(), "the scheduler step waited for a row an API call holds"
        finally:
            release.set()
            canceller.join(10)
        assert svc.executions.get(first)["Status"] == "Error"
        assert svc.executions.get(second)["Status"] == "Started"
        with svc.db.read() as conn:
            assert conn.execute(select(tasks.c.execution_id)).scalars().all() == [second]
    finally:
        svc.stop()
