"""SQL stores of transcode jobs and watch-folder records (``mie.storage.jobs`` protocols) on ``jobs_tables``.

The change log's append is passed in (``ChangeLog.append`` of the data plane, by the composition root): a job's
event and its change-log entry are written in one transaction, and the change log owns the outbox's format and
its PostgreSQL ordering rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from mie.errors import NotFoundError
from mie.storage.jobs import JobChange, JobRow, NewJob
from mie.storage.sql.db import Database
from mie.storage.sql.jobs_tables import job_events, jobs, watch_files
from mie.storage.sql.workqueue import QueueColumns, SqlWorkQueue
from mie.types import JSONDict

#: ``append(conn, source, asset_id, payload)`` inside the caller's transaction (``ChangeLog.append``).
AppendChange = Callable[[Connection, str, str | None, JSONDict], None]

#: Queue states of a job (``jobs.state``).
QUEUED, RUNNING, DONE = "queued", "running", "done"

#: The job queue: ``queued`` -> ``running`` (claimed; every claim counts, so a job that keeps killing its server
#: ends) -> ``done``. Leases do not expire: the one server that runs a database's jobs takes back the running ones
#: when it starts (``requeue_leased``).
JOB_QUEUE = QueueColumns(
    table=jobs,
    key="id",
    state="state",
    pending=QUEUED,
    leased=RUNNING,
    done=DONE,
    attempt="attempt",
    owner="lease_owner",
    due=None,
    lease_until=None,
    order=("created_at", "id"),
    counts_on_claim=True,
)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class SqlJobStore:
    """Jobs, their events and their queue (implements ``mie.storage.jobs.JobStore``)."""

    def __init__(self, db: Database, append: AppendChange, source: str) -> None:
        self._db = db
        self._append = append
        self._source = source
        self._queue = SqlWorkQueue(db, JOB_QUEUE)

    @property
    def queue(self) -> SqlWorkQueue:
        """The ``queued`` jobs as a work queue."""
        return self._queue

    def add(self, job: NewJob, change: JobChange) -> JSONDict:
        """Insert ``job`` and record its first event, in one transaction."""
        with self._db.write() as conn:
            conn.execute(
                insert(jobs).values(
                    id=job.id,
                    status=job.status,
                    state=job.state,
                    attempt=0,
                    asset_id=job.asset_id,
                    created_at=job.created_at,
                    expires_at=job.expires_at,
                    request=_dumps(job.request),
                    doc="null",
                )
            )
            doc = self._record(conn, job.id, change)
        if doc is None:
            raise ValueError("the first event of a job must be written")
        return doc

    def record(self, job_id: str, change: JobChange) -> JSONDict | None:
        """Apply ``change`` to the job in one transaction (see the protocol)."""
        with self._db.write() as conn:
            return self._record(conn, job_id, change)

    def _record(self, conn: Connection, job_id: str, change: JobChange) -> JSONDict | None:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise NotFoundError(f"Job {job_id} does not exist")
        write = change(_row(row._mapping))
        if write is None:
            return None
        event = write.event
        conn.execute(
            insert(job_events).values(
                id=event["id"],
                job_id=job_id,
                timestamp=write.timestamp,
                expires_at=write.event_expires_at,
                payload=_dumps(event),
            )
        )
        values: dict[str, Any] = {
            "status": write.doc["status"],
            "doc": _dumps(write.doc),
            "expires_at": write.expires_at,
        }
        if write.state is not None:
            values["state"] = write.state
            values["lease_owner"] = None
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))
        self._append(conn, self._source, row.asset_id, event)
        return write.doc

    def get(self, job_id: str) -> JobRow | None:
        """One job, or None."""
        with self._db.read() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return None if row is None else _row(row._mapping)

    def ids_in_state(self, state: str) -> list[str]:
        """The ids of the jobs in a queue state."""
        with self._db.read() as conn:
            return [str(i) for i in conn.execute(select(jobs.c.id).where(jobs.c.state == state)).scalars()]

    def docs(self, status: str | None = None) -> list[JSONDict]:
        """Every job document (of ``status``), newest first."""
        query = select(jobs.c.doc).order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
        if status is not None:
            query = query.where(jobs.c.status == status)
        with self._db.read() as conn:
            return [json.loads(doc) for doc in conn.execute(query).scalars()]

    def events(self, job_id: str) -> list[JSONDict]:
        """The job's events, oldest first."""
        query = select(job_events.c.payload).where(job_events.c.job_id == job_id).order_by(job_events.c.seq)
        with self._db.read() as conn:
            return [json.loads(p) for p in conn.execute(query).scalars()]

    def purge(self, now: float, done: str) -> int:
        """Delete ended jobs whose retention is over, with their events; how many jobs went."""
        ended = (jobs.c.expires_at < now) & (jobs.c.state == done)
        with self._db.write() as conn:
            expired = select(jobs.c.id).where(ended).scalar_subquery()
            conn.execute(delete(job_events).where(job_events.c.job_id.in_(expired)))
            gone = conn.execute(delete(jobs).where(ended)).rowcount
        return int(gone or 0)


def _row(row: Any) -> JobRow:
    doc = json.loads(row["doc"])
    return JobRow(
        id=str(row["id"]),
        state=str(row["state"]),
        attempt=int(row["attempt"]),
        asset_id=row["asset_id"],
        request=json.loads(row["request"]),
        doc=doc if isinstance(doc, dict) else None,
    )


class SqlWatchStore:
    """The watch folder's file records (implements ``mie.storage.jobs.WatchStore``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def recover(self, processing: str, error: str, message: str) -> set[str]:
        """Mark records a crash left ``processing`` as ``error``; every fingerprint recorded."""
        with self._db.write() as conn:
            conn.execute(
                update(watch_files).where(watch_files.c.status == processing).values(status=error, message=message)
            )
            return {str(f) for f in conn.execute(select(watch_files.c.fingerprint)).scalars()}

    def add(self, fingerprint: str, path: str, size: int, mtime_ns: int, *, status: str, created: float) -> int | None:
        """Record a file version; its id, or None when recorded already (another scan: never twice)."""
        try:
            with self._db.write() as conn:
                inserted = conn.execute(
                    insert(watch_files).values(
                        fingerprint=fingerprint,
                        path=path,
                        size=size,
                        mtime_ns=mtime_ns,
                        status=status,
                        created=created,
                        job_ids="[]",
                    )
                ).inserted_primary_key
        except IntegrityError:
            return None
        return int(inserted[0]) if inserted is not None else 0

    def finish(
        self,
        record_id: int,
        *,
        status: str,
        asset_id: str | None,
        execution_id: str | None,
        job_ids: list[str],
        message: str | None,
    ) -> None:
        """Store what came of a file."""
        with self._db.write() as conn:
            conn.execute(
                update(watch_files)
                .where(watch_files.c.id == record_id)
                .values(
                    status=status,
                    asset_id=asset_id,
                    execution_id=execution_id,
                    job_ids=json.dumps(job_ids),
                    message=message,
                )
            )

    def get(self, record_id: int) -> JSONDict:
        """One record's columns."""
        with self._db.read() as conn:
            row = conn.execute(select(watch_files).where(watch_files.c.id == record_id)).one()
        return _watch(row._mapping)

    def newest(self, limit: int) -> list[JSONDict]:
        """The newest records first."""
        query = select(watch_files).order_by(watch_files.c.id.desc()).limit(limit)
        with self._db.read() as conn:
            return [_watch(row._mapping) for row in conn.execute(query)]


def _watch(row: Any) -> JSONDict:
    return {
        "path": row["path"],
        "size": row["size"],
        "status": row["status"],
        "created": row["created"],
        "asset_id": row["asset_id"],
        "execution_id": row["execution_id"],
        "job_ids": json.loads(row["job_ids"]),
        "message": row["message"],
    }
