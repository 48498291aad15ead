"""Tables of transcode jobs, their events and the watch folder's file records (migration ``0004``).

They are defined on the shared :data:`mie.storage.sql.tables.metadata`, so the schema checks see them once this
module is imported. Job documents and events are JSON text; the columns beside them exist for queries and indexes.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from mie.storage.sql.tables import metadata

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    # MediaConvert lifecycle status: SUBMITTED | PROGRESSING | COMPLETE | ERROR | CANCELED
    Column("status", String(16), nullable=False),
    # Work-queue state, separate from the status shown to users: queued | running | done
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False, default=0),
    # The work-queue claim token of the worker running it (migration 0008).
    Column("lease_owner", String(64), nullable=True),
    Column("asset_id", String(64), nullable=True),
    Column("created_at", Float, nullable=False),
    # Retention: the job and its events go after this time (refreshed by every event, like a DynamoDB TTL).
    Column("expires_at", Float, nullable=False),
    # The CreateJob request as accepted (Settings, UserMetadata, ...).
    Column("request", Text, nullable=False),
    # The job document with its progress metrics.
    Column("doc", Text, nullable=False),
    Index("ix_jobs_status_created", "status", "created_at"),
    Index("ix_jobs_state_created", "state", "created_at"),
    Index("ix_jobs_expires", "expires_at"),
)

job_events = Table(
    "job_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False),
    Column("job_id", String(64), nullable=False),
    # Event time, epoch seconds.
    Column("timestamp", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("payload", Text, nullable=False),
    Index("ix_job_events_job", "job_id", "seq"),
    Index("ix_job_events_expires", "expires_at"),
)

watch_files = Table(
    "watch_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # sha256 of (path, size, mtime_ns): one record per version of a file, so nothing is processed twice.
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("path", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    # Submitted | Error
    Column("status", String(16), nullable=False),
    Column("created", Float, nullable=False),
    Column("asset_id", String(64), nullable=True),
    Column("execution_id", String(64), nullable=True),
    # JSON list of job ids
    Column("job_ids", Text, nullable=False),
    Column("message", Text, nullable=True),
    Index("ix_watch_files_created", "created"),
)
