"""Tables and SQL stores of the change-stream consumers: consumer offsets, notification subscriptions, deliveries.

The tables live on the shared :data:`mie.storage.sql.tables.metadata`, so importing this module completes the
schema that ``migrations/versions/0003_notifications.py`` builds. The stores implement the protocols of
``mie.consumers`` (``OffsetStore`` in ``consumers/base.py``, ``NotificationStore`` in ``consumers/notify.py``) and
speak plain JSON dictionaries, so that the consumers never name SQL (DESIGN.md §2).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    exists,
    insert,
    select,
    update,
)

from mie.storage.sql.db import Database, dumps, loads
from mie.storage.sql.tables import metadata
from mie.storage.sql.workqueue import QueueColumns, SqlWorkQueue, insert_ignoring_duplicates
from mie.storage.workqueue import Claim
from mie.types import JSONDict

consumer_offsets = Table(
    "consumer_offsets",
    metadata,
    # One row per named consumer: the ``seq`` of the last outbox event it has fully handled.
    Column("name", String(255), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("updated", Float, nullable=False),
)

notification_subscriptions = Table(
    "notification_subscriptions",
    metadata,
    # seq orders listings and pages them.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    # webhook | email
    Column("kind", String(16), nullable=False),
    # the URL or the e-mail address
    Column("target", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("statuses", Text, nullable=True),
    # HMAC key of a webhook (needed in clear to sign; never returned after creation)
    Column("secret", Text, nullable=True),
    Column("created", Float, nullable=False),
    # the newest outbox seq when it was created: it is notified of later events only
    Column("from_seq", Integer, nullable=False),
)

notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("subscription_id", String(64), nullable=False),
    # the outbox seq of the event notified: with the subscription, what makes planning idempotent
    Column("event_seq", Integer, nullable=False),
    # execution | job, and the status notified
    Column("event_type", String(16), nullable=False),
    Column("event_status", String(32), nullable=False),
    # the webhook body, or {"Subject", "Text"} of an e-mail
    Column("payload", Text, nullable=False),
    # pending | delivered | failed
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created", Float, nullable=False),
    # when a pending delivery is due; a claimed one is leased until then
    Column("next_attempt_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    # the work-queue claim token of the sender holding it (migration 0008)
    Column("lease_owner", String(64), nullable=True),
    UniqueConstraint("subscription_id", "event_seq", name="uq_notification_deliveries_event"),
    Index("ix_notification_deliveries_due", "state", "next_attempt_at"),
    Index("ix_notification_deliveries_subscription", "subscription_id", "seq"),
)

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


_insert_ignoring_duplicates = insert_ignoring_duplicates


class SqlOffsetStore:
    """Consumer offsets in ``consumer_offsets`` (implements ``mie.consumers.base.OffsetStore``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def load(self, name: str) -> int | None:
        """The saved offset of consumer ``name``, or None when it never saved one."""
        with self._db.read() as conn:
            value = conn.execute(select(consumer_offsets.c.seq).where(consumer_offsets.c.name == name)).scalar()
        return None if value is None else int(value)

    def save(self, name: str, seq: int) -> None:
        """Store ``seq`` as the offset of ``name``; never moves an offset backwards (several nodes may save)."""
        now = time.time()
        with self._db.write() as conn:
            conn.execute(_insert_ignoring_duplicates(conn, consumer_offsets).values(name=name, seq=seq, updated=now))
            conn.execute(
                update(consumer_offsets)
                .where((consumer_offsets.c.name == name) & (consumer_offsets.c.seq < seq))
                .values(seq=seq, updated=now)
            )


def _subscription(row: Row[Any]) -> JSONDict:
    record: JSONDict = {
        "Id": row.id,
        "Kind": row.kind,
        "Url" if row.kind == "webhook" else "Email": row.target,
        "Events": loads(row.events),
        "Statuses": loads(row.statuses),
        "Created": row.created,
        "FromSeq": row.from_seq,
        "Secret": row.secret,
    }
    return record


def _delivery(row: Row[Any]) -> JSONDict:
    return {
        "Id": row.id,
        "SubscriptionId": row.subscription_id,
        "Seq": row.event_seq,
        "Event": row.event_type,
        "Status": row.event_status,
        "State": row.state,
        "Attempts": row.attempts,
        "StatusCode": row.status_code,
        "LastError": row.last_error,
        "Created": row.created,
        "NextAttemptAt": row.next_attempt_at if row.state == PENDING else None,
        "FinishedAt": row.finished_at,
        "Payload": loads(row.payload),
    }


def _delivery_row(d: JSONDict) -> dict[str, Any]:
    return {
        "subscription_id": d["SubscriptionId"],
        "event_seq": d["Seq"],
        "event_type": d["Event"],
        "event_status": d["Status"],
        "payload": dumps(d["Payload"]),
        "status_code": None,
        "last_error": None,
        "created": d["Created"],
        "finished_at": None,
    }


#: The delivery log as a work queue: a claimed delivery stays ``pending`` with its lease end as its due time, so
#: a sender that dies leaves it due again when the lease runs out. Attempts count answers, not claims.
DELIVERY_QUEUE = QueueColumns(
    table=notification_deliveries,
    key="id",
    state="state",
    pending=PENDING,
    leased=PENDING,
    done=DELIVERED,
    attempt="attempts",
    owner="lease_owner",
    due="next_attempt_at",
    lease_until="next_attempt_at",
    order=("next_attempt_at", "seq"),
    counts_on_claim=False,
    row=_delivery_row,
)


class SqlNotificationStore:
    """Subscriptions and the delivery log (implements ``mie.consumers.notify.NotificationStore``)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue = SqlWorkQueue(db, DELIVERY_QUEUE)

    # Subscriptions -------------------------------------------------------------------------------------------

    def add_subscription(self, record: JSONDict) -> None:
        """Insert a validated subscription record (``Id``, ``Kind``, ``Url``|``Email``, ``Events``, ...)."""
        with self._db.write() as conn:
            conn.execute(
                insert(notification_subscriptions).values(
                    id=record["Id"],
                    kind=record["Kind"],
                    target=record.get("Url") or record.get("Email"),
                    events=dumps(record["Events"]),
                    statuses=None if record.get("Statuses") is None else dumps(record["Statuses"]),
                    secret=record.get("Secret"),
                    created=record["Created"],
                    from_seq=record["FromSeq"],
                )
            )

    def get_subscription(self, subscription_id: str) -> JSONDict | None:
        """One subscription (with its secret), or None."""
        query = select(notification_subscriptions).where(notification_subscriptions.c.id == subscription_id)
        with self._db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _subscription(row)

    def list_subscriptions(
        self, *, limit: int | None = None, after: int | None = None
    ) -> tuple[list[JSONDict], int | None]:
        """Subscriptions oldest first, a page of ``limit`` after the token ``after``; returns the next token."""
        table = notification_subscriptions
        query = select(table).order_by(table.c.seq)
        if after is not None:
            query = query.where(table.c.seq > after)
        if limit is not None:
            query = query.limit(limit + 1)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        token = None
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            token = int(rows[-1].seq)
        return [_subscription(r) for r in rows], token

    def has_subscriptions(self) -> bool:
        """Whether any subscription exists."""
        with self._db.read() as conn:
            return bool(conn.execute(select(exists().select_from(notification_subscriptions))).scalar())

    def delete_subscription(self, subscription_id: str) -> bool:
        """Delete a subscription and its delivery log (so nothing pending is sent); False when unknown."""
        with self._db.write() as conn:
            gone = conn.execute(
                delete(notification_subscriptions).where(notification_subscriptions.c.id == subscription_id)
            ).rowcount
            conn.execute(
                delete(notification_deliveries).where(notification_deliveries.c.subscription_id == subscription_id)
            )
        return bool(gone)

    # Deliveries ----------------------------------------------------------------------------------------------

    def add_deliveries(self, deliveries: list[JSONDict]) -> int:
        """Insert planned deliveries; one already planned for the same subscription and event is left alone.

        Returns how many were new.
        """
        return self._queue.enqueue_many((d["Id"], d, d["Created"]) for d in deliveries)

    @property
    def queue(self) -> SqlWorkQueue:
        """The deliveries as a work queue (due = ``next_attempt_at``, which also holds a claim's lease end)."""
        return self._queue

    def claimed(self, claim: Claim) -> JSONDict | None:
        """The claimed delivery with its subscription's ``Kind``, ``Target`` and ``Secret``; None when the claim was
        lost or the subscription deleted."""
        d, s = notification_deliveries, notification_subscriptions
        query = (
            select(d, s.c.kind, s.c.target, s.c.secret)
            .join(s, s.c.id == d.c.subscription_id)
            .where((d.c.id == claim.item_id) & (d.c.lease_owner == claim.owner))
        )
        with self._db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        found = _delivery(row)
        found.update(Kind=row.kind, Target=row.target, Secret=row.secret)
        return found

    def record_attempt(
        self,
        claim: Claim,
        *,
        delivered: bool,
        status_code: int | None,
        error: str | None,
        retry_at: float | None,
        now: float,
    ) -> bool:
        """Count one attempt: delivered, failed for good (``retry_at`` None) or due again at ``retry_at``; False
        when the claim was lost (another sender has it now)."""
        values: dict[str, Any] = {"status_code": status_code, "last_error": error}
        if delivered:
            return self._queue.finish(claim, DELIVERED, {**values, "finished_at": now})
        if retry_at is None:
            return self._queue.finish(claim, FAILED, {**values, "finished_at": now})
        return self._queue.retry(claim, at=retry_at, values=values)

    def list_deliveries(
        self, subscription_id: str, *, limit: int | None = None, after: int | None = None
    ) -> tuple[list[JSONDict], int | None]:
        """The delivery log of a subscription, oldest first, paged like :meth:`list_subscriptions`."""
        d = notification_deliveries
        query = select(d).where(d.c.subscription_id == subscription_id).order_by(d.c.seq)
        if after is not None:
            query = query.where(d.c.seq > after)
        if limit is not None:
            query = query.limit(limit + 1)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        token = None
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            token = int(rows[-1].seq)
        return [_delivery(r) for r in rows], token
