"""ChangeLog.append_many on SQLite, and the engine writing its execution events through it.

(The PostgreSQL side, where appends wait for the commit, is in tests/integration/test_pg_changes.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mie.dataplane.changes import DATAPLANE, WORKFLOW_EXECUTION, ChangeLog
from mie.engine import statuses as records
from mie.storage.sql.db import Database
from mie.storage.sql.engine_store import SqlEngineStore
from mie.storage.sql.outbox import SqlOutbox
from mie.storage.sql.outbox import append_many as outbox_append_many
from mie.storage.sql.tables import outbox


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'mie.db'}")
    database.migrate()
    yield database
    database.dispose()


def test_append_many_writes_one_row_per_event_in_order(db: Database) -> None:
    log = ChangeLog(SqlOutbox(db))
    with db.write() as conn:
        log.append_many(conn, [(DATAPLANE, "a1", {"n": 1}), (WORKFLOW_EXECUTION, None, {"n": 2})])
        log.append_many(conn, [])
        log.append(conn, DATAPLANE, "a1", {"n": 3})
        # SQLite serialises writers, so the rows go in at once (visible inside the transaction).
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 3
    events = log.read(0)
    assert [(e["seq"], e["source"], e["AssetId"], e["payload"]) for e in events] == [
        (1, DATAPLANE, "a1", {"n": 1}),
        (2, WORKFLOW_EXECUTION, None, {"n": 2}),
        (3, DATAPLANE, "a1", {"n": 3}),
    ]
    assert all(isinstance(e["created"], float) for e in events)


def test_append_many_takes_any_iterable(db: Database) -> None:
    log = ChangeLog(SqlOutbox(db))
    with db.write() as conn:
        log.append_many(conn, ((DATAPLANE, f"a{i}", {"i": i}) for i in range(3)))
    assert [e["payload"]["i"] for e in log.read(0)] == [0, 1, 2]


def test_records_announce_goes_through_the_change_log(db: Database) -> None:
    log = ChangeLog(SqlOutbox(db))
    with db.write() as conn:
        tx = SqlEngineStore(db, outbox_append_many).joined(conn)
        records.announce(tx, [("asset-1", {"Id": "e1", "Status": "Queued"}), ("asset-2", {"Id": "e2"})])
        records.announce(tx, [])
    assert [(e["source"], e["AssetId"], e["payload"]) for e in log.read(0)] == [
        (WORKFLOW_EXECUTION, "asset-1", {"Id": "e1", "Status": "Queued"}),
        (WORKFLOW_EXECUTION, "asset-2", {"Id": "e2"}),
    ]


def test_events_of_a_rolled_back_transaction_are_gone(db: Database) -> None:
    log = ChangeLog(SqlOutbox(db))

    def append_then_fail() -> None:
        with db.write() as conn:
            log.append(conn, DATAPLANE, "gone", {})
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError, match="undo"):
        append_then_fail()
    assert log.read(0) == []
    assert log.last_seq() == 0
