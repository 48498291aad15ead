"""Transcode jobs: create, list, read, cancel; a pool of worker threads runs them (one ffmpeg process each).

The ``jobs`` table is the queue: a job is ``queued`` until a worker claims it (``running``), then ``done``. Every
event is stored, merged into the job document by the collector (:mod:`mie.jobs.metrics`) and appended to the change
log (source ``MediaConvert``) in ONE transaction, then the change log's followers are woken.

Restarts: jobs a stopping server was running go back to the queue; jobs found ``running`` at start-up (the server
crashed) too. A job is claimed at most ``1 + MIE_JOB_MAX_RESTARTS`` times, then it ends ERROR (code 1999): a job is
never left PROGRESSING. This assumes one server runs the jobs of a database (the embedded engine's data-directory
lock guarantees it for SQLite).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Table, delete, insert, select, update

from mie.errors import ConflictError, InvalidError, NotFoundError
from mie.jobs import events as ev
from mie.jobs.config import JobsConfig
from mie.jobs.metrics import apply_event, summary
from mie.jobs.probe import InputInfo
from mie.jobs.spec import JobSpec, parse_job, split_request
from mie.jobs.transcode import (
    ERROR_INTERRUPTED,
    JobCancelledError,
    JobFailedError,
    Progress,
    run_job,
)
from mie.types import JSONDict

if TYPE_CHECKING:
    from mie.dataplane.service import DataPlane

log = logging.getLogger(__name__)

QUEUED, RUNNING, INLINE, DONE = "queued", "running", "inline", "done"
_PURGE_EVERY = 60.0
#: Running services by database URL, so that the Transcode operator records its jobs where the API shows them.
_ACTIVE: dict[str, JobService] = {}
_ACTIVE_LOCK = threading.Lock()


class JobTables(Protocol):
    """The SQL tables of jobs (``mie.storage.sql.jobs_tables``, passed in by the composition root)."""

    jobs: Table
    job_events: Table
    watch_files: Table


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def active_service(db_url: str) -> JobService | None:
    """The started job service on the database at ``db_url`` in this process, if any."""
    with _ACTIVE_LOCK:
        return _ACTIVE.get(db_url)


class _Sink:
    """Turns a running job's progress into INPUT_INFORMATION and (throttled) STATUS_UPDATE events."""

    def __init__(self, service: JobService, job_id: str, meta: dict[str, str], interval: float, retries: int) -> None:
        self.service, self.job_id, self.meta = service, job_id, meta
        self.interval, self.retries = interval, retries
        self.cancel = threading.Event()
        self.on_progress: Callable[[Progress], None] | None = None
        self._last: tuple[str, float] = ("", float("-inf"))
        self._last_percent = -1

    def input_information(self, info: InputInfo) -> None:
        self.service.emit(
            self.job_id, ev.job_event(self.job_id, ev.INPUT_INFORMATION, self.meta, inputDetails=[info.details])
        )

    def progress(self, progress: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)
        phase, at = self._last
        now = time.monotonic()
        percent = progress.job_percent
        if percent <= self._last_percent and phase == progress.phase:
            return
        if phase == progress.phase and now - at < self.interval and progress.phase_percent < 100:
            return
        self._last, self._last_percent = (progress.phase, now), max(percent, self._last_percent)
        event = ev.job_event(
            self.job_id,
            ev.STATUS_UPDATE,
            self.meta,
            framesDecoded=progress.frames,
            jobProgress=progress.job_progress(self.retries),
        )
        self.service.emit(self.job_id, event)

    def cancelled(self) -> bool:
        return self.cancel.is_set()


class JobService:
    """Jobs and their worker pool (a :class:`~mie.types.Component`)."""

    def __init__(self, dataplane: DataPlane, tables: JobTables, config: JobsConfig, scratch_root: Path) -> None:
        self.dataplane = dataplane
        self.db = dataplane.db
        self.changes = dataplane.changes
        self.t = tables
        self.config = config
        self.scratch_root = scratch_root
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sinks: dict[str, _Sink] = {}
        self._lock = threading.Lock()
        self._last_purge = 0.0

    # Lifecycle ---------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Put jobs a previous process was running back in the queue, then start the workers."""
        self._stopping.clear()
        with self.db.write() as conn:
            conn.execute(update(self.t.jobs).where(self.t.jobs.c.state == RUNNING).values(state=QUEUED))
            inline = conn.execute(select(self.t.jobs.c.id).where(self.t.jobs.c.state == INLINE)).scalars().all()
            for job_id in inline:
                # A workflow's Transcode: its task is retried by the engine, which makes a new job.
                self._finish(conn, job_id, ERROR_INTERRUPTED, "the server stopped while the Transcode operator ran")
        self.changes.notify()
        self.purge()
        for n in range(self.config.job_workers):
            thread = threading.Thread(target=self._work, name=f"mie-job-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        with _ACTIVE_LOCK:
            _ACTIVE[self.db.url] = self

    def stop(self) -> None:
        """Kill running ffmpeg processes (their jobs go back to the queue) and stop the workers."""
        with _ACTIVE_LOCK:
            if _ACTIVE.get(self.db.url) is self:
                del _ACTIVE[self.db.url]
        self._stopping.set()
        with self._lock:
            for sink in self._sinks.values():
                sink.cancel.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads.clear()

    # Records -----------------------------------------------------------------------------------------------------

    def create(
        self,
        body: Any,
        *,
        user_metadata: dict[str, str] | None = None,
        asset_id: str | None = None,
        state: str = QUEUED,
    ) -> JSONDict:
        """Check and queue a job (a CreateJob body, or bare ``Settings``); its document. 400 on unsupported settings."""
        request, settings = split_request(body)
        parse_job(settings, status_update_interval=request.get("StatusUpdateInterval"))
        meta = {**(request.get("UserMetadata") or {}), **(user_metadata or {})}
        now = time.time()
        job_id = ev.new_job_id(now)
        job = {
            "id": job_id,
            "arn": ev.job_arn(job_id),
            "createdAt": now,
            "queue": ev.QUEUE,
            "status": ev.SUBMITTED,
            "userMetadata": meta,
            "settings": settings,
        }
        stored = {**request, "UserMetadata": meta, "Settings": settings}
        event = ev.job_event(job_id, ev.SUBMITTED, meta, when=now, job=job)
        with self.db.write() as conn:
            conn.execute(
                insert(self.t.jobs).values(
                    id=job_id,
                    status=ev.SUBMITTED,
                    state=state,
                    attempt=0,
                    asset_id=asset_id,
                    created_at=now,
                    expires_at=now + self.config.retention_seconds,
                    request=_dumps(stored),
                    doc="null",
                )
            )
            doc = self._append(conn, job_id, event)
        self.changes.notify()
        with self._wake:
            self._wake.notify()
        return summary(doc)

    def get(self, job_id: str) -> JSONDict:
        """The job document with its progress metrics; 404 when unknown (or expired)."""
        with self.db.read() as conn:
            row = conn.execute(select(self.t.jobs.c.doc).where(self.t.jobs.c.id == job_id)).first()
        if row is None:
            raise NotFoundError(f"Job {job_id} does not exist")
        return summary(json.loads(row.doc))

    def list_jobs(self, status: str | None = None) -> list[JSONDict]:
        """Every job (of ``status``), newest first."""
        if status is not None and status not in ev.STATUSES:
            raise InvalidError(f"status must be one of {', '.join(ev.STATUSES)}, not {status!r}")
        query = select(self.t.jobs.c.doc).order_by(self.t.jobs.c.created_at.desc(), self.t.jobs.c.id.desc())
        if status is not None:
            query = query.where(self.t.jobs.c.status == status)
        with self.db.read() as conn:
            return [summary(json.loads(doc)) for doc in conn.execute(query).scalars()]

    def events(self, job_id: str) -> list[JSONDict]:
        """The job's events, oldest first; 404 when the job is unknown."""
        self.get(job_id)
        query = select(self.t.job_events.c.payload).where(self.t.job_events.c.job_id == job_id)
        with self.db.read() as conn:
            return [json.loads(p) for p in conn.execute(query.order_by(self.t.job_events.c.seq)).scalars()]

    def cancel(self, job_id: str) -> JSONDict:
        """Cancel a queued or running job (its ffmpeg is killed); 409 when it already ended."""
        with self.db.write() as conn:
            row = conn.execute(select(self.t.jobs.c.state).where(self.t.jobs.c.id == job_id)).first()
            if row is None:
                raise NotFoundError(f"Job {job_id} does not exist")
            if row.state == DONE:
                raise ConflictError(f"Job {job_id} has already ended")
            if row.state == QUEUED:
                self._finish(conn, job_id, None, None)
        self.changes.notify()
        with self._lock:
            sink = self._sinks.get(job_id)
        if sink is not None:
            sink.cancel.set()
        return self.get(job_id)

    def emit(self, job_id: str, event: JSONDict, **values: Any) -> JSONDict:
        """Store ``event``, merge it into the job and append it to the change log (one transaction)."""
        with self.db.write() as conn:
            doc = self._append(conn, job_id, event, **values)
        self.changes.notify()
        return doc

    def _append(self, conn: Connection, job_id: str, event: JSONDict, **values: Any) -> JSONDict:
        jobs = self.t.jobs
        row = conn.execute(select(jobs.c.doc, jobs.c.asset_id).where(jobs.c.id == job_id)).first()
        if row is None:
            raise NotFoundError(f"Job {job_id} does not exist")
        ttl = self.config.retention_seconds
        doc = apply_event(json.loads(row.doc), event, ttl_seconds=ttl)
        stamp = ev.event_time(event)
        conn.execute(
            insert(self.t.job_events).values(
                id=event["id"], job_id=job_id, timestamp=stamp, expires_at=stamp + ttl, payload=_dumps(event)
            )
        )
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(status=doc["status"], doc=_dumps(doc), expires_at=doc["timestampTTL"], **values)
        )
        self.changes.append(conn, ev.CHANGE_SOURCE, row.asset_id, event)
        return doc

    def _finish(self, conn: Connection, job_id: str, code: int | None, message: str | None) -> JSONDict:
        """End a job ERROR (``code``) or CANCELED (``code`` None) inside ``conn``'s transaction."""
        meta = self._meta(conn, job_id)
        if code is None:
            event = ev.job_event(job_id, ev.CANCELED, meta)
        else:
            event = ev.job_event(job_id, ev.ERROR, meta, errorCode=code, errorMessage=message)
        return self._append(conn, job_id, event, state=DONE)

    def _meta(self, conn: Connection, job_id: str) -> dict[str, str]:
        raw = conn.execute(select(self.t.jobs.c.request).where(self.t.jobs.c.id == job_id)).scalar_one()
        meta: dict[str, str] = json.loads(raw).get("UserMetadata") or {}
        return meta

    def purge(self) -> int:
        """Delete ended jobs (and their events) whose retention is over; how many jobs went."""
        now = time.time()
        self._last_purge = now
        jobs, events = self.t.jobs, self.t.job_events
        expired = select(jobs.c.id).where((jobs.c.expires_at < now) & (jobs.c.state == DONE))
        with self.db.write() as conn:
            conn.execute(delete(events).where(events.c.job_id.in_(expired.scalar_subquery())))
            gone = conn.execute(delete(jobs).where((jobs.c.expires_at < now) & (jobs.c.state == DONE))).rowcount
        return int(gone or 0)

    # Workers -----------------------------------------------------------------------------------------------------

    def _claim(self) -> tuple[str, JSONDict, int] | None:
        jobs = self.t.jobs
        with self.db.write() as conn:
            row = conn.execute(
                select(jobs.c.id, jobs.c.request, jobs.c.attempt)
                .where(jobs.c.state == QUEUED)
                .order_by(jobs.c.created_at, jobs.c.id)
                .limit(1)
            ).first()
            if row is None:
                return None
            attempt = int(row.attempt) + 1
            if attempt > 1 + self.config.job_max_restarts:
                self._finish(
                    conn, row.id, ERROR_INTERRUPTED, f"the job was interrupted {row.attempt} times by server restarts"
                )
                claimed = None
            else:
                conn.execute(update(jobs).where(jobs.c.id == row.id).values(state=RUNNING, attempt=attempt))
                claimed = (str(row.id), json.loads(row.request), attempt)
        self.changes.notify()
        return claimed if claimed is not None else ("", {}, 0)

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                if time.time() - self._last_purge > _PURGE_EVERY:
                    self.purge()
                claimed = self._claim()
            except Exception:
                log.exception("the job queue failed; retrying")
                claimed = None
            if claimed is None:
                with self._wake:
                    if not self._stopping.is_set():
                        self._wake.wait(1.0)
                continue
            job_id, request, attempt = claimed
            if job_id:
                self._run(job_id, request, attempt)

    def _run(self, job_id: str, request: JSONDict, attempt: int, sink: _Sink | None = None) -> JSONDict:
        meta: dict[str, str] = request.get("UserMetadata") or {}
        spec = parse_job(request["Settings"], status_update_interval=request.get("StatusUpdateInterval"))
        interval = spec.status_interval or self.config.job_status_interval
        sink = sink or _Sink(self, job_id, meta, interval, attempt - 1)
        with self._lock:
            self._sinks[job_id] = sink
        self.emit(job_id, ev.job_event(job_id, ev.PROGRESSING, meta))
        self.scratch_root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"job-{job_id}-", dir=self.scratch_root))
        try:
            return self._execute(job_id, spec, meta, scratch, sink)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            with self._lock:
                self._sinks.pop(job_id, None)

    def _execute(self, job_id: str, spec: JobSpec, meta: dict[str, str], scratch: Path, sink: _Sink) -> JSONDict:
        try:
            details = run_job(
                spec,
                objects=self.dataplane.objects,
                scratch=scratch,
                sink=sink,
                ffmpeg=self.config.ffmpeg,
                ffprobe_tool=self.config.ffprobe,
            )
        except JobCancelledError:
            stopping = self._stopping.is_set()
            if stopping and sink.on_progress is None:
                with self.db.write() as conn:
                    conn.execute(update(self.t.jobs).where(self.t.jobs.c.id == job_id).values(state=QUEUED))
                log.info("job %s goes back to the queue: the server is stopping", job_id)
                return self.get(job_id)
            with self.db.write() as conn:
                if stopping:  # a workflow's Transcode: the engine retries its task
                    doc = self._finish(conn, job_id, ERROR_INTERRUPTED, "the server stopped while the job ran")
                else:
                    doc = self._finish(conn, job_id, None, None)
            self.changes.notify()
            return summary(doc)
        except JobFailedError as exc:
            log.info("job %s failed: %s", job_id, exc.message)
            event = ev.job_event(job_id, ev.ERROR, meta, errorCode=exc.code, errorMessage=exc.message)
            return summary(self.emit(job_id, event, state=DONE))
        except Exception as exc:  # a bug: still end the job, never leave it PROGRESSING
            log.exception("job %s failed unexpectedly", job_id)
            event = ev.job_event(
                job_id, ev.ERROR, meta, errorCode=ERROR_INTERRUPTED, errorMessage=f"internal error: {exc}"
            )
            return summary(self.emit(job_id, event, state=DONE))
        event = ev.job_event(job_id, ev.COMPLETE, meta, outputGroupDetails=details, warnings=[])
        return summary(self.emit(job_id, event, state=DONE))

    def run_inline(
        self,
        body: JSONDict,
        *,
        user_metadata: dict[str, str],
        asset_id: str | None,
        cancelled: Callable[[], bool],
        on_progress: Callable[[Progress], None],
    ) -> JSONDict:
        """Create a job and run it in the calling thread (the Transcode operator); its final document."""
        doc = self.create(body, user_metadata=user_metadata, asset_id=asset_id, state=INLINE)
        job_id = str(doc["id"])
        with self.db.read() as conn:
            request = json.loads(
                conn.execute(select(self.t.jobs.c.request).where(self.t.jobs.c.id == job_id)).scalar_one()
            )
        spec = parse_job(request["Settings"], status_update_interval=request.get("StatusUpdateInterval"))
        sink = _Sink(self, job_id, request["UserMetadata"], spec.status_interval or self.config.job_status_interval, 0)
        sink.on_progress = on_progress
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(0.2):
                if cancelled():
                    sink.cancel.set()
                    return

        watcher = threading.Thread(target=watch, name=f"transcode-cancel-{job_id}", daemon=True)
        watcher.start()
        try:
            return self._run(job_id, request, 1, sink)
        finally:
            stop.set()
            watcher.join()
