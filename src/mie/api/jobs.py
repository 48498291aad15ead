"""The job progress API (seed: MediaConvert Job Progress Metrics): create, list, read and cancel transcode jobs,
their events, and the watch folder's records. ``/api/progress/...`` are the sample's own route names."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from mie.api import schemas
from mie.api.deps import json_body, require_key, services
from mie.errors import NotFoundError, NotImplementedYetError
from mie.jobs.component import JobsComponent
from mie.jobs.events import STATUSES
from mie.jobs.service import JobService
from mie.types import JSONDict

router = APIRouter(dependencies=[Depends(require_key)], tags=["jobs"])
Body = Annotated[Any, Depends(json_body)]


def _component(request: Request) -> JobsComponent:
    component = services(request).jobs
    if component is None:
        raise NotImplementedYetError("transcode jobs are not enabled on this server")
    return component


def _jobs(request: Request) -> JobService:
    return _component(request).jobs


@router.post("/jobs", status_code=201, openapi_extra=schemas.body(schemas.JobRequest))
def create_job(request: Request, body: Body) -> JSONDict:
    """CreateJob: ``{"Settings": {...}, "UserMetadata": {...}, "StatusUpdateInterval": ...}``; 400 names an
    unsupported setting. Answers ``{"Job": <job document>}``."""
    return {"Job": _jobs(request).create(body)}


@router.get("/jobs")
def list_jobs(request: Request) -> list[JSONDict]:
    """Every job, newest first."""
    return _jobs(request).list_jobs()


@router.get("/jobs/{status_or_id}")
def job_or_status(request: Request, status_or_id: str) -> Any:
    """``/jobs/{status}`` (SUBMITTED, PROGRESSING, COMPLETE, ERROR, CANCELED): every job with that status, newest
    first; ``/jobs/{job_id}``: that job's document with its progress metrics (404 when unknown)."""
    if status_or_id in STATUSES:
        return _jobs(request).list_jobs(status_or_id)
    return _jobs(request).get(status_or_id)


@router.get("/jobs/{job_id}/events")
def job_events(request: Request, job_id: str) -> list[JSONDict]:
    """The job's events, oldest first."""
    return _jobs(request).events(job_id)


@router.post("/jobs/{job_id}/cancel")
def cancel_job(request: Request, job_id: str) -> JSONDict:
    """Cancel a queued or running job (409 once it ended)."""
    return _jobs(request).cancel(job_id)


@router.get("/progress/status/{status}")
def progress_by_status(request: Request, status: str) -> list[JSONDict]:
    """The sample's ``/progress/status/{status}`` (every page, newest first)."""
    return _jobs(request).list_jobs(status)


@router.get("/progress/job/{job_id}")
def progress_job(request: Request, job_id: str) -> JSONDict:
    """The sample's ``/progress/job/{jobId}`` (404 instead of ``{}`` when unknown)."""
    return _jobs(request).get(job_id)


@router.get("/watch")
def watch_records(request: Request) -> JSONResponse:
    """The watch folder's settings and its newest file records (failures carry a ``Message``)."""
    component = _component(request)
    watcher = component.watcher
    if watcher is None:
        raise NotFoundError("the watch folder is turned off (MIE_WATCH_ENABLED=false)")
    config = watcher.config
    return JSONResponse(
        {
            "WatchDir": str(config.watch_dir),
            "Workflow": config.watch_workflow or None,
            "OutputBucket": config.job_output_bucket,
            "Files": watcher.records(),
        }
    )
