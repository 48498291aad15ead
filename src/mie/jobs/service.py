"""Transcode jobs: create, list, read, cancel; a pool of worker threads runs them (one ffmpeg process each).

The jobs are a :class:`~mie.storage.workqueue.WorkQueue` (:attr:`mie.storage.jobs.JobStore.queue`): a job is
``queued`` until a worker claims it (``running``), then ``done``; the workers are a
:class:`~mie.background.CallbackLoop`, woken when a job is created. Every event is stored, merged into the job
document by the collector (:mod:`mie.jobs.metrics`) and appended to the change log (source ``MediaConvert``) in ONE
transaction (:meth:`mie.storage.jobs.JobStore.record`), then the change log's followers are woken.

Restarts: jobs a stopping server was running go back to the queue; jobs found ``running`` at start-up (the server
crashed) too. A job is claimed at most ``1 + MIE_JOB_MAX_RESTARTS`` times, then it ends ERROR (code 1999): a job is
never left PROGRESSING. This assumes one server runs the jobs of a database (the embedded engine's data-directory
lock guarantees it for SQLite).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mie.background import CallbackLoop
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
from mie.storage.jobs import JobRow, JobStore, JobWrite, NewJob
from mie.storage.workqueue import Claim
from mie.types import JSONDict

if TYPE_CHECKING:
    from mie.dataplane.service import DataPlane

log = logging.getLogger(__name__)

QUEUED, RUNNING, INLINE, DONE = "queued", "running", "inline", "done"
_PURGE_EVERY = 60.0
#: How often a Transcode operator's job looks at its task's cancellation (a callback, nothing to be woken by).
_CANCEL_CHECK = 0.2


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

    def __init__(self, dataplane: DataPlane, store: JobStore, config: JobsConfig, scratch_root: Path) -> None:
        self.dataplane = dataplane
        self.changes = dataplane.changes
        self.store = store
        self.config = config
        self.scratch_root = scratch_root
        self._stopping = threading.Event()
        self._sinks: dict[str, _Sink] = {}
        self._lock = threading.Lock()
        self._last_purge = 0.0
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self.workers = CallbackLoop("job-worker", self._work_step, threads=config.job_workers, stop_timeout=15.0)

    # Lifecycle ---------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Put jobs a previous process was running back in the queue, then start the workers."""
        self._stopping.clear()
        self.store.queue.requeue_leased()
        for job_id in self.store.ids_in_state(INLINE):
            # A workflow's Transcode: its task is retried by the engine, which makes a new job.
            self.store.record(
                job_id, self._finishing(ERROR_INTERRUPTED, "the server stopped while the Transcode operator ran")
            )
        self.changes.notify()
        self.purge()
        self.workers.start()

    def stop(self) -> None:
        """Kill running ffmpeg processes (their jobs go back to the queue) and stop the workers."""
        self._stopping.set()
        with self._lock:
            for sink in self._sinks.values():
                sink.cancel.set()
        self.workers.stop()

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
        new = NewJob(
            id=job_id,
            state=state,
            status=ev.SUBMITTED,
            asset_id=asset_id,
            created_at=now,
            expires_at=now + self.config.retention_seconds,
            request=stored,
        )
        doc = self.store.add(new, self._change(event))
        self.changes.notify()
        self.workers.wake()
        return summary(doc)

    def _row(self, job_id: str) -> JobRow:
        row = self.store.get(job_id)
        if row is None or row.doc is None:
            raise NotFoundError(f"Job {job_id} does not exist")
        return row

    def get(self, job_id: str) -> JSONDict:
        """The job document with its progress metrics; 404 when unknown (or expired)."""
        doc = self._row(job_id).doc
        assert doc is not None
        return summary(doc)

    def list_jobs(self, status: str | None = None) -> list[JSONDict]:
        """Every job (of ``status``), newest first."""
        if status is not None and status not in ev.STATUSES:
            raise InvalidError(f"status must be one of {', '.join(ev.STATUSES)}, not {status!r}")
        return [summary(doc) for doc in self.store.docs(status)]

    def events(self, job_id: str) -> list[JSONDict]:
        """The job's events, oldest first; 404 when the job is unknown."""
        self.get(job_id)
        return self.store.events(job_id)

    def cancel(self, job_id: str) -> JSONDict:
        """Cancel a queued or running job (its ffmpeg is killed); 409 when it already ended."""
        finish = self._finishing(None, None)

        def change(row: JobRow) -> JobWrite | None:
            if row.state == DONE:
                raise ConflictError(f"Job {job_id} has already ended")
            return finish(row) if row.state == QUEUED else None

        self.store.record(job_id, change)
        self.changes.notify()
        with self._lock:
            sink = self._sinks.get(job_id)
        if sink is not None:
            sink.cancel.set()
        return self.get(job_id)

    def emit(self, job_id: str, event: JSONDict, *, state: str | None = None) -> JSONDict:
        """Store ``event``, merge it into the job and append it to the change log (one transaction)."""
        doc = self.store.record(job_id, self._change(event, state))
        assert doc is not None
        self.changes.notify()
        return doc

    def _change(self, event: JSONDict, state: str | None = None) -> Callable[[JobRow], JobWrite]:
        """The write of ``event``: merged into the document the transaction reads."""
        ttl = self.config.retention_seconds

        def change(row: JobRow) -> JobWrite:
            doc = apply_event(row.doc, event, ttl_seconds=ttl)
            stamp = ev.event_time(event)
            return JobWrite(event, stamp, stamp + ttl, doc, float(doc["timestampTTL"]), state)

        return change

    def _finishing(self, code: int | None, message: str | None) -> Callable[[JobRow], JobWrite]:
        """The write that ends a job ERROR (``code``) or CANCELED (``code`` None)."""

        def change(row: JobRow) -> JobWrite:
            meta: dict[str, str] = row.request.get("UserMetadata") or {}
            if code is None:
                event = ev.job_event(row.id, ev.CANCELED, meta)
            else:
                event = ev.job_event(row.id, ev.ERROR, meta, errorCode=code, errorMessage=message)
            return self._change(event, DONE)(row)

        return change

    def purge(self) -> int:
        """Delete ended jobs (and their events) whose retention is over; how many jobs went."""
        now = time.time()
        self._last_purge = now
        return self.store.purge(now, DONE)

    # Workers -----------------------------------------------------------------------------------------------------

    def _work_step(self) -> float | None:
        """One worker step: claim the oldest queued job and run it; else sleep until a job is created (or the next
        purge is due)."""
        if time.time() - self._last_purge > _PURGE_EVERY:
            self.purge()
        claim = self.store.queue.claim(self._owner, now=time.time(), lease=None)
        if claim is None:
            return max(self._last_purge + _PURGE_EVERY - time.time(), 1.0)
        if claim.attempt > 1 + self.config.job_max_restarts:
            message = f"the job was interrupted {claim.attempt - 1} times by server restarts"
            self.store.record(claim.item_id, self._finishing(ERROR_INTERRUPTED, message))
            self.changes.notify()
            return 0.0
        row = self._row(claim.item_id)
        self._run(claim.item_id, row.request, claim.attempt, claim=claim)
        return 0.0

    def _run(
        self, job_id: str, request: JSONDict, attempt: int, sink: _Sink | None = None, claim: Claim | None = None
    ) -> JSONDict:
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
            return self._execute(job_id, spec, meta, scratch, sink, claim=claim)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            with self._lock:
                self._sinks.pop(job_id, None)

    def _execute(
        self, job_id: str, spec: JobSpec, meta: dict[str, str], scratch: Path, sink: _Sink, *, claim: Claim | None
    ) -> JSONDict:
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
            if stopping and claim is not None:
                self.store.queue.release(claim)
                log.info("job %s goes back to the queue: the server is stopping", job_id)
                return self.get(job_id)
            if stopping:  # a workflow's Transcode: the engine retries its task
                finish = self._finishing(ERROR_INTERRUPTED, "the server stopped while the job ran")
            else:
                finish = self._finishing(None, None)
            doc = self.store.record(job_id, finish)
            assert doc is not None
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
        request = self._row(job_id).request
        spec = parse_job(request["Settings"], status_update_interval=request.get("StatusUpdateInterval"))
        sink = _Sink(self, job_id, request["UserMetadata"], spec.status_interval or self.config.job_status_interval, 0)
        sink.on_progress = on_progress

        def check() -> float | None:
            if cancelled():
                sink.cancel.set()
                return None  # nothing more to watch: sleep until stopped
            return _CANCEL_CHECK

        watcher = CallbackLoop(f"transcode-cancel-{job_id}", check)
        watcher.start()
        try:
            return self._run(job_id, request, 1, sink)
        finally:
            watcher.stop()
