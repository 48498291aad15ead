"""The change log on PostgreSQL: a reader following ``after=<last seq>`` never skips an event, whatever order
concurrent transactions commit in, and every outbox write goes through ``ChangeLog``."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from mie.dataplane.changes import DATAPLANE, WORKFLOW_EXECUTION, ChangeLog
from mie.engine import statuses as records
from mie.storage.sql.db import Database, temporary_engine
from mie.storage.sql.engine_store import SqlEngineStore
from mie.storage.sql.outbox import SqlOutbox, append_many
from mie.storage.sql.outbox import append_many as outbox_append_many
from mie.storage.sql.tables import outbox

pytestmark = pytest.mark.integration


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url)
    yield database
    database.dispose()


@pytest.fixture
def log(db: Database) -> ChangeLog:
    return ChangeLog(SqlOutbox(db))


def test_a_transaction_that_appended_first_but_commits_last_is_not_skipped(db: Database, log: ChangeLog) -> None:
    appended = threading.Event()
    release = threading.Event()
    failure: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with db.write() as conn:
                log.append(conn, DATAPLANE, "slow", {"Action": "INSERT"})
                appended.set()
                assert release.wait(10)
        except BaseException as exc:
            failure.append(exc)
            appended.set()

    slow = threading.Thread(target=slow_writer)
    slow.start()
    try:
        assert appended.wait(10)
        # A second transaction appends after the first, and commits before it.
        with db.write() as conn:
            log.append(conn, DATAPLANE, "fast", {"Action": "INSERT"})
        # A consumer reads what is committed and remembers its offset.
        seen = log.read(0)
        assert [e["AssetId"] for e in seen] == ["fast"]
        after = seen[-1]["seq"]
    finally:
        release.set()
        slow.join(10)
    assert not failure, failure
    # The slow transaction's event comes after the offset: the consumer gets it.
    later = log.read(after)
    assert [e["AssetId"] for e in later] == ["slow"]
    assert [e["seq"] for e in seen + later] == [1, 2]


def test_concurrent_writers_and_a_follower_see_one_gapless_order(db: Database, log: ChangeLog) -> None:
    writers, per_writer = 6, 25
    done = threading.Event()
    followed: list[int] = []
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(per_writer):
                with db.write() as conn:
                    # Two batches in one transaction stay together and in order.
                    log.append(conn, DATAPLANE, f"w{n}", {"i": i, "part": 0})
                    records.announce(
                        SqlEngineStore(db, outbox_append_many).joined(conn),
                        [(f"w{n}", {"i": i, "part": 1}), (f"w{n}", {"i": i, "part": 2})],
                    )
                log.notify()
        except BaseException as exc:
            errors.append(exc)

    def follow() -> None:
        after = 0
        while True:
            finished = done.is_set()
            events = log.wait(after, timeout=0.05)
            for event in events:
                followed.append(int(event["seq"]))
                after = int(event["seq"])
            if finished and not events:
                return

    follower = threading.Thread(target=follow)
    follower.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    done.set()
    follower.join(60)
    assert not errors, errors
    everything = log.read(0, limit=10_000)
    total = writers * per_writer * 3
    assert len(everything) == total
    # No seq was lost to a rollback or skipped by the follower: 1..N, and the follower saw each once, in order.
    assert [e["seq"] for e in everything] == list(range(1, total + 1))
    assert followed == list(range(1, total + 1))
    # The events of one transaction are adjacent and in append order.
    for start in range(0, total, 3):
        group = everything[start : start + 3]
        assert len({(e["AssetId"], e["payload"]["i"]) for e in group}) == 1
        assert [e["payload"]["part"] for e in group] == [0, 1, 2]
        assert [e["source"] for e in group] == [DATAPLANE, WORKFLOW_EXECUTION, WORKFLOW_EXECUTION]


def test_events_of_a_rolled_back_transaction_are_dropped(db: Database, log: ChangeLog) -> None:
    def append_then_fail() -> None:
        with db.write() as conn:
            log.append(conn, DATAPLANE, "gone", {"Action": "INSERT"})
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError, match="undo"):
        append_then_fail()
    # The next transactions (on the same pooled connection, most likely) do not inherit the dropped event.
    for _ in range(3):
        with db.write() as conn:
            conn.execute(select(1))
    with db.write() as conn:
        log.append_many(conn, [(DATAPLANE, "kept", {"n": 1}), (WORKFLOW_EXECUTION, "kept", {"n": 2})])
        log.append_many(conn, [])
    assert [(e["AssetId"], e["payload"]) for e in log.read(0)] == [("kept", {"n": 1}), ("kept", {"n": 2})]
    assert log.last_seq() == 2
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 2


def test_append_outside_a_transaction_is_refused(pg_url: str) -> None:
    engine = temporary_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.get_transaction() is None  # nothing executed yet, so nothing begun
            with pytest.raises(RuntimeError, match="inside a transaction"):
                append_many(conn, [(DATAPLANE, "x", {})])
    finally:
        engine.dispose()
