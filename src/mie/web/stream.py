"""Routes the pages read besides HTML: objects with the session cookie (``/media/...``, HLS included), captions as
WebVTT, and live progress as server-sent events (``/ui/events``)."""

from __future__ import annotations

import asyncio
import json
import mimetypes
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from mie.errors import MieError, NotFoundError, RangeNotSatisfiableError, UnauthorizedError
from mie.types import JSONDict
from mie.web.base import authorised, services
from mie.web.insights import read_results, web_captions_vtt

router = APIRouter(include_in_schema=False)

#: One event stream lasts this long, then the browser reconnects (EventSource does, with ``Last-Event-ID``): a
#: stopping server never waits long for open streams.
STREAM_SECONDS = 4.0
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".vtt": "text/vtt", ".srt": "text/plain"}
_ACTIVE = ("Queued", "Started", "Waiting", "Resumed")


def _check(request: Request) -> None:
    if not authorised(request):
        raise UnauthorizedError("sign in at /login (or send the API key as 'x-api-key')")


def _range(spec: str, size: int) -> tuple[int, int]:
    match = _RANGE.match(spec.strip())
    if not match or match.group(1) == match.group(2) == "":
        raise RangeNotSatisfiableError(f"unsupported Range {spec!r}: use a single 'bytes=start-end'")
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), (min(int(last), size - 1) if last else size - 1)
    if start >= size or start > end:
        raise RangeNotSatisfiableError(f"range {spec} is outside the object's {size} bytes")
    return start, end


@router.get("/media/{bucket}/{key:path}")
@router.head("/media/{bucket}/{key:path}")
def media(request: Request, bucket: str, key: str) -> Response:
    """An object's bytes for a signed-in browser, with ``Range``. HLS playlists name their variants and segments
    relatively, so a player resolves them under this same path and the cookie authorises each."""
    _check(request)
    store = services(request).dataplane.objects
    try:
        size = store.size(bucket, key)
    except MieError as exc:
        raise NotFoundError(f"object s3://{bucket}/{key} does not exist") from exc
    suffix = ("." + key.rsplit(".", 1)[-1].lower()) if "." in key else ""
    media_type = _TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=300"}
    start, end, status = 0, size - 1, 200
    spec = request.headers.get("range")
    if spec and size:
        start, end = _range(spec, size)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(max(0, end - start + 1))
    if request.method == "HEAD" or size == 0:
        return Response(status_code=status, headers=headers, media_type=media_type)
    body: Iterator[bytes] = store.read_range(bucket, key, start, end)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)


@router.get("/assets/{asset_id}/captions/{operator}.vtt")
def captions(request: Request, asset_id: str, operator: str) -> Response:
    """A WebCaptions result (``WebCaptions_<lang>``) as WebVTT, for the player's ``<track>``."""
    _check(request)
    if not operator.startswith("WebCaptions"):
        raise NotFoundError(f"{operator} is not a captions result")
    dataplane = services(request).dataplane
    page = dataplane.get_operator_metadata(asset_id, operator)
    pages = [page.get("results")]
    while page.get("cursor"):
        page = dataplane.get_operator_metadata(asset_id, operator, str(page["cursor"]))
        pages.append(page.get("results"))
    return Response(web_captions_vtt(pages), media_type="text/vtt; charset=utf-8")


@router.get("/assets/{asset_id}/results.json")
def all_results(request: Request, asset_id: str) -> Response:
    """Every operator's newest result of the asset in one JSON document ``{operator: result or [pages]}``."""
    _check(request)
    results = read_results(services(request).dataplane, asset_id)
    body = {name: pages[0] if len(pages) == 1 else pages for name, pages in results.items()}
    headers = {"Content-Disposition": f'attachment; filename="{asset_id}-results.json"'}
    return Response(json.dumps(body, ensure_ascii=False, indent=1), media_type="application/json", headers=headers)


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _snapshot(record: JSONDict) -> JSONDict:
    return {
        "Id": record.get("Id"),
        "AssetId": record.get("AssetId"),
        "Status": record.get("Status"),
        "CurrentStage": record.get("CurrentStage"),
        "Workflow": (record.get("Workflow") or {}).get("Name"),
        "Message": record.get("Message"),
        "Progress": record.get("Progress") or [],
    }


def active_snapshots(request: Request) -> list[JSONDict]:
    """Where each running execution is (its record's ``Progress``)."""
    executions = services(request).executions
    out = []
    for status in _ACTIVE:
        rows, _ = executions.by_status(status)
        for row in rows:
            try:
                out.append(_snapshot(executions.get(row["Id"])))
            except MieError:
                continue
    return out


@router.get("/ui/events")
async def events(request: Request, after: int | None = None) -> StreamingResponse:
    """Server-sent events: ``execution`` (a status change from the change feed), ``progress`` (a running
    execution's operators, percent and time left, whenever they change) and ``job`` (transcode job events)."""
    _check(request)
    svc = services(request)
    resume = request.headers.get("last-event-id")
    start = int(resume) if resume and resume.isdigit() else after
    if start is None:
        start = await asyncio.to_thread(svc.changes.last_seq)

    async def stream() -> AsyncIterator[str]:
        seq = int(start)
        seen: dict[str, str] = {}
        yield f"retry: 500\nid: {seq}\n\n"
        deadline = time.monotonic() + STREAM_SECONDS
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                return
            changes = await asyncio.to_thread(svc.changes.wait, seq, 1.0)
            for change in changes:
                seq = int(change["seq"])
                payload = change.get("payload") or {}
                if change["source"] == "WorkflowExecution":
                    keep = ("Id", "AssetId", "Status", "CurrentStage", "Message")
                    yield _sse("execution", {k: payload.get(k) for k in keep}, seq)
                elif change["source"] == "MediaConvert":
                    detail = payload.get("detail") or {}
                    yield _sse("job", {"jobId": detail.get("jobId"), "status": detail.get("status")}, seq)
            snapshots = await asyncio.to_thread(active_snapshots, request)
            for snap in snapshots:
                text = json.dumps(snap, sort_keys=True)
                if seen.get(str(snap["Id"])) != text:
                    seen[str(snap["Id"])] = text
                    yield _sse("progress", snap)
            yield f"id: {seq}\n: tick\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
