"""The SQL work queue (storage/sql/workqueue.py) on both of its tables: jobs (claims counted, leases held until given
back) and notification deliveries (leases that expire, attempts counted when finished)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from mie.storage.sql.db import Database
from mie.storage.sql.jobs_store import JOB_QUEUE
from mie.storage.sql.jobs_tables import jobs
from mie.storage.sql.notify_tables import DELIVERY_QUEUE, notification_deliveries
from mie.storage.sql.workqueue import SqlWorkQueue


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'q.db'}")
    database.migrate()
    yield database
    database.dispose()


def delivery(n: int, created: float) -> dict[str, object]:
    return {"SubscriptionId": "s", "Seq": n, "Event": "job", "Status": "COMPLETE", "Payload": {}, "Created": created}


def add_job(db: Database, job_id: str, created: float) -> None:
    with db.write() as conn:
        conn.execute(
            insert(jobs).values(
                id=job_id, status="SUBMITTED", state="queued", attempt=0, created_at=created, expires_at=created + 99,
                request="{}", doc="null",
            )
        )  # fmt: skip


def test_enqueue_is_idempotent_by_key_and_claims_come_due_in_order(db: Database) -> None:
    queue = SqlWorkQueue(db, DELIVERY_QUEUE)
    assert queue.enqueue("b", delivery(2, 100.0), due=100.0)
    assert queue.enqueue("a", delivery(1, 100.0), due=50.0)
    assert not queue.enqueue("a", delivery(1, 100.0), due=50.0)
    assert queue.next_due() == 50.0
    assert queue.claim("w", now=10.0, lease=5) is None  # nothing due yet
    first = queue.claim("w", now=200.0, lease=5)
    assert first is not None
    assert first.item_id == "a"
    assert first.attempt == 1
    assert first.lease_until == 205.0
    second = queue.claim("w", now=200.0, lease=5)
    assert second is not None
    assert second.item_id == "b"
    assert queue.claim("w", now=200.0, lease=5) is None


def test_an_expired_lease_is_claimed_again_and_the_old_claim_is_powerless(db: Database) -> None:
    queue = SqlWorkQueue(db, DELIVERY_QUEUE)
    queue.enqueue("a", delivery(1, 0.0), due=0.0)
    old = queue.claim("dead", now=1.0, lease=10)
    assert old is not None
    assert queue.claim("other", now=5.0, lease=10) is None  # still leased
    renewed = queue.renew(old, now=5.0, lease=10)
    assert renewed is not None
    assert renewed.lease_until == 15.0
    new = queue.claim("other", now=16.0, lease=10)  # the first worker died
    assert new is not None
    assert new.owner != old.owner
    assert new.attempt == 1
    assert not queue.complete(old)
    assert queue.renew(old, now=16.0, lease=10) is None
    assert not queue.retry(old, at=0.0)
    assert queue.retry(new, at=30.0)
    again = queue.claim("other", now=31.0, lease=10)
    assert again is not None
    assert again.attempt == 2
    assert queue.complete(again)
    assert queue.next_due() is None
    with db.read() as conn:
        row = conn.execute(select(notification_deliveries).where(notification_deliveries.c.id == "a")).one()
    assert (row.state, row.attempts, row.lease_owner) == ("delivered", 2, None)


def test_job_claims_count_attempts_and_are_given_back_at_start_up(db: Database) -> None:
    queue = SqlWorkQueue(db, JOB_QUEUE)
    add_job(db, "j2", 2.0)
    add_job(db, "j1", 1.0)
    first = queue.claim("server", now=0.0, lease=None)
    assert first is not None
    assert (first.item_id, first.attempt, first.lease_until) == ("j1", 1, None)
    assert queue.release(first)  # a graceful stop: back in the queue, the claim still counted
    assert not queue.complete(first)
    again = queue.claim("server", now=0.0, lease=None)
    assert again is not None
    assert (again.item_id, again.attempt) == ("j1", 2)
    other = queue.claim("server", now=0.0, lease=None)
    assert other is not None
    assert other.item_id == "j2"
    assert queue.requeue_leased() == 2  # the server crashed: both are queued again
    assert not queue.complete(again)
    claimed = {queue.claim("next", now=0.0, lease=None) for _ in range(2)}
    assert {(c.item_id, c.attempt) for c in claimed if c is not None} == {("j1", 3), ("j2", 2)}


def test_concurrent_claimers_never_share_an_item(db: Database) -> None:
    queue = SqlWorkQueue(db, DELIVERY_QUEUE)
    queue.enqueue_many((f"d{i}", delivery(i, 0.0), 0.0) for i in range(40))
    got: list[str] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while (claim := queue.claim(name, now=1.0, lease=60)) is not None:
            with lock:
                got.append(claim.item_id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(got) == sorted(f"d{i}" for i in range(40))
