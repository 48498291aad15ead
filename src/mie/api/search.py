"""Full-text search over every insight: ``GET /api/search``; index status and rebuild.

``GET /api/search?q=&media-type=&operator=&limit=&next=`` answers ``{"query", "hits": [...], "next"}``; each hit has
the asset (``asset_id``, ``name``, ``media_type``), the ``operator`` and ``kind`` of result it came from, a
``snippet`` with matches in ``<mark>``, and ``start_ms``/``end_ms`` (the spoken or shown moment; ``null`` for
whole-asset text such as image labels), beside the matching segment's ``segment_start_ms``/``segment_end_ms``.
Hits are ranked best first; the next page's token is in ``next`` and in the ``X-Next-Token`` header.
"""

from __future__ import annotations

import base64
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from mie.api.bodies import seq_token
from mie.api.deps import page_params, require_key, set_next
from mie.api.media import indexer
from mie.consumers import search_hybrid
from mie.consumers.search_language import parse
from mie.errors import InvalidError
from mie.types import JSONDict

router = APIRouter(dependencies=[Depends(require_key)])

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


@router.get("")
@router.get("/", include_in_schema=False)
def search(
    request: Request,
    response: Response,
    *,
    q: Annotated[
        str | None,
        Query(description='words, "phrases", word* prefixes and filters such as label:Car confidence:>80 type:video'),
    ] = None,
    mode: Annotated[str, Query(description="hybrid (default), text or semantic")] = "hybrid",
    media_type: Annotated[str | None, Query(alias="media-type", description="image, video, audio or text")] = None,
    operator: Annotated[str | None, Query(description="only results of this operator (e.g. TranscribeVideo)")] = None,
    limit: Annotated[
        int | None, Query(description=f"hits per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})")
    ] = None,
    token: Annotated[str | None, Query(alias="next", description="the next token of the previous page")] = None,
) -> JSONDict:
    """Ranked hits of ``q`` in labels, faces, on-screen text, transcripts, captions, entities, key phrases and
    file names, with the time range of each."""
    size, after = page_params(limit, token)
    size = size or DEFAULT_LIMIT
    if size > MAX_LIMIT:
        raise InvalidError(f"limit must be at most {MAX_LIMIT}")
    offset = seq_token(after) if after is not None else 0
    parsed = parse(q, media_type=media_type.lower() if media_type else None)
    if offset + size > search_hybrid.WINDOW:
        raise InvalidError(f"hits are ranked among the best {search_hybrid.WINDOW}: page no deeper")
    hits, more, info = search_hybrid.search(
        indexer(request), parsed, mode=mode.lower(), operator=operator, limit=size, offset=offset
    )
    following = str(offset + size) if more else None
    set_next(request, response, following)
    encoded = base64.urlsafe_b64encode(following.encode()).decode().rstrip("=") if following else None
    return {"query": q, "hits": hits, "next": encoded, **info}


@router.get("/status")
def status(request: Request) -> JSONDict:
    """How far the indexer has read the change log, and what the indexes hold."""
    running = indexer(request)
    stats = asdict(running.stats())
    stats["head"] = running.changes.last_seq()
    stats["semantic"] = running.semantic_state()
    stats["vectors"] = len(running.vectors)
    stats["auto_analyze"] = {
        "media_types": sorted(running.auto.kinds),
        "delay_seconds": running.auto.delay,
        "workflows": dict(running.auto.workflows),
    }
    return stats


@router.post("/rebuild")
def rebuild(request: Request) -> JSONDict:
    """Rebuild the media and full-text indexes from the data plane (every asset and its newest results)."""
    return asdict(indexer(request).rebuild())
