"""The shared change consumer on the background loop: it stops at once while waiting, drains deterministically,
and in transactional-offset mode leaves the offset to its handler."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mie.consumers.base import ChangeConsumer
from mie.dataplane.changes import ChangeLog
from mie.storage.sql.db import Database
from mie.storage.sql.outbox import SqlOutbox
from mie.types import JSONDict


class Offsets:
    def __init__(self) -> None:
        self.saved: dict[str, int] = {}

    def load(self, name: str) -> int | None:
        return self.saved.get(name)

    def save(self, name: str, seq: int) -> None:
        self.saved[name] = max(seq, self.saved.get(name, 0))


@pytest.fixture
def changes(tmp_path: Path) -> Iterator[ChangeLog]:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    db.migrate()
    changes = ChangeLog(SqlOutbox(db))
    changes.test_db = db  # type: ignore[attr-defined]
    yield changes
    db.dispose()


def append(changes: ChangeLog, source: str, n: int) -> int:
    db: Database = changes.test_db  # type: ignore[attr-defined]
    with db.write() as conn:
        for i in range(n):
            changes.append(conn, source, None, {"n": i})
    changes.notify()
    return changes.last_seq()


def test_stop_ends_the_idle_wait_at_once(changes: ChangeLog) -> None:
    consumer = ChangeConsumer("idle", changes, Offsets(), lambda batch: None, idle_timeout=30.0)
    consumer.start()
    time.sleep(0.2)  # inside its 30 s wait
    began = time.monotonic()
    consumer.stop()
    assert time.monotonic() - began < 1.0
    assert not consumer.running


def test_a_restarted_consumer_follows_again(changes: ChangeLog) -> None:
    seen: list[int] = []
    consumer = ChangeConsumer("again", changes, Offsets(), lambda b: seen.extend(e["seq"] for e in b))
    consumer.start()
    consumer.stop()
    consumer.start()
    try:
        last = append(changes, "Dataplane", 2)
        assert consumer.wait_until(last, 10)
    finally:
        consumer.stop()
    assert seen == [1, 2]


def test_drain_handles_everything_in_batches_in_the_calling_thread(changes: ChangeLog) -> None:
    batches: list[list[int]] = []
    offsets = Offsets()
    consumer = ChangeConsumer(
        "drain", changes, offsets, lambda b: batches.append([e["seq"] for e in b]), sources={"Mine"}, batch_size=2
    )
    consumer.load_offset()
    append(changes, "Mine", 3)
    last = append(changes, "Other", 1)
    assert consumer.drain() == 2
    assert batches == [[1, 2], [3]]
    assert offsets.saved["drain"] == last == consumer.offset


def test_transactional_mode_hands_every_event_and_never_saves(changes: ChangeLog) -> None:
    applied: list[tuple[list[int], int]] = []
    offsets = Offsets()
    offsets.saved["tx"] = 0

    def apply(events: list[JSONDict], seq: int) -> None:
        applied.append(([e["seq"] for e in events], seq))

    consumer = ChangeConsumer("tx", changes, offsets, apply=apply, sources={"Mine"})
    consumer.load_offset()
    append(changes, "Mine", 1)
    append(changes, "Other", 1)
    consumer.drain()
    assert applied == [([1, 2], 2)]
    assert offsets.saved == {"tx": 0}  # the handler stores the offset with its own writes
    consumer.seek(10)  # a rebuild moved on
    assert consumer.offset == 10
    consumer.seek(5)
    assert consumer.offset == 10


def test_exactly_one_handler_kind(changes: ChangeLog) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ChangeConsumer("none", changes, Offsets())
