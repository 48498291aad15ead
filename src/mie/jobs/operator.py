"""The ``Transcode`` operator: run a transcode job on a workflow's video.

Configuration: ``JobSettings`` (MediaConvert ``Settings`` or a CreateJob body; empty: the bundled default job) and
``SettingsName`` (the ``<settings stem>`` of the output paths). Outputs go under the execution's media path
(``private/assets/<a>/workflows/<w>/Transcode/<settings stem>/...``); the result is the job's
``outputGroupDetails``. When the server's job service is given to the operator (:func:`mie.jobs.bind`, by the
composition root), the job is recorded and shown by ``/api/jobs``; without one (``mie.testing``, a worker process),
the job runs directly.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from mie.errors import InvalidError, OperatorCancelledError, OperatorError
from mie.jobs.defaults import DEFAULT_NAME, default_job
from mie.jobs.spec import parse_job, rewrite_destinations, set_input, split_request
from mie.jobs.transcode import JobCancelledError, JobFailedError, Progress, run_job
from mie.operators.context import OperatorContext
from mie.operators.definition import operator
from mie.types import JSONDict


class InlineJobs(Protocol):
    """What the operators need of the job service (:meth:`mie.jobs.service.JobService.run_inline`)."""

    def run_inline(
        self,
        body: JSONDict,
        *,
        user_metadata: dict[str, str],
        asset_id: str | None,
        cancelled: Callable[[], bool],
        on_progress: Callable[[Progress], None],
    ) -> JSONDict:
        """Create a job and run it in the calling thread; its final document."""


class _OperatorSink:
    def __init__(self, ctx: OperatorContext) -> None:
        self.ctx = ctx

    def input_information(self, info: object) -> None:
        return None

    def progress(self, progress: Progress) -> None:
        self.ctx.runtime.report_progress(float(progress.job_percent), f"{progress.phase} {progress.phase_percent:.0f}%")

    def cancelled(self) -> bool:
        return self.ctx.cancelled


def run_transcode(
    ctx: OperatorContext, body: JSONDict, meta: dict[str, str], what: str, jobs: InlineJobs | None = None
) -> tuple[str | None, list[JSONDict]]:
    """Run a job (a CreateJob body, input and destinations already set) for an operator: as a recorded job of the
    job service ``jobs`` (listed by ``/api/jobs``) when there is one, else directly. Returns the job id (None without
    a service) and its ``outputGroupDetails``; fails the operator with the job's error."""
    try:
        request, settings = split_request(body)
        spec = parse_job(settings, status_update_interval=request.get("StatusUpdateInterval"))
    except InvalidError as exc:
        raise OperatorError(f"{what}: {exc.message}") from exc
    if jobs is not None:
        doc = jobs.run_inline(
            {**request, "Settings": settings},
            user_metadata=meta,
            asset_id=ctx.asset_id or None,
            cancelled=lambda: ctx.cancelled,
            on_progress=_OperatorSink(ctx).progress,
        )
        if doc.get("status") == "CANCELED":
            raise OperatorCancelledError(f"{what}: the execution was cancelled")
        if doc.get("status") != "COMPLETE":
            raise OperatorError(f"{what}: job {doc.get('id')} failed: {doc.get('errorMessage')}")
        return str(doc.get("id")), list(doc.get("outputGroupDetails") or [])
    scratch = Path(tempfile.mkdtemp(prefix="transcode-", dir=ctx.scratch))
    try:
        details = run_job(spec, objects=ctx.runtime.dataplane.objects, scratch=scratch, sink=_OperatorSink(ctx))
    except JobCancelledError as exc:
        raise OperatorCancelledError(f"{what}: the execution was cancelled") from exc
    except JobFailedError as exc:
        raise OperatorError(f"{what}: {exc.message} (error {exc.code})") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return None, details


@operator(
    "Transcode",
    media_type="Video",
    asynchronous=True,
    configuration={"JobSettings": {}, "SettingsName": DEFAULT_NAME},
    version="1.0.0",
)
def transcode(ctx: OperatorContext, jobs: InlineJobs | None = None) -> JSONDict:
    """Transcode the video with MediaConvert-style job settings (HLS ladder, MP4, thumbnails by default)."""
    raw = ctx.config("JobSettings") or default_job()
    name = str(ctx.config("SettingsName") or DEFAULT_NAME)
    bucket, key = ctx.media_location("Video")
    location = ctx.dataplane.media_path(ctx.asset_id, ctx.workflow_execution_id)
    try:
        request, settings = split_request(raw)
        settings = set_input(settings, f"s3://{bucket}/{key}")
        prefix = f"{location['S3Key']}{ctx.name}"
        settings = rewrite_destinations(settings, location["S3Bucket"], prefix, name)
    except InvalidError as exc:
        raise OperatorError(f"Transcode: {exc.message}") from exc
    meta = {"assetID": ctx.asset_id, "workflowExecutionId": ctx.workflow_execution_id, "settings": name}
    job_id, details = run_transcode(ctx, {**request, "Settings": settings}, meta, "Transcode", jobs)
    ctx.save_results({"jobId": job_id, "settings": name, "outputGroupDetails": details})
    return {"TranscodeJobId": job_id, "OutputGroupDetails": details}
