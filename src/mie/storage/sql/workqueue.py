"""The SQL work queue (:class:`mie.storage.workqueue.WorkQueue`) over a table of the store, named by its columns.

Each queue keeps its items in its own table beside their domain columns (a job's request and document, a
delivery's payload), so that an item and its domain record are one row and change in one transaction. What makes a
table a queue is :class:`QueueColumns`: which column holds the state (and its pending / leased / done values), the
attempt counter, the lease owner token, the due time and the lease end. ``jobs`` and ``notification_deliveries``
are the two tables (migration ``0008`` added their ``lease_owner``).

Every change to a claimed item is an ``UPDATE ... WHERE id = ? AND lease_owner = <the claim's token>``, so it takes
effect only while the claim is the item's current one: safe with several nodes on PostgreSQL, where a claim is a
compare-and-set on the row that was read (the loser reads again).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mie.storage.sql.db import Database
from mie.storage.workqueue import Claim
from mie.types import JSONDict


def insert_ignoring_duplicates(conn: Connection, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the connection's dialect (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


@dataclass(frozen=True)
class QueueColumns:
    """How a table is a queue (column names of ``table``)."""

    table: Table
    key: str
    state: str
    pending: str
    #: The state of a leased item; equal to ``pending`` when the lease lives in the due column (deliveries).
    leased: str
    done: str
    attempt: str
    owner: str
    #: When a pending item is due (None: at once).
    due: str | None
    #: When a lease ends (None: leases last until given back); may be the due column.
    lease_until: str | None
    #: Claim order of due items.
    order: tuple[str, ...]
    #: Whether a claim counts an attempt (jobs), or finishing one does (deliveries: complete and retry).
    counts_on_claim: bool
    #: Enqueue ``fields`` -> the domain columns of the new row.
    row: Callable[[JSONDict], dict[str, Any]] = field(default=dict)


class SqlWorkQueue:
    """A :class:`~mie.storage.workqueue.WorkQueue` on the table ``spec`` describes."""

    def __init__(self, db: Database, spec: QueueColumns) -> None:
        self._db = db
        self.spec = spec
        self._t = spec.table

    def _c(self, name: str) -> Any:
        return self._t.c[name]

    # Producers ---------------------------------------------------------------------------------------------------

    def enqueue(self, key: str, fields: JSONDict, *, due: float | None = None) -> bool:
        """Add an item under ``key``; False when it exists already."""
        return self.enqueue_many([(key, fields, due)]) == 1

    def enqueue_many(self, items: Iterable[tuple[str, JSONDict, float | None]]) -> int:
        """Add items ``(key, fields, due)`` in one transaction, ignoring keys that exist; how many were new."""
        added = 0
        with self._db.write() as conn:
            for key, fields, due in items:
                added += self.enqueue_in(conn, key, fields, due=due)
        return added

    def enqueue_in(self, conn: Connection, key: str, fields: JSONDict, *, due: float | None = None) -> int:
        """:meth:`enqueue` inside the caller's transaction (with the domain writes that go with it); 1 if new."""
        s = self.spec
        values = s.row(fields)
        values.update({s.key: key, s.state: s.pending, s.attempt: 0, s.owner: None})
        if s.due is not None:
            values[s.due] = time.time() if due is None else due
        # One statement per row, RETURNING the key: whether each was new (rowcount of an ``ON CONFLICT DO NOTHING``
        # insert is -1 with psycopg on PostgreSQL, and a batch would not tell).
        statement = insert_ignoring_duplicates(conn, self._t).returning(self._c(s.key))
        return 1 if conn.execute(statement, values).first() is not None else 0

    # Workers -----------------------------------------------------------------------------------------------------

    def _claimable(self, now: float) -> ColumnElement[bool]:
        s = self.spec
        pending: ColumnElement[bool] = self._c(s.state) == s.pending
        if s.due is not None:
            pending = and_(pending, self._c(s.due) <= now)
        if s.lease_until is not None and s.leased != s.pending:
            # A lease that ran out: its worker died.
            return or_(pending, and_(self._c(s.state) == s.leased, self._c(s.lease_until) <= now))
        return pending

    def claim(self, owner: str, *, now: float, lease: float | None) -> Claim | None:
        """Lease the first due item to ``owner``, or None."""
        with self._db.write() as conn:
            return self.claim_in(conn, owner, now=now, lease=lease)

    def claim_in(self, conn: Connection, owner: str, *, now: float, lease: float | None) -> Claim | None:
        """:meth:`claim` inside the caller's transaction."""
        s = self.spec
        key, state, attempt, holder = self._c(s.key), self._c(s.state), self._c(s.attempt), self._c(s.owner)
        query = select(key, state, attempt, holder).where(self._claimable(now))
        query = query.order_by(*(self._c(name) for name in s.order)).limit(1)
        while True:
            row = conn.execute(query).first()
            if row is None:
                return None
            token = f"{owner}/{secrets.token_hex(6)}"
            lease_until = None if lease is None else now + lease
            item, was_state, was_attempt, was_owner = row
            counted = int(was_attempt) + 1
            values: dict[str, Any] = {s.state: s.leased, s.owner: token}
            if s.counts_on_claim:
                values[s.attempt] = counted
            if s.lease_until is not None:
                if lease_until is None:
                    raise ValueError(f"the {self._t.name} queue needs a lease length: its leases expire")
                values[s.lease_until] = lease_until
            # Compare and set on what was read: another node may have claimed it meanwhile (PostgreSQL).
            unchanged = (key == item) & (state == was_state) & (attempt == was_attempt)
            unchanged = unchanged & (holder.is_(None) if was_owner is None else holder == was_owner)
            if conn.execute(update(self._t).where(unchanged).values(**values)).rowcount:
                return Claim(str(item), token, counted, lease_until)

    def _held(self, claim: Claim) -> ColumnElement[bool]:
        s = self.spec
        return and_(self._c(s.key) == claim.item_id, self._c(s.owner) == claim.owner, self._c(s.state) == s.leased)

    def renew(self, claim: Claim, *, now: float, lease: float) -> Claim | None:
        """Extend a lease that is still ``claim``'s."""
        s = self.spec
        if s.lease_until is None:
            return claim if self._update(claim, {}) else None
        until = now + lease
        if not self._update(claim, {s.lease_until: until}):
            return None
        return Claim(claim.item_id, claim.owner, claim.attempt, until)

    def complete(self, claim: Claim) -> bool:
        """End the item (done)."""
        return self.finish(claim, self.spec.done, {})

    def finish(self, claim: Claim, state: str, values: Mapping[str, Any]) -> bool:
        """End the item in ``state`` (done, or a failed state) with domain ``values``, counting the attempt."""
        s = self.spec
        changes: dict[str, Any] = {**values, s.state: state, s.owner: None}
        if not s.counts_on_claim:
            changes[s.attempt] = self._c(s.attempt) + 1
        return self._update(claim, changes)

    def retry(self, claim: Claim, *, at: float, values: Mapping[str, Any] | None = None) -> bool:
        """Give the item back due at ``at`` (with domain ``values``), counting the attempt."""
        s = self.spec
        changes: dict[str, Any] = {**(values or {}), s.state: s.pending, s.owner: None}
        if s.due is not None:
            changes[s.due] = at
        if not s.counts_on_claim:
            changes[s.attempt] = self._c(s.attempt) + 1
        return self._update(claim, changes)

    def release(self, claim: Claim) -> bool:
        """Give the item back due now; its attempt counter stays as it is."""
        s = self.spec
        changes: dict[str, Any] = {s.state: s.pending, s.owner: None}
        if s.due is not None:
            changes[s.due] = time.time()
        return self._update(claim, changes)

    def _update(self, claim: Claim, values: Mapping[str, Any]) -> bool:
        statement = update(self._t).where(self._held(claim))
        with self._db.write() as conn:
            if not values:
                return bool(conn.execute(select(func.count()).select_from(self._t).where(self._held(claim))).scalar())
            return bool(conn.execute(statement.values(**values)).rowcount)

    def next_due(self) -> float | None:
        """When the earliest pending item is due (or a lease ends), or None."""
        s = self.spec
        column = s.due if s.due is not None else s.lease_until
        with self._db.read() as conn:
            if column is None:
                found = conn.execute(select(self._c(s.key)).where(self._c(s.state) == s.pending).limit(1)).first()
                return None if found is None else 0.0
            pending = self._c(s.state).in_({s.pending, s.leased})
            value = conn.execute(select(func.min(self._c(column))).where(pending)).scalar()
        return None if value is None else float(value)

    def requeue_leased(self) -> int:
        """Give back every leased item (the start-up of the one server that owns the queue)."""
        s = self.spec
        values: dict[str, Any] = {s.state: s.pending, s.owner: None}
        if s.due is not None:
            values[s.due] = time.time()
        with self._db.write() as conn:
            held = and_(self._c(s.state) == s.leased, self._c(s.owner).is_not(None))
            if s.leased == s.pending:
                gone = conn.execute(update(self._t).where(held).values(**values)).rowcount
            else:
                gone = conn.execute(update(self._t).where(self._c(s.state) == s.leased).values(**values)).rowcount
        return int(gone or 0)
