"""The worker side of the dispatch seam: one report per call, through the store and guarded by the lease token;
the heartbeat; time limits enforced by the worker side (mie.engine.tracker), and the SQL store's guards."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import build
from mie.config import Settings
from mie.dataplane.changes import ChangeLog
from mie.engine.outcome import Outcome, decode, encode
from mie.engine.scheduler import Scheduler
from mie.engine.tracker import RunTracker, TaskRun
from mie.engine.wakeup import Waker
from mie.storage.engine import PENDING, RUNNING, START
from mie.storage.sql.db import Database
from mie.storage.sql.engine_store import SqlEngineStore
from tests.conftest import fast_settings
from tests.helpers import API_KEY, make_workflow, operation, start, wait_for


class FakeStore:
    """A WorkerStore that records calls."""

    def __init__(self) -> None:
        self.reports: list[tuple[int, str, str]] = []
        self.renewals: list[dict[int, str]] = []
        self.reported = threading.Event()

    def set_progress(self, task_id: int, token: str, progress: str) -> bool:
        return True

    def still_mine(self, task_id: int, token: str) -> bool:
        return True

    def renew(self, leases: Mapping[int, str], until: float) -> None:
        self.renewals.append(dict(leases))

    def report(self, task_id: int, token: str, outcome: str) -> bool:
        self.reports.append((task_id, token, outcome))
        self.reported.set()
        return True


def run(task_id: int = 1, timeout: float = 30.0) -> TaskRun:
    return TaskRun(task_id, f"n:{task_id}", "Op", "arn", {}, timeout=timeout)


def test_a_call_is_reported_once_and_the_scheduler_hook_runs_after_the_report() -> None:
    store = FakeStore()
    tracker = RunTracker(store, 60.0, lambda r: None)
    hooked: list[int] = []
    tracker.on_reported(lambda r: hooked.append(len(store.reports)))
    tracker.begin(run())
    assert tracker.running() == 1
    assert tracker.finish(run(), Outcome(1, "n:1", output={"Status": "Complete"}))
    assert not tracker.finish(run(), Outcome(1, "n:1", error="late"))
    assert hooked == [1]
    assert [decode(i, t, o).output for i, t, o in store.reports] == [{"Status": "Complete"}]
    assert tracker.running() == 0
    tracker.close()


def test_the_worker_side_times_a_call_out_and_drops_its_late_outcome() -> None:
    store = FakeStore()
    late: list[int] = []
    tracker = RunTracker(store, 60.0, lambda r: late.append(r.task_id))
    tracker.begin(run(timeout=0.2))
    assert store.reported.wait(5)
    assert late == [1]
    outcome = decode(*store.reports[0])
    assert outcome.error == "OperatorTimeoutError: Op ran longer than its time limit of 0.2 s"
    assert not tracker.finish(run(), Outcome(1, "n:1", output={"Status": "Complete"}))
    assert len(store.reports) == 1
    tracker.close()


def test_the_heartbeat_renews_the_leases_of_running_calls_only() -> None:
    store = FakeStore()
    tracker = RunTracker(store, 0.3, lambda r: None)
    tracker.begin(run(1))
    tracker.begin(run(2))
    time.sleep(0.25)
    tracker.finish(run(2), Outcome(2, "n:2", output={"Status": "Complete"}))
    time.sleep(0.3)
    tracker.close()
    assert store.renewals, "no lease was renewed"
    assert store.renewals[-1] == {1: "n:1"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlEngineStore]:
    db = Database(f"sqlite:///{tmp_path / 'mie.db'}")
    db.migrate()
    yield SqlEngineStore(db, ChangeLog.append_many)
    db.dispose()


def _task(store: SqlEngineStore) -> int:
    with store.transaction() as tx:
        tx.insert_tasks(
            [
                {
                    "execution_id": "e1",
                    "stage": "s1",
                    "branch": 0,
                    "operation": "Op",
                    "op_type": "Sync",
                    "phase": START,
                    "state": PENDING,
                    "attempt": 0,
                    "polls": 0,
                    "due_at": 0.0,
                    "payload": "{}",
                    "output": None,
                }
            ]
        )
        (due,) = tx.due_tasks(time.time(), 10)
        tx.claim_tasks([due.id], "n:1", time.time() + 60)
        return due.id


def test_a_report_counts_only_from_the_lease_owner(store: SqlEngineStore) -> None:
    task_id = _task(store)
    assert not store.report(task_id, "n:other", '{"error": "x"}')
    with store.reading() as tx:
        assert tx.reported([task_id]) == []
    assert store.report(task_id, "n:1", '{"output": {"Status": "Complete"}}')
    with store.reading() as tx:
        (row,) = tx.reported([task_id])
    assert row.state == RUNNING
    assert row.outcome == '{"output": {"Status": "Complete"}}'
    # Once the scheduler has put the task back, the old lease can neither report nor renew nor write progress.
    with store.transaction() as tx:
        tx.retry_task(task_id, 1, 0.0)
        assert tx.reported([task_id]) == []
    assert not store.report(task_id, "n:1", "{}")
    assert not store.set_progress(task_id, "n:1", "{}")
    assert not store.still_mine(task_id, "n:1")


def test_an_expired_lease_brings_back_the_outcome_reported_on_it(store: SqlEngineStore) -> None:
    task_id = _task(store)
    store.report(task_id, "n:1", '{"output": {"Status": "Complete"}}')
    with store.transaction() as tx:
        tx.renew_leases({task_id: "n:1"}, 1.0)
        (expired,) = tx.expired_tasks(time.time())
    assert expired.outcome == '{"output": {"Status": "Complete"}}'


class StoreOnlyWorker:
    """A dispatcher like a remote worker: it reports through the store and never calls the scheduler's hook."""

    def __init__(self, store: SqlEngineStore) -> None:
        self.store = store
        self.calls = 0

    def start(self, reported: object) -> None:
        pass

    def capacity(self) -> int:
        return 4

    def submit(self, task: TaskRun) -> None:
        self.calls += 1
        output = {**task.payload, "Status": "Complete", "Media": {}, "MetaData": {}}
        self.store.report(task.task_id, task.token, encode(Outcome(task.task_id, task.token, output=output)))

    def abandon(self, task: TaskRun) -> None:
        pass

    def shutdown(self, grace: float = 0.0) -> None:
        pass


def test_an_outcome_reported_only_through_the_store_completes_the_execution(settings: Settings) -> None:
    svc = build(fast_settings(settings.data_dir, task_lease_seconds=0.5))
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            make_workflow(client, "remote-wf", [[operation("remote-op")]])
            worker = StoreOnlyWorker(svc.engine_store)
            svc.scheduler = Scheduler(
                svc.engine_store, svc.catalog, svc.changes, svc.settings, dispatcher=worker, waker=svc.waker
            )
            svc.scheduler.start()
            rec = start(client, "remote-wf", "upload/remote.mp4")
            done = wait_for(client, rec["Id"], {"Complete", "Error"}, timeout=10)
            assert done["Status"] == "Complete", done.get("Message")
            assert worker.calls == 1  # applied from the row when the lease ran out, not run again
    finally:
        svc.stop()


def test_the_waker_rings_every_attached_scheduler() -> None:
    waker = Waker()
    waker.wake()  # nothing attached yet (the API is wired before the scheduler exists): no error
    rung: list[str] = []
    waker.attach(lambda: rung.append("first"))
    waker.attach(lambda: rung.append("second"))
    waker.wake()
    assert rung == ["first", "second"]
