"""The library: one card per asset (name, type, thumbnail, duration, date, status), filtered, sorted and paged.

Filters use the indexes: type and label the media index (``/api/media``'s), text the full-text index; the asset
rows give the dates. A card's thumbnail is the ``Thumbnail`` media of its newest execution that made one, or the
image itself.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass
from typing import Any

from mie.consumers.media_index import media_name, media_query
from mie.consumers.search import SearchIndexer
from mie.consumers.search_query import parse_query
from mie.errors import InvalidError, MieError
from mie.web.base import WebServices, shown_status

PAGE_SIZE = 24
SORTS = ("newest", "oldest", "name")
TYPES = ("video", "image", "audio")
_MAX_CANDIDATES = 10000


@dataclass
class Card:
    """One asset as the library grid shows it."""

    asset_id: str
    name: str
    media_type: str
    created: float
    status: str
    thumbnail: tuple[str, str] | None
    duration_ms: int | None
    workflow: str | None

    @property
    def date(self) -> str:
        """The creation date for people (UTC)."""
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.created))


@dataclass
class Listing:
    """A page of cards and what produced it."""

    cards: list[Card]
    total: int
    page: int
    pages: int


def _created(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def duration_ms(svc: WebServices, asset_id: str) -> int | None:
    """The duration Mediainfo measured (its General track), when it ran."""
    try:
        found = svc.dataplane.get_operator_metadata(asset_id, "Mediainfo")
    except MieError:
        return None
    results = found.get("results")
    tracks = results.get("tracks") if isinstance(results, dict) else None
    for track in tracks if isinstance(tracks, list) else []:
        if isinstance(track, dict) and track.get("track_type") == "General":
            try:
                return int(float(track["duration"]))
            except (KeyError, TypeError, ValueError):
                return None
    return None


def thumbnail_and_status(svc: WebServices, asset: dict[str, Any]) -> tuple[tuple[str, str] | None, str, str | None]:
    """``((bucket, key) of the thumbnail or None, status of the newest execution, its workflow)``."""
    runs = svc.executions.by_asset(asset["asset_id"])
    status = shown_status(runs[0]["Status"], runs[0].get("Message")) if runs else "Not analysed"
    workflow = runs[0]["Workflow"]["Name"] if runs else None
    if (asset.get("media_type") or "") == "Image":
        return (asset["s3_bucket"], asset["s3_key"]), status, workflow
    for run in runs[:5]:
        try:
            record = svc.executions.get(run["Id"])
        except MieError:
            continue
        media = (record.get("Globals") or {}).get("Media") or {}
        thumb = media.get("Thumbnail")
        if isinstance(thumb, dict) and thumb.get("S3Key"):
            return (str(thumb["S3Bucket"]), str(thumb["S3Key"])), status, workflow
    return None, status, workflow


def card(svc: WebServices, asset: dict[str, Any]) -> Card:
    """The card of one asset row."""
    thumb, status, workflow = thumbnail_and_status(svc, asset)
    media_type = str(asset.get("media_type") or "")
    return Card(
        asset_id=asset["asset_id"],
        name=media_name(asset["s3_key"]),
        media_type=media_type.lower() or posixpath.splitext(asset["s3_key"])[1].lstrip(".") or "?",
        created=_created(asset.get("created")),
        status=status,
        thumbnail=thumb,
        duration_ms=duration_ms(svc, asset["asset_id"]) if media_type in ("Video", "Audio") else None,
        workflow=workflow,
    )


def _filtered_ids(indexer: SearchIndexer | None, media_type: str, label: str, text: str) -> set[str] | None:
    """Asset ids that pass the filters, or None when nothing filters."""
    found: set[str] | None = None
    if (media_type or label) and indexer is not None:
        query = media_query(None, media_type or None, label or None)
        items, _ = indexer.store.list_media(query, limit=_MAX_CANDIDATES, after=None)
        found = {item.asset_id for item in items}
    if text and indexer is not None:
        try:
            hits, _ = indexer.store.search(parse_query(text, media_type=media_type or None), limit=1000)
        except InvalidError:
            hits = []
        ids = {hit.asset_id for hit in hits}
        found = ids if found is None else found & ids
    return found


def listing(
    svc: WebServices, indexer: SearchIndexer | None, *, media_type: str, label: str, text: str, sort: str, page: int
) -> Listing:
    """One page of the library."""
    wanted = _filtered_ids(indexer, media_type, label, text)
    ids, _ = svc.dataplane.list_assets()
    rows: list[dict[str, Any]] = []
    for asset_id in ids:
        if wanted is not None and asset_id not in wanted:
            continue
        try:
            asset = svc.dataplane.get_asset(asset_id)
        except MieError:
            continue
        if media_type and not wanted and str(asset.get("media_type") or "").lower() != media_type:
            continue
        if (asset.get("media_type") or "") == "Text":
            continue
        rows.append(asset)
    if sort == "name":
        rows.sort(key=lambda a: (media_name(a["s3_key"]).lower(), a["asset_id"]))
    elif sort == "oldest":
        rows.sort(key=lambda a: _created(a.get("created")))
    else:
        rows.sort(key=lambda a: _created(a.get("created")), reverse=True)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(1, page), pages)
    chosen = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return Listing(cards=[card(svc, a) for a in chosen], total=len(rows), page=page, pages=pages)
