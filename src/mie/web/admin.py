"""Pages about the engine's work: executions (live), transcode jobs, workflows and operators."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mie.consumers.media_index import media_name
from mie.errors import MieError
from mie.jobs.service import JobService
from mie.web.base import require_session, services, shown_status
from mie.web.pages import playlists, render
from mie.web.stream import active_snapshots

router = APIRouter(include_in_schema=False)

HISTORY = 100
#: The sample's progress metrics shown per job (docs/jobs.md).
METRICS = (
    "framesDecoded", "frameCount", "framesRemaining", "decodeRate", "estDecodeTimeRemaining", "queuedDuration",
    "progressingDuration", "decodeDuration",
)  # fmt: skip


def when(value: Any) -> str:
    """Epoch seconds (number or MIE's string) as a UTC date and time."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(value)))
    except (TypeError, ValueError):
        return ""


@router.get("/executions")
def executions_page(request: Request) -> HTMLResponse:
    """Running executions (kept live by server-sent events) and the history, newest first."""
    require_session(request)
    svc = services(request)
    records, _ = svc.executions.list_all()
    names: dict[str, str] = {}
    history = []
    for record in reversed(records[-HISTORY:]):
        asset_id = record.get("AssetId")
        if asset_id and asset_id not in names:
            try:
                names[asset_id] = media_name(svc.dataplane.get_asset(asset_id)["s3_key"])
            except MieError:
                names[asset_id] = "(deleted asset)"
        failed = [
            (stage, output.get("Name"), (output.get("MetaData") or {}))
            for stage, body in ((record.get("Workflow") or {}).get("Stages") or {}).items()
            for output in body.get("Outputs") or []
            if isinstance(output, dict) and output.get("Status") == "Error"
        ]
        history.append(
            {
                "Id": record["Id"],
                "AssetId": asset_id,
                "Name": names.get(asset_id or "", ""),
                "Workflow": (record.get("Workflow") or {}).get("Name"),
                "Status": shown_status(record.get("Status"), record.get("Message")),
                "Stage": record.get("CurrentStage"),
                "Message": record.get("Message"),
                "Created": when(record.get("Created")),
                "Failed": failed,
            }
        )
    return render(request, "executions.html", "executions", running=active_snapshots(request), history=history,
                  names=names)  # fmt: skip


def _jobs(request: Request) -> JobService | None:
    component = services(request).jobs
    return component.jobs if component is not None else None


@router.get("/jobs")
def jobs_page(request: Request) -> HTMLResponse:
    """Transcode jobs with the MediaConvert sample's progress metrics; HLS and MP4 outputs playable."""
    require_session(request)
    service = _jobs(request)
    jobs: list[dict[str, Any]] = service.list_jobs() if service is not None else []
    for job in jobs:
        job["_created"] = when(job.get("createdAt"))
        inputs = (job.get("settings") or {}).get("Inputs") or [{}]
        source = (job.get("userMetadata") or {}).get("input") or (inputs[0] or {}).get("FileInput") or ""
        job["_input"] = str(source).rsplit("/", 1)[-1]
        job["_playlists"] = [p.removeprefix("s3://").partition("/") for p in playlists(job)]
        files = []
        for group in job.get("outputGroupDetails") or []:
            for output in group.get("outputDetails") or [] if isinstance(group, dict) else []:
                for path in output.get("outputFilePaths") or [] if isinstance(output, dict) else []:
                    if isinstance(path, str) and path.startswith("s3://"):
                        files.append(path.removeprefix("s3://").partition("/"))
        job["_files"] = files
    return render(request, "jobs.html", "jobs", jobs=jobs, enabled=service is not None, metric_names=METRICS)


@router.get("/workflows")
def workflows_page(request: Request, name: str = "", asset: str = "") -> HTMLResponse:
    """Workflows with their stages and operators' configuration; start one on an asset with a form."""
    require_session(request)
    svc = services(request)
    workflows = sorted(svc.catalog.list_workflows(), key=lambda w: w["Name"])
    chosen = next((w for w in workflows if w["Name"] == name), workflows[0] if workflows else None)
    operations = sorted(svc.catalog.list_operations(), key=lambda o: o["Name"])
    assets = []
    ids, _ = svc.dataplane.list_assets()
    for asset_id in reversed(ids[-200:]):
        try:
            assets.append((asset_id, media_name(svc.dataplane.get_asset(asset_id)["s3_key"])))
        except MieError:
            continue
    order: list[str] = []
    if chosen is not None:
        stage = chosen.get("StartAt")
        while stage and stage in chosen["Stages"] and stage not in order:
            order.append(stage)
            stage = chosen["Stages"][stage].get("Next")
    return render(
        request, "workflows.html", "workflows", workflows=workflows, chosen=chosen, order=order,
        operations=operations, assets=assets, asset=asset,
    )  # fmt: skip
