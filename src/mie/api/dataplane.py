"""The data-plane API: MIE's ``dataplaneapi`` routes (teardown §2.2), plus signed object URLs and the change feed."""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

import mie
from mie.api import schemas
from mie.api.bodies import MAX_SEQ
from mie.api.deps import json_body, page_params, require_key, services, set_next
from mie.api.uploads import receive_upload
from mie.errors import InvalidError, MieError, RangeNotSatisfiableError
from mie.types import JSONDict

log = logging.getLogger(__name__)

public = APIRouter()
router = APIRouter(dependencies=[Depends(require_key)])
Body = Annotated[Any, Depends(json_body)]


def _base_url(request: Request) -> str:
    configured = services(request).settings.public_url
    return configured or str(request.base_url)


def _location(body: Any) -> tuple[Any, Any]:
    if not isinstance(body, dict):
        raise InvalidError('the body must be {"S3Bucket": ..., "S3Key": ...}')
    return body.get("S3Bucket"), body.get("S3Key")


# DESIGN.md §1: only GET /api/ and GET /api/version answer without a key; the data-plane index and version need it.
@router.get("/")
def hello() -> JSONDict:
    """MIE's data-plane index."""
    return {"hello": "world"}


@router.get("/version")
def version() -> JSONDict:
    """Data-plane API and framework versions."""
    return {"ApiVersion": mie.DATAPLANE_API_VERSION, "FrameworkVersion": f"v{mie.__version__}"}


@router.post("/upload", openapi_extra=schemas.body(schemas.S3Location))
def upload(request: Request, body: Body) -> JSONDict:
    """A URL and form fields for uploading one object with a multipart POST (like an S3 presigned POST)."""
    bucket, key = _location(body)
    svc = services(request)
    return svc.dataplane.upload_form(bucket, key, _base_url(request), svc.settings.max_upload_bytes)


@router.post("/download", openapi_extra=schemas.body(schemas.S3Location))
def download(request: Request, body: Body) -> str:
    """A signed URL that serves the object's bytes (with HTTP range requests)."""
    bucket, key = _location(body)
    return services(request).dataplane.download_url(bucket, key, _base_url(request))


@router.get("/mediapath/{asset_id}/{workflow_id}")
def media_path(request: Request, asset_id: str, workflow_id: str) -> JSONDict:
    """Where an operator stores derived media of an execution."""
    return services(request).dataplane.media_path(asset_id, workflow_id)


@router.post("/create", openapi_extra=schemas.body(schemas.CreateAssetRequest))
def create_asset(request: Request, body: Body) -> JSONDict:
    """Make an uploaded object an asset: ``{"Input": {"S3Bucket", "S3Key"[, "MediaType"]}}``."""
    if not isinstance(body, dict) or not isinstance(body.get("Input"), dict):
        raise InvalidError("Missing required inputs for asset creation: 'Input'")
    inp = body["Input"]
    return services(request).dataplane.create_asset(inp.get("S3Bucket"), inp.get("S3Key"), inp.get("MediaType"))


def _flag(value: str | None, name: str) -> bool:
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise InvalidError(f"Query param {name} only supports a value of: true or false")
    return value.lower() == "true"


@router.post("/metadata/{asset_id}", openapi_extra=schemas.body(schemas.MetadataRequest))
def store_metadata(
    request: Request, asset_id: str, body: Body, paginated: str | None = None, end: str | None = None
) -> JSONDict:
    """Store an operator's results, whole or a page at a time (``?paginated=true[&end=true]``)."""
    if request.query_params and paginated is None:
        raise InvalidError("Must pass required query parameter: paginated")
    is_paginated = _flag(paginated, "paginated")
    is_end = _flag(end, "end")
    if is_end and not is_paginated:
        raise InvalidError("Query param end is only valid with paginated=true")
    return services(request).dataplane.store_metadata(asset_id, body, paginated=is_paginated, end=is_end)


@router.get("/metadata")
def list_assets(
    request: Request,
    response: Response,
    limit: Annotated[int | None, Query()] = None,
    token: Annotated[str | None, Query(alias="next")] = None,
) -> JSONDict:
    """Every asset id (``{"assets": [...]}``), paged when ``limit`` is given."""
    limit, after = page_params(limit, token)
    ids, nxt = services(request).dataplane.list_assets(limit=limit, after=after)
    set_next(request, response, nxt)
    return {"assets": ids}


@router.get("/metadata/{asset_id}")
def get_metadata(request: Request, asset_id: str, cursor: str | None = None) -> JSONDict:
    """The asset, then each operator's results one page per call while the response has a ``cursor``."""
    return services(request).dataplane.get_metadata(asset_id, cursor)


@router.get("/metadata/{asset_id}/{operator_name}")
def get_operator_metadata(request: Request, asset_id: str, operator_name: str, cursor: str | None = None) -> JSONDict:
    """The newest results of one operator."""
    return services(request).dataplane.get_operator_metadata(asset_id, operator_name, cursor)


@router.delete("/metadata/{asset_id}/{operator_name}")
def delete_operator_metadata(request: Request, asset_id: str, operator_name: str) -> JSONDict:
    """Delete every stored result of one operator."""
    return services(request).dataplane.delete_operator_metadata(asset_id, operator_name)


@router.delete("/metadata/{asset_id}")
def delete_asset(request: Request, asset_id: str) -> str:
    """Delete an asset, its results and all its objects (its running executions are cancelled first)."""
    svc = services(request)
    svc.dataplane.get_asset(asset_id)
    svc.executions.cancel_for_asset(asset_id)
    return svc.dataplane.delete_asset(asset_id)


@router.post("/checkout/{asset_id}", openapi_extra=schemas.body(schemas.CheckoutRequest))
def checkout(request: Request, asset_id: str, body: Body) -> JSONDict:
    """Lock an asset: ``{"LockedBy": user}``."""
    locked_by = body.get("LockedBy") if isinstance(body, dict) else None
    return services(request).dataplane.checkout(asset_id, locked_by)


@router.post("/checkin/{asset_id}")
def checkin(request: Request, asset_id: str) -> str:
    """Unlock an asset."""
    return services(request).dataplane.checkin(asset_id)


@router.get("/checkouts")
def checkouts(request: Request) -> JSONDict:
    """Every locked asset."""
    return services(request).dataplane.checkouts()


@router.get("/changes")
async def changes(
    request: Request,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ, description="return events with seq greater than this")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait: Annotated[float, Query(ge=0, le=60, description="seconds to wait for an event when none is there")] = 0,
) -> JSONDict:
    """The change stream: asset/metadata events (MIE's analytics stream) and execution status changes."""
    log = services(request).changes
    # Async: a long poll waits on the event loop, not in the thread pool the synchronous routes share (45 waiting
    # polls once froze every other route).
    events = await log.wait_async(after, wait) if wait else await run_in_threadpool(log.read, after)
    events = events[:limit]
    return {"changes": events, "last": events[-1]["seq"] if events else after}


# Signed object transfer (authorised by the URL's signature, not the API key) -------------------------------------

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)\Z")


@public.post("/objects/upload", status_code=204)
async def upload_object(request: Request) -> Response:
    """Receive a form POSTed to the URL ``/upload`` handed out: its fields, then ``file``.

    The signature is checked before the body is read (from the URL's query, else from the fields before the file
    part), and the body is streamed with a hard cap (see ``mie.api.uploads``).
    """
    svc = services(request)
    received = await receive_upload(request, svc.dataplane.signer, svc.settings.max_upload_bytes)
    bucket, key = received.bucket, received.key
    try:
        await run_in_threadpool(
            svc.dataplane.objects.put_stream, bucket, key, received.file, max_bytes=received.max_bytes
        )
    finally:
        received.file.close()
    # The indexer owns the automatic analysis (its settings were read once at start-up); without it, nothing to do.
    indexer = svc.search
    if indexer is not None and indexer.auto.takes_upload(key):
        # Uploaded into the media prefix: it becomes an asset now, which the indexer analyses and indexes.
        try:
            svc.dataplane.create_asset(bucket, key)
        except MieError as exc:  # the upload itself succeeded; say why it will not be analysed
            log.warning("uploaded s3://%s/%s is not analysed: %s", bucket, key, exc)
    return Response(status_code=204)


@public.get("/objects/{bucket}/{key:path}", operation_id="get_object")
@public.head("/objects/{bucket}/{key:path}", operation_id="head_object")
def get_object(
    request: Request, bucket: str, key: str, expires: str | None = None, signature: str | None = None
) -> Response:
    """Serve an object's bytes to the holder of a signed URL; honours ``Range``."""
    svc = services(request)
    svc.dataplane.signer.verify("GET", bucket, key, expires, signature)
    store = svc.dataplane.objects
    size = store.size(bucket, key)
    media_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    headers = {"Accept-Ranges": "bytes"}
    start, end, status = 0, size - 1, 200
    spec = request.headers.get("range")
    if spec:
        start, end = _parse_range(spec, size)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(max(0, end - start + 1))
    if request.method == "HEAD" or size == 0:
        return Response(status_code=status, headers=headers, media_type=media_type)
    body: Iterator[bytes] = store.read_range(bucket, key, start, end)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)


def _parse_range(spec: str, size: int) -> tuple[int, int]:
    match = _RANGE.match(spec.strip())
    if not match or match.group(1) == match.group(2) == "":
        raise RangeNotSatisfiableError(f"unsupported Range {spec!r}: use a single 'bytes=start-end'")
    first, last = match.groups()
    if first == "":
        length = int(last)
        start, end = max(0, size - length), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise RangeNotSatisfiableError(f"range {spec} is outside the object's {size} bytes")
    return start, end
