"""``mie search`` and ``mie index``: full-text search over every insight, and the index's status and rebuild."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mie.cli.client import (
    ApiKeyOption,
    CliError,
    DataDirOption,
    JsonOption,
    UrlOption,
    connect,
    guarded,
    out,
    print_json,
)

index_app = typer.Typer(help="The media and full-text search indexes.", no_args_is_help=True)

#: A rebuild reads every asset's results: give it time.
REBUILD_TIMEOUT = 3600.0


def _time(ms: Any) -> str:
    if not isinstance(ms, int):
        return ""
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}.{millis:03d}" if hours else f"{minutes}:{seconds:02d}.{millis:03d}"


def _snippet(text: str) -> str:
    return escape(text).replace("&lt;mark&gt;", "[bold]").replace("&lt;/mark&gt;", "[/bold]")


@guarded
def search(
    words: Annotated[list[str], typer.Argument(metavar="WORDS...", help='words (all must occur), "phrases", word*')],
    *,
    media_type: Annotated[
        str | None, typer.Option("--media-type", "-t", help="only image, video, audio or text assets")
    ] = None,
    operator: Annotated[str | None, typer.Option("--operator", "-o", help="only results of this operator")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="at most this many hits")] = 20,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Search labels, faces, on-screen text, transcripts, captions, entities, key phrases and file names."""
    query = " ".join(words)
    with connect(url, api_key, data_dir) as client:
        body = client.get("/api/search", q=query, **{"media-type": media_type}, operator=operator, limit=limit)
    hits = body.get("hits", []) if isinstance(body, dict) else []
    if as_json:
        print_json(body)
        return
    if not hits:
        out.print(f"no hits for {escape(query)!r}")
        return
    table = Table("Asset", "Name", "Operator", "At", "Snippet", header_style="bold")
    for hit in hits:
        start, end = _time(hit.get("start_ms")), _time(hit.get("end_ms"))
        at = f"{start}-{end}" if start and end and start != end else start
        table.add_row(
            str(hit.get("asset_id")),
            escape(str(hit.get("name") or "")),
            escape(str(hit.get("operator"))),
            at,
            _snippet(str(hit.get("snippet") or "")),
        )
    out.print(table)


def _print_stats(stats: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(stats)
        return
    for key in ("backend", "offset", "head", "media_items", "segments", "scheduled"):
        if key in stats:
            out.print(f"{key}: {stats[key]}")


@index_app.command("rebuild")
@guarded
def rebuild(
    offline: Annotated[
        bool,
        typer.Option("--offline", help="rebuild in this process on the data directory (the server must be stopped)"),
    ] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Rebuild the media index and the full-text index from the data plane (every asset, newest results)."""
    if offline:
        _print_stats(_rebuild_offline(data_dir), as_json)
        return
    with connect(url, api_key, data_dir) as client:
        response = client.request("POST", "/api/search/rebuild", json_body={}, timeout=REBUILD_TIMEOUT)
    _print_stats(response.json(), as_json)


def _rebuild_offline(data_dir: Path | None) -> dict[str, Any]:
    from dataclasses import asdict

    from mie.bootstrap import build
    from mie.config import load_settings
    from mie.consumers.search import SearchIndexer

    services = build(load_settings(data_dir=data_dir))
    try:
        indexer = services.components.get("search")
        if not isinstance(indexer, SearchIndexer):
            raise CliError("the search index is not configured on this data directory")
        return asdict(indexer.rebuild())
    finally:
        services.stop()


@index_app.command("status")
@guarded
def status(
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """How far the indexer has read the change log, and what the indexes hold."""
    with connect(url, api_key, data_dir) as client:
        _print_stats(client.get("/api/search/status"), as_json)
