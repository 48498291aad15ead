"""Storage interfaces of transcode jobs and of the watch folder's file records (SQL: ``mie.storage.sql.jobs_store``).

A job is one record: its queue state (``queued`` / ``running`` / ``inline`` / ``done``: the work queue's columns,
see :attr:`JobStore.queue`), its CreateJob request, its document with the progress metrics, and its events. An
event is stored, merged into the document and appended to the change log in ONE transaction: :meth:`JobStore.record`
runs the caller's merge on the row it read inside that transaction (the merge is the jobs package's business, the
transaction the store's), so concurrent events of one job never lose each other's changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mie.storage.workqueue import WorkQueue
from mie.types import JSONDict


@dataclass(frozen=True)
class JobRow:
    """A job as stored."""

    id: str
    state: str
    attempt: int
    asset_id: str | None
    request: JSONDict
    #: The document (None before its first event).
    doc: JSONDict | None


@dataclass(frozen=True)
class NewJob:
    """The columns of a job being created."""

    id: str
    state: str
    status: str
    asset_id: str | None
    created_at: float
    expires_at: float
    request: JSONDict


@dataclass(frozen=True)
class JobWrite:
    """One event of a job and the job document it makes, for :meth:`JobStore.record`."""

    event: JSONDict
    #: Event time and the time the event expires (epoch seconds).
    timestamp: float
    event_expires_at: float
    doc: JSONDict
    #: The job's retention after this event.
    expires_at: float
    #: The job's new queue state, or None to leave it (an event of a running job).
    state: str | None = None


#: Builds the write of an event from the row read inside the transaction; None: write nothing.
JobChange = Callable[[JobRow], JobWrite | None]


class JobStore(Protocol):
    """Jobs, their events and their work queue."""

    @property
    def queue(self) -> WorkQueue:
        """The ``queued`` jobs as a work queue (a claim makes a job ``running``; leases last until given back)."""

    def add(self, job: NewJob, change: JobChange) -> JSONDict:
        """Insert ``job`` and record its first event, in one transaction; the document."""

    def record(self, job_id: str, change: JobChange) -> JSONDict | None:
        """Read the job, write what ``change`` makes of it (event, document, change-log entry) in one transaction;
        the new document, or None when ``change`` wrote nothing. :class:`mie.errors.NotFoundError` when unknown."""

    def get(self, job_id: str) -> JobRow | None:
        """One job, or None."""

    def ids_in_state(self, state: str) -> list[str]:
        """The ids of the jobs in a queue state."""

    def docs(self, status: str | None = None) -> list[JSONDict]:
        """Every job document (of ``status``), newest first."""

    def events(self, job_id: str) -> list[JSONDict]:
        """The job's events, oldest first."""

    def purge(self, now: float, done: str) -> int:
        """Delete jobs in state ``done`` whose retention ended before ``now``, with their events; how many."""


class WatchStore(Protocol):
    """The watch folder's records: one per version of a file (its fingerprint is unique)."""

    def recover(self, processing: str, error: str, message: str) -> set[str]:
        """Mark the records a crash left ``processing`` as ``error``; every fingerprint recorded."""

    def add(self, fingerprint: str, path: str, size: int, mtime_ns: int, *, status: str, created: float) -> int | None:
        """Record a file version; its id, or None when that fingerprint is recorded already."""

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

    def get(self, record_id: int) -> JSONDict:
        """One record (its columns: path, size, status, created, asset_id, execution_id, job_ids, message)."""

    def newest(self, limit: int) -> list[JSONDict]:
        """The newest records first."""
