"""The SQL work queue on PostgreSQL: concurrent claimers on separate connections (as separate nodes would be) never
share an item, and a lost lease cannot finish the new owner's work."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import mie.storage.sql.notify_tables  # noqa: F401 (its tables are part of the truncated schema)
from mie.storage.sql.db import Database
from mie.storage.sql.notify_tables import DELIVERY_QUEUE
from mie.storage.sql.workqueue import SqlWorkQueue


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url)
    yield database
    database.dispose()


def delivery(n: int) -> dict[str, object]:
    return {"SubscriptionId": "s", "Seq": n, "Event": "job", "Status": "COMPLETE", "Payload": {}, "Created": 0.0}


def test_concurrent_claimers_never_share_a_delivery(db: Database, pg_url: str) -> None:
    SqlWorkQueue(db, DELIVERY_QUEUE).enqueue_many((f"d{i}", delivery(i), 0.0) for i in range(60))
    nodes = [Database(pg_url) for _ in range(4)]
    got: list[str] = []
    lock = threading.Lock()

    def work(node: Database, name: str) -> None:
        queue = SqlWorkQueue(node, DELIVERY_QUEUE)
        while (claim := queue.claim(name, now=1.0, lease=60)) is not None:
            with lock:
                got.append(claim.item_id)

    threads = [threading.Thread(target=work, args=(node, f"node{i}")) for i, node in enumerate(nodes)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for node in nodes:
            node.dispose()
    assert sorted(got) == sorted(f"d{i}" for i in range(60))


def test_a_lost_lease_cannot_finish_the_new_owners_work(db: Database) -> None:
    queue = SqlWorkQueue(db, DELIVERY_QUEUE)
    assert queue.enqueue("a", delivery(1), due=0.0)
    old = queue.claim("dead", now=1.0, lease=5)
    new = queue.claim("alive", now=10.0, lease=5)
    assert old is not None
    assert new is not None
    assert not queue.complete(old)
    assert queue.complete(new)
    assert queue.next_due() is None
