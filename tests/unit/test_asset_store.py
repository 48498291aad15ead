"""The SQL asset store's unit of work: rows and change events commit together, or neither does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mie.storage.sql.asset_store import SqlAssetStore
from mie.storage.sql.db import Database
from mie.storage.sql.outbox import SqlOutbox


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'mie.db'}")
    database.migrate()
    yield database
    database.dispose()


def test_rows_and_events_commit_together(db: Database) -> None:
    store, outbox = SqlAssetStore(db), SqlOutbox(db)
    with store.write() as tx:
        tx.insert_asset("a1", "dataplane", "private/assets/a1/input/v.mp4", "Video", "2026-01-01T00:00:00Z")
        tx.add_pointer("a1", "Op", "w1", "k1")
        tx.add_pointer("a1", "Op", "w2", "k2")
        tx.emit([("Dataplane", "a1", {"Action": "INSERT"})])
    with store.read() as reader:
        asset = reader.get_asset("a1")
        assert asset is not None
        assert asset["media_type"] == "Video"
        assert reader.newest_pointer("a1", "Op") == "k2"
        assert reader.pointers("a1") == [("Op", "k1"), ("Op", "k2")]
        assert reader.has_pointer("a1", "Op", "k1")
        assert not reader.has_pointer("a1", "Other", "k1")
        assert reader.known_assets(["a1", "nope"]) == {"a1"}
        assert reader.known_assets([]) == set()
    assert [(e["AssetId"], e["payload"]) for e in outbox.read(0)] == [("a1", {"Action": "INSERT"})]


def test_a_failed_unit_of_work_leaves_no_row_and_no_event(db: Database) -> None:
    store, outbox = SqlAssetStore(db), SqlOutbox(db)

    def insert_then_fail() -> None:
        with store.write() as tx:
            tx.insert_asset("a1", "dataplane", "k", "Video", "2026-01-01T00:00:00Z")
            tx.emit([("Dataplane", "a1", {"Action": "INSERT"})])
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError, match="undo"):
        insert_then_fail()
    with store.read() as reader:
        assert reader.get_asset("a1") is None
        assert reader.count_assets() == 0
    assert outbox.read(0) == []
    assert outbox.last_seq() == 0


def test_pages_keep_their_order_and_drop_per_result(db: Database) -> None:
    store = SqlAssetStore(db)
    with store.write() as tx:
        for page in ({"p": 0}, {"p": 1}, [2]):
            tx.add_page("a1", "Op", "w1", page)
        tx.add_page("a1", "Op", "w2", {"other": True})
        assert tx.pages("a1", "Op", "w1") == [{"p": 0}, {"p": 1}, [2]]
        tx.drop_pages("a1", "Op", "w1")
        assert tx.pages("a1", "Op", "w1") == []
        assert tx.pages("a1", "Op", "w2") == [{"other": True}]


def test_lock_asset_reads_the_row_inside_the_unit_of_work(db: Database) -> None:
    store = SqlAssetStore(db)
    with store.write() as tx:
        tx.insert_asset("a1", "dataplane", "k", "Video", "2026-01-01T00:00:00Z")
    with store.write() as tx:
        locked = tx.lock_asset("a1")
        assert locked is not None
        assert locked["s3_key"] == "k"
        assert tx.lock_asset("unknown") is None
