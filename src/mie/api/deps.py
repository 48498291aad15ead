"""Request plumbing shared by the routers: services, auth, JSON bodies, paging."""

from __future__ import annotations

import base64
from typing import Any, Protocol

from fastapi import Request, Response

from mie.api.auth import authenticate
from mie.api.bodies import parse_json
from mie.config import Settings
from mie.consumers.notify import Notifications
from mie.consumers.search import SearchIndexer
from mie.dataplane.changes import ChangeLog
from mie.dataplane.service import DataPlane
from mie.engine.catalog import Catalog
from mie.engine.executions import Executions
from mie.errors import InvalidError, TooLargeError, UnsupportedMediaTypeError
from mie.jobs.component import JobsComponent
from mie.operators.faces import FaceEmbedder
from mie.operators.registry import OperatorRegistry
from mie.resources import ServiceResources
from mie.storage.faces import FaceCollections
from mie.storage.people import People
from mie.web import session


class ApiServices(Protocol):
    """What the routers use of the running engine (``mie.bootstrap.Services`` is one, wired by the composition
    root; the API does not import it). Optional parts are None when this server does not run them."""

    settings: Settings
    changes: ChangeLog
    dataplane: DataPlane
    catalog: Catalog
    executions: Executions
    registry: OperatorRegistry
    resources: ServiceResources
    api_key: str
    faces: FaceCollections | None
    face_embedder: FaceEmbedder | None
    people: People | None

    @property
    def search(self) -> SearchIndexer | None:
        """The search and media indexer."""

    @property
    def notifications(self) -> Notifications | None:
        """The webhook/e-mail notifications."""

    @property
    def jobs(self) -> JobsComponent | None:
        """The transcode jobs."""


def services(request: Request) -> ApiServices:
    """The services attached to the app."""
    found: ApiServices = request.app.state.services
    return found


async def require_key(request: Request) -> None:
    """Authenticate the request, by API key or SigV4 signature, and check its credential's scope.

    ``x-api-key`` or ``Authorization: Bearer`` carry a key; ``Authorization: AWS4-HMAC-SHA256 ...`` (or a presigned
    query string) a SigV4 signature. 401 when missing or wrong, 403 when a read-only credential writes, 429 after
    repeated failures from one client (see :mod:`mie.api.auth`).
    """
    svc = services(request)
    # The web UI's session cookie + CSRF (mie.web.session); a read-only key's session may only read.
    if session.authorise(request, svc.api_key, session.split_keys(svc.settings.api_keys_readonly)):
        return
    await authenticate(request)


_JSON_TYPES = ("application/json", "text/json", "application/x-amz-json-1.1", "application/*+json")


async def json_body(request: Request) -> Any:
    """The parsed JSON body: 415 for another Content-Type, 413 when too large, 400 when not JSON.

    A missing Content-Type is read as JSON, as Chalice did. An empty body is ``None``.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and not (ctype in _JSON_TYPES or ctype.endswith("+json")):
        raise UnsupportedMediaTypeError(f"Content-Type {ctype} is not supported: send application/json")
    limit = services(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return None
    return parse_json(raw)


def page_params(limit: int | None, token: str | None) -> tuple[int | None, str | None]:
    """Validate ``limit``/``next`` query parameters."""
    if limit is not None and not 1 <= limit <= 10000:
        raise InvalidError("limit must be between 1 and 10000")
    if token is not None:
        try:
            # validate=True: a token with characters outside the alphabet is refused, not silently emptied.
            token = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True).decode()
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidError("next is not a token this API issued") from exc
    return limit, token


def set_next(request: Request, response: Response, token: str | None) -> None:
    """Announce the next page in ``X-Next-Token`` and a ``Link: rel=next`` header (bodies stay MIE's arrays)."""
    if token is None:
        return
    encoded = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    response.headers["X-Next-Token"] = encoded
    url = request.url.include_query_params(next=encoded)
    response.headers["Link"] = f'<{url}>; rel="next"'


def paginate(items: list[Any], key: str, limit: int | None, after: str | None) -> tuple[list[Any], str | None]:
    """Page a list of records ordered by ``key``."""
    if after is not None:
        items = [i for i in items if str(i[key]) > after]
    if limit is None or len(items) <= limit:
        return items, None
    return items[:limit], str(items[limit - 1][key])
