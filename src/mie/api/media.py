"""The media query API of the Chalice sample: ``GET /api/media`` and ``GET /api/media/{name}``.

As the sample: a JSON array of ``{"name", "type", "labels"}``, filtered by ``startswith`` (prefix of the name),
``media-type`` (``image``/``video``/``audio``) and ``label`` (exact element of the labels), ANDed, case-sensitive;
other parameters are ignored. Unlike it: each item carries ``asset_id``, and the list is paged (``limit``, default
1000; the next page's token is in the ``X-Next-Token`` header and a ``Link: rel="next"``), so the body stays an array.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from mie.api.deps import page_params, require_key, services, set_next
from mie.consumers.media_index import media_query
from mie.consumers.search import SearchIndexer
from mie.errors import InvalidError, NotImplementedYetError
from mie.types import JSONDict

router = APIRouter(dependencies=[Depends(require_key)])

#: Page size when ``limit`` is not given (the sample returned everything; a page this size usually is).
DEFAULT_LIMIT = 1000


def indexer(request: Request) -> SearchIndexer:
    """The running search indexer (the ``search`` component)."""
    component = services(request).search
    if component is None:
        raise NotImplementedYetError("the media and search indexes are not running on this server")
    return component


@router.get("")
@router.get("/", include_in_schema=False)
def list_media(
    request: Request,
    response: Response,
    *,
    startswith: Annotated[str | None, Query(description="prefix of the name (case-sensitive)")] = None,
    media_type: Annotated[str | None, Query(alias="media-type", description="image, video or audio")] = None,
    label: Annotated[str | None, Query(description="a label the media has (exact, case-sensitive)")] = None,
    limit: Annotated[int | None, Query(description=f"page size (default {DEFAULT_LIMIT}, at most 10000)")] = None,
    token: Annotated[str | None, Query(alias="next", description="the X-Next-Token of the previous page")] = None,
) -> list[JSONDict]:
    """Analysed media, filtered by name prefix, type and label (ANDed)."""
    size, after_text = page_params(limit, token)
    after: tuple[str, str] | None = None
    if after_text is not None:
        try:
            name, asset_id = json.loads(after_text)
            after = (str(name), str(asset_id))
        except (ValueError, TypeError) as exc:
            raise InvalidError("next is not a token this API issued") from exc
    items, last = indexer(request).store.list_media(
        media_query(startswith, media_type, label), limit=size or DEFAULT_LIMIT, after=after
    )
    set_next(request, response, json.dumps(list(last)) if last is not None else None)
    return [item.document() for item in items]


@router.get("/{name}", response_model=None)
def get_media(request: Request, name: str) -> JSONDict | JSONResponse:
    """One media file by name (the newest asset of that name), or the sample's 404."""
    item = indexer(request).store.get_media(name)
    if item is None:
        # The sample's body exactly (Chalice >= 1.26.3 no longer prefixes the message with the code).
        return JSONResponse({"Code": "NotFoundError", "Message": f"Media file ({name}) not found"}, status_code=404)
    return item.document()
