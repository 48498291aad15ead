"""``mie job``: transcode jobs (MediaConvert-shaped, run with ffmpeg by the server) over ``/api/jobs``.

``create`` uploads a local file (or takes an ``s3://`` object of the store), fills in the bundled default job (an
HLS ladder, an MP4 and thumbnails) or a MediaConvert settings file, and can follow the job to its end: the change
feed is long-polled for the job's ``MediaConvert Job State Change`` events (as ``mie run`` follows executions).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mie.cli import render
from mie.cli.client import ApiError, CliError, MieClient, err, guarded, out, print_json
from mie.cli.remote import FROM_OPTIONS, Remote, connected
from mie.errors import MieError

job_app = typer.Typer(
    help="Transcode jobs (MediaConvert settings, run with ffmpeg): list, show, create, cancel.", no_args_is_help=True
)

#: MediaConvert's job statuses (``GET /api/jobs/{status}``).
STATUSES = ("SUBMITTED", "PROGRESSING", "COMPLETE", "ERROR", "CANCELED")
ENDED = frozenset({"COMPLETE", "ERROR", "CANCELED"})
STYLES = {"SUBMITTED": "yellow", "PROGRESSING": "cyan", "COMPLETE": "green", "ERROR": "red", "CANCELED": "yellow"}
#: Longest long-poll of the change feed while following a job, and the re-read interval without events.
LONG_POLL = 10.0
#: Output files ``mie job show`` lists (thumbnails can be hundreds).
SHOWN_OUTPUTS = 10
#: Where ``mie job create`` uploads a local input (not ``upload/``: the server may analyse files uploaded there).
INPUT_PREFIX = "jobs/input"


def styled(status: Any) -> Text:
    text = str(status or "-")
    return Text(text, style=STYLES.get(text, ""))


def input_of(job: dict[str, Any]) -> str:
    """The job's input: ``userMetadata.input``, else its settings' first ``FileInput``."""
    meta = job.get("userMetadata") or {}
    if meta.get("input"):
        return str(meta["input"])
    for item in (job.get("settings") or {}).get("Inputs") or []:
        if isinstance(item, dict) and item.get("FileInput"):
            return str(item["FileInput"])
    return ""


def percent_of(job: dict[str, Any]) -> float | None:
    metrics = job.get("progressMetrics") or {}
    value = metrics.get("percentJobComplete")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def progress_text(job: dict[str, Any]) -> str:
    """``42% TRANSCODING, ~12 s left`` while it runs; ``100%`` once complete; the error when it failed."""
    status = job.get("status")
    if status == "ERROR":
        code = job.get("errorCode")
        return f"error {code}: {job.get('errorMessage') or ''}".strip() if code else str(job.get("errorMessage") or "")
    percent = percent_of(job)
    if percent is None:
        return ""
    metrics = job.get("progressMetrics") or {}
    text = f"{percent:.0f}%"
    phase = metrics.get("currentPhase") or ((job.get("lastJobProgress") or {}).get("jobProgress") or {}).get(
        "currentPhase"
    )
    if status == "PROGRESSING" and phase:
        text += f" {phase}"
    left = metrics.get("estDecodeTimeRemaining")
    if status == "PROGRESSING" and isinstance(left, int | float) and left > 0:
        text += f", ~{render.duration(float(left))} left"
    return text


def outputs_of(job: dict[str, Any]) -> list[tuple[str, str]]:
    """``(kind, s3 URI)`` of every output a complete job wrote: playlists, then files."""
    found: list[tuple[str, str]] = []
    for group in job.get("outputGroupDetails") or []:
        if not isinstance(group, dict):
            continue
        kind = str(group.get("type") or "").removesuffix("_GROUP").lower() or "output"
        found.extend(("playlist", str(uri)) for uri in group.get("playlistFilePaths") or [])
        for detail in group.get("outputDetails") or []:
            video = detail.get("videoDetails") or {}
            size = f" {video.get('widthInPx')}x{video.get('heightInPx')}" if video.get("widthInPx") else ""
            found.extend((f"{kind}{size}", str(uri)) for uri in detail.get("outputFilePaths") or [])
    return found


@job_app.command("list")
@guarded
@connected()
def job_list(
    *,
    status: Annotated[
        str | None, typer.Option("--status", "-s", help="only this status: " + ", ".join(STATUSES))
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="show only the newest N")] = None,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """List transcode jobs, newest first: status, input file, settings, progress."""
    wanted = status.upper() if status else None
    if wanted is not None and wanted not in STATUSES:
        raise typer.BadParameter(f"must be one of {', '.join(STATUSES)}", param_hint="--status")
    with remote.client() as client:
        jobs = client.get(f"/api/jobs/{wanted}" if wanted else "/api/jobs")
    jobs = jobs[:limit] if limit else jobs
    if remote.show_json(jobs):
        return
    if not jobs:
        out.print(
            "no transcode jobs"
            + (f" with status {wanted}" if wanted else "")
            + ": start one with `mie job create FILE`"
        )
        return
    table = Table(header_style="bold")
    table.add_column("Id", no_wrap=True)
    for column in ("Status", "Input", "Settings", "Created", "Progress"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        table.add_row(
            str(job.get("id")),
            styled(job.get("status")),
            escape(render.file_name(input_of(job))),
            escape(str((job.get("userMetadata") or {}).get("settings") or "")),
            render.timestamp(job.get("createdAt")),
            escape(render.shorten(progress_text(job), 60)),
        )
    out.print(table)


def _show(job: dict[str, Any]) -> None:
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold", no_wrap=True)
    info.add_column(overflow="fold")
    info.add_row("job", str(job.get("id")))
    info.add_row("status", styled(job.get("status")))
    info.add_row("input", escape(input_of(job)))
    meta = job.get("userMetadata") or {}
    if meta.get("settings"):
        info.add_row("settings", escape(str(meta["settings"])))
    if meta.get("assetID"):
        info.add_row("asset", escape(str(meta["assetID"])))
    info.add_row("created", render.timestamp(job.get("createdAt")))
    progress = progress_text(job)
    if progress:
        info.add_row("progress", Text(progress, style="red" if job.get("status") == "ERROR" else ""))
    metrics = job.get("progressMetrics") or {}
    if isinstance(metrics.get("frameCount"), int):
        frames = f"{metrics.get('framesDecoded', 0)} of {metrics['frameCount']} frames decoded"
        if isinstance(metrics.get("decodeRate"), int | float):
            frames += f" ({metrics['decodeRate']:.1f} frames/s)"
        info.add_row("frames", frames)
    if isinstance(metrics.get("progressingDuration"), int | float):
        info.add_row("took", render.duration(float(metrics["progressingDuration"])))
    outputs = outputs_of(job)
    if outputs:
        rows = Text()
        for index, (kind, uri) in enumerate(outputs[:SHOWN_OUTPUTS]):
            if index:
                rows.append("\n")
            rows.append(f"{kind:<16}", style="dim")
            rows.append(uri)
        if len(outputs) > SHOWN_OUTPUTS:
            rows.append(f"\n… {len(outputs) - SHOWN_OUTPUTS} more (--json lists them all)", style="dim")
        info.add_row("outputs", rows)
    out.print(info)


@job_app.command("show")
@guarded
@connected()
def job_show(
    *,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="the job id")],
    events: Annotated[bool, typer.Option("--events", help="also list the job's events")] = False,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Show a job: status, input, progress metrics, outputs (--json: the job document)."""
    with remote.client() as client:
        job = client.get(f"/api/jobs/{job_id}")
        history = client.get(f"/api/jobs/{job_id}/events") if events else None
    if remote.show_json(job if history is None else {"job": job, "events": history}):
        return
    _show(job)
    if history:
        table = Table("Time", "Status", "Detail", box=None, header_style="bold")
        for event in history:
            detail = event.get("detail") or {}
            progress = (detail.get("jobProgress") or {}).get("jobPercentComplete")
            note = f"{progress}%" if progress is not None else str(detail.get("errorMessage") or "")
            stamp = detail.get("timestamp")
            table.add_row(
                render.timestamp(stamp / 1000 if isinstance(stamp, int | float) else None),
                styled(detail.get("status")),
                escape(render.shorten(note, 80)),
            )
        out.print(Text("events", style="bold"))
        out.print(render.indent(table, 2))


@job_app.command("cancel")
@guarded
@connected()
def job_cancel(
    job_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="jobs to cancel")],
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Cancel queued or running jobs (their ffmpeg is stopped; they end CANCELED)."""
    with remote.client() as client:
        remote.each(job_ids, lambda jid: client.post(f"/api/jobs/{jid}/cancel"), lambda jid, _: f"cancelled job {jid}")


# Creating ------------------------------------------------------------------------------------------------------


def load_settings_file(path: Path) -> dict[str, Any]:
    """A CreateJob body or bare ``Settings`` from a JSON file; ``typer.BadParameter`` when it is neither."""
    try:
        body = json.loads(path.read_text())
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror or exc}", param_hint="--settings") from exc
    except ValueError as exc:
        raise typer.BadParameter(f"{path} is not valid JSON: {exc}", param_hint="--settings") from exc
    if not isinstance(body, dict):
        raise typer.BadParameter(f"{path} must hold a JSON object (MediaConvert Settings)", param_hint="--settings")
    return body


def job_request(uri: str, settings_body: dict[str, Any] | None, name: str, output_bucket: str) -> dict[str, Any]:
    """The CreateJob body: the settings (default: the bundled job) reading ``uri``, with template destinations
    (``s3://<MEDIABUCKET>/HLS/``) rewritten as the watch folder does: ``s3://<bucket>/<input stem>/<name>/HLS/``."""
    from mie.jobs.defaults import default_job
    from mie.jobs.spec import rewrite_destinations, set_input, split_request

    request, settings = split_request(settings_body if settings_body is not None else default_job())
    settings = set_input(settings, uri)
    if "<" in json.dumps(_destinations(settings)):
        settings = rewrite_destinations(settings, output_bucket, Path(uri.rpartition("/")[2]).stem, name)
    meta = {"application": "mie-cli", "input": uri, "settings": name, **(request.get("UserMetadata") or {})}
    return {**request, "Settings": settings, "UserMetadata": meta}


def _destinations(settings: dict[str, Any]) -> list[Any]:
    found: list[Any] = []
    for group in settings.get("OutputGroups") or []:
        inner = (group.get("OutputGroupSettings") or {}) if isinstance(group, dict) else {}
        found.extend(v.get("Destination") for v in inner.values() if isinstance(v, dict))
    return found


def follow(client: MieClient, job: dict[str, Any], timeout: float | None, show: bool) -> dict[str, Any]:
    """Re-read the job whenever the change feed carries one of its events, until it ends (or ``timeout``)."""
    from mie.cli.follow import change_head

    job_id = str(job.get("id"))
    cursor = change_head(client)
    deadline = None if timeout is None else time.monotonic() + timeout
    progress: Any = None
    if show:
        from rich.progress import BarColumn, Progress, TextColumn

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[note]}"),
            console=err,
            transient=True,
        )
        progress.start()
        task = progress.add_task(f"job {job_id}", total=100, note="")
    try:
        while True:
            job = client.get(f"/api/jobs/{job_id}")
            if progress is not None:
                progress.update(
                    task, completed=percent_of(job) or 0, note=escape(f"{job.get('status')} {progress_text(job)}")
                )
            if job.get("status") in ENDED:
                return job
            wait = LONG_POLL
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    raise CliError(
                        f"gave up waiting after {timeout:g} s: job {job_id} is {job.get('status')} "
                        f"(it goes on; see `mie job show {job_id}`)"
                    )
            try:
                response = client.request(
                    "GET",
                    "/api/dataplane/changes",
                    params={"after": cursor, "wait": round(max(wait, 0.05), 2), "limit": 1000},
                    timeout=wait + 30.0,
                )
            except ApiError as exc:
                if exc.status not in (404, 405, 501):
                    raise
                time.sleep(1.0)  # a server without the change feed: re-read every second
                continue
            body = response.json()
            cursor = int(body.get("last", cursor))
    finally:
        if progress is not None:
            progress.stop()


@job_app.command("create")
@guarded
@connected()
def job_create(
    *,
    source: Annotated[
        str,
        typer.Argument(metavar="FILE|s3://BUCKET/KEY", help="a local video (uploaded first) or an object in the store"),
    ],
    settings: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            exists=True,
            dir_okay=False,
            help="MediaConvert settings (CreateJob body or bare Settings) \\[default: the bundled HLS/MP4/JPEG job]",
        ),
    ] = None,
    output_bucket: Annotated[
        str,
        typer.Option("--output-bucket", envvar="MIE_JOB_OUTPUT_BUCKET", help="bucket for template destinations"),
    ] = "media",
    wait: Annotated[bool, typer.Option("--wait", help="follow the job to its end (exit 1 unless COMPLETE)")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.0, help="with --wait: give up after this many seconds")
    ] = None,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Create a transcode job on a file: an HLS ladder, an MP4 and thumbnails by default (docs/jobs.md)."""
    body = load_settings_file(settings) if settings is not None else None
    name = settings.stem if settings is not None else "Default"
    with remote.client() as client:
        if source.startswith("s3://"):
            uri = source
        else:
            path = Path(source).expanduser()
            if not path.is_file():
                raise typer.BadParameter(f"{source} is neither a file nor an s3:// URI", param_hint="FILE")
            bucket = client.connection.bucket
            key = f"{INPUT_PREFIX}/{uuid.uuid4().hex[:12]}/{path.name}"
            client.upload(path, bucket, key)
            uri = f"s3://{bucket}/{key}"
        try:
            request = job_request(uri, body, name, output_bucket)
        except MieError as exc:  # not a settings document (the server checks the settings themselves)
            raise CliError(f"{settings}: {exc.message}", exit_code=2) from exc
        job = client.post("/api/jobs", request).get("Job") or {}
        if not remote.json:
            err.print(f"created job {job.get('id')} on {escape(uri)}", soft_wrap=True)
        if wait:
            job = follow(client, job, timeout, show=not remote.json and err.is_terminal)
    if remote.json:
        print_json(job)
    else:
        _show(job)
    if wait and job.get("status") != "COMPLETE":
        raise typer.Exit(1)


__all__ = ["job_app"]
