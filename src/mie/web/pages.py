"""The HTML pages: sign in and out, library, asset, search, executions, jobs, workflows (server-rendered)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from mie.consumers.media_index import media_name
from mie.consumers.search_query import hit_document, parse_query
from mie.errors import ForbiddenError, InvalidError, MieError, NotFoundError
from mie.web import library, session
from mie.web.base import (
    PAGE_HEADERS,
    current_session,
    indexer,
    media_url,
    readonly_keys,
    require_session,
    services,
    shown_status,
    templates,
)
from mie.web.insights import collect, read_results, technical

router = APIRouter(include_in_schema=False)


def render(request: Request, template: str, active: str, **context: Any) -> HTMLResponse:
    """A page with the session's CSRF token and the navigation."""
    found = current_session(request)
    seq = getattr(request.state, "change_seq", None)
    # read_only: the pages leave out (or disable) what a read-only session may not do; the API refuses it anyway.
    context.update(
        request=request, csrf=found.csrf if found else "", active=active, signed_in=found is not None, change_seq=seq,
        read_only=found is not None and found.read_only,
    )  # fmt: skip
    return templates.TemplateResponse(request, template, context, headers=PAGE_HEADERS)


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no ``//host`` or scheme), so the sign-in page is no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, next: str | None = None, error: str | None = None) -> HTMLResponse:
    """The sign-in form."""
    return render(request, "login.html", "login", next=_safe_next(next), error=error)


@router.post("/login", response_model=None)
def login(request: Request, key: str = Form(""), next: str = Form("/")) -> Response:
    """Check the API key (admin or read-only) once and set the session cookie of its scope."""
    svc = services(request)
    if not session.same_origin(request):
        raise ForbiddenError("cross-site sign-in refused")
    given = key.strip()
    scope = session.check_key(given, svc.api_key, readonly_keys(request)) if given else None
    if scope is None:
        page = render(request, "login.html", "login", next=_safe_next(next), error="That is not this server's API key.")
        page.status_code = 401
        return page
    # A read-only session is signed with the read-only key itself: removing that key signs its browsers out.
    value, _ = session.new_cookie(svc.api_key if scope == "admin" else given, scope=scope)
    response = RedirectResponse(_safe_next(next), status_code=303)
    session.set_cookie(response, value, secure=session.is_https(request, svc.settings.public_url))
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("")) -> RedirectResponse:
    """Sign out (the form carries the CSRF token)."""
    svc = services(request)
    found = current_session(request)
    if found is not None:
        session.check_csrf(request, found, csrf_token)
    response = RedirectResponse("/login", status_code=303)
    session.clear_cookie(response, secure=session.is_https(request, svc.settings.public_url))
    return response


@router.get("/")
def library_page(
    request: Request,
    *,
    type: str = "",
    label: str = "",
    q: str = "",
    sort: str = "newest",
    page: int = 1,
) -> HTMLResponse:
    """The library: every asset as a card, filtered, sorted, paged; uploads by drag and drop."""
    require_session(request)
    svc = services(request)
    media_type = type if type in library.TYPES else ""
    sort = sort if sort in library.SORTS else "newest"
    found = library.listing(
        svc, indexer(request), media_type=media_type, label=label.strip(), text=q.strip(), sort=sort, page=page
    )
    workflows = sorted(w["Name"] for w in svc.catalog.list_workflows())
    query = {"type": media_type, "label": label, "q": q, "sort": sort}
    base = "&".join(f"{k}={quote(v)}" for k, v in query.items() if v)
    return render(
        request, "library.html", "library", listing=found, query=query, base=base, workflows=workflows,
        types=library.TYPES, sorts=library.SORTS,
    )  # fmt: skip


def _downloads(svc: Any, asset: dict[str, Any], media: dict[str, Any], results: dict[str, list[Any]]) -> list[Any]:
    """``(label, bucket, key)`` of everything worth downloading: source, derived media, caption files."""
    out = [("source", asset["s3_bucket"], asset["s3_key"])]
    for kind in ("ProxyEncode", "Thumbnail", "Audio"):
        ref = media.get(kind)
        if isinstance(ref, dict) and ref.get("S3Key"):
            out.append((kind, ref["S3Bucket"], ref["S3Key"]))
    for name in ("CreateVTTCaptions", "CreateSRTCaptions"):
        for page in results.get(name, []):
            for item in (page or {}).get("CaptionsCollection", []) if isinstance(page, dict) else []:
                ref = item.get("Results") if isinstance(item, dict) else None
                if isinstance(ref, dict) and ref.get("S3Key"):
                    out.append((ref["S3Key"].rsplit("/", 1)[-1], ref["S3Bucket"], ref["S3Key"]))
    return out


def caption_tracks(asset_id: str, results: dict[str, list[Any]], captions: list[dict[str, str]]) -> list[Any]:
    """``<track>``s of the player: the WebVTT files ``CreateVTTCaptions`` stored, one per language, and for the
    languages it did not make (e.g. translations when it did not run) the ``WebCaptions_<lang>`` results as WebVTT."""
    tracks: list[dict[str, str]] = []
    for page in results.get("CreateVTTCaptions", []):
        for item in page.get("CaptionsCollection", []) if isinstance(page, dict) else []:
            ref = item.get("Results") if isinstance(item, dict) else None
            lang = str(item.get("LanguageCode") or "") if isinstance(item, dict) else ""
            if isinstance(ref, dict) and ref.get("S3Key") and lang and all(t["lang"] != lang for t in tracks):
                src = media_url(str(ref["S3Bucket"]), str(ref["S3Key"]))
                tracks.append({"src": src, "lang": lang, "label": f"{lang} (VTT)"})
    for caption in captions:
        if all(t["lang"] != caption["lang"] for t in tracks):
            src = f"/assets/{asset_id}/captions/{caption['op']}.vtt"
            tracks.append({"src": src, "lang": caption["lang"], "label": f"{caption['lang']} ({caption['op']})"})
    return tracks


def _hls_outputs(svc: Any, asset_id: str) -> list[dict[str, str]]:
    """Master playlists of the asset's transcodes: ``Transcode`` operator outputs and jobs made for the asset."""
    found: list[dict[str, str]] = []
    prefix = f"private/assets/{asset_id}/"
    try:
        keys = svc.dataplane.objects.list_keys(svc.dataplane.bucket, prefix)
    except MieError:
        keys = []
    for key in keys:
        if key.endswith(".m3u8") and "/Transcode/" in key and _is_master(svc, svc.dataplane.bucket, key):
            found.append({"bucket": svc.dataplane.bucket, "key": key, "name": key.rsplit("/", 1)[-1]})
    jobs = svc.jobs
    service = jobs.jobs if jobs is not None else None
    if service is not None:
        try:
            documents = service.list_jobs()
        except MieError:
            documents = []
        for job in documents:
            if (job.get("userMetadata") or {}).get("assetID") != asset_id:
                continue
            for path in playlists(job):
                bucket, _, key = path.removeprefix("s3://").partition("/")
                found.append({"bucket": bucket, "key": key, "name": key.rsplit("/", 1)[-1]})
    unique = {(f["bucket"], f["key"]): f for f in found}
    return sorted(unique.values(), key=lambda f: f["key"])


def _is_master(svc: Any, bucket: str, key: str) -> bool:
    """A master playlist names variant streams; a variant playlist (one rendition) is not offered on its own."""
    try:
        head = b"".join(svc.dataplane.objects.read_range(bucket, key, 0, 4095))
    except MieError:
        return False
    return b"#EXT-X-STREAM-INF" in head


def playlists(job: dict[str, Any]) -> list[str]:
    """The HLS master playlists a job wrote."""
    out = []
    for group in job.get("outputGroupDetails") or []:
        for path in group.get("playlistFilePaths") or [] if isinstance(group, dict) else []:
            if isinstance(path, str) and path.startswith("s3://"):
                out.append(path)
    return out


@router.get("/assets/{asset_id}")
def asset_page(request: Request, asset_id: str) -> HTMLResponse:
    """One asset: player (or image) with overlays, timeline, transcript, captions, results, downloads."""
    from mie.web.people import asset_people  # mie.web.people renders with this module's render()

    require_session(request)
    svc = services(request)
    asset = svc.dataplane.get_asset(asset_id)
    runs = svc.executions.by_asset(asset_id)
    media: dict[str, Any] = {}
    shown = [{**r, "Status": shown_status(r["Status"], r.get("Message"))} for r in runs]
    for run in runs:
        try:
            record = svc.executions.get(run["Id"])
        except MieError:
            continue
        for kind, ref in ((record.get("Globals") or {}).get("Media") or {}).items():
            media.setdefault(kind, ref)
    results = read_results(svc.dataplane, asset_id)
    insights = collect(results)
    proxy = media.get("ProxyEncode")
    media_type = str(asset.get("media_type") or "")
    if isinstance(proxy, dict) and proxy.get("S3Key"):
        play = (str(proxy["S3Bucket"]), str(proxy["S3Key"]))
    else:
        play = (asset["s3_bucket"], asset["s3_key"])
    data = insights.document()
    data.update(assetId=asset_id, mediaType=media_type)
    # In a <script type="application/json">: "</" would end the element early.
    blob = Markup(json.dumps(data).replace("</", "<\\/"))
    return render(
        request, "asset.html", "library", asset=asset, name=media_name(asset["s3_key"]), media_type=media_type,
        play=play, runs=shown, insights=insights, blob=blob, technical=technical(results),
        tracks=caption_tracks(asset_id, results, insights.captions),
        downloads=_downloads(svc, asset, media, results), hls=_hls_outputs(svc, asset_id),
        workflows=sorted(w["Name"] for w in svc.catalog.list_workflows()), people=asset_people(request, asset_id),
    )  # fmt: skip


def snippet_html(snippet: str) -> Markup:
    """A search snippet with everything escaped but the index's ``<mark>`` highlights."""
    escaped = str(escape(snippet))
    return Markup(escaped.replace("&lt;mark&gt;", "<mark>").replace("&lt;/mark&gt;", "</mark>"))


@router.get("/search")
def search_page(request: Request, q: str = "", type: str = "", operator: str = "") -> HTMLResponse:
    """Full-text search; each hit opens the asset at its moment."""
    require_session(request)
    svc = services(request)
    hits: list[dict[str, Any]] = []
    error = None
    running = indexer(request)
    if q.strip() and running is not None:
        try:
            query = parse_query(q, media_type=type or None, operator=operator or None)
            found, _ = running.store.search(query, limit=50)
            hits = [hit_document(h, query) for h in found]
        except InvalidError as exc:
            error = exc.message
    elif running is None:
        error = "the search index is not running on this server"
    thumbs: dict[str, Any] = {}
    for hit in hits:
        if hit["asset_id"] not in thumbs:
            try:
                asset = svc.dataplane.get_asset(hit["asset_id"])
                thumbs[hit["asset_id"]] = library.thumbnail_and_status(svc, asset)[0]
            except NotFoundError:
                thumbs[hit["asset_id"]] = None
        hit["thumbnail"] = thumbs[hit["asset_id"]]
        hit["snippet_html"] = snippet_html(str(hit.get("snippet") or ""))
    return render(
        request, "search.html", "search", q=q, type=type, operator=operator, hits=hits, error=error,
        types=library.TYPES,
    )  # fmt: skip
