"""``mie search`` and ``mie index``: full-text search over every insight, and the index's status and rebuild."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mie.cli.client import (
    CliError,
    guarded,
    out,
    print_json,
)
from mie.cli.display import clock
from mie.cli.remote import FROM_OPTIONS, Remote, connected

index_app = typer.Typer(help="The media and full-text search indexes.", no_args_is_help=True)

#: A rebuild reads every asset's results: give it time.
REBUILD_TIMEOUT = 3600.0


#: Kinds of hits that are the same spoken words in another form (grouped into one line per moment).
SPEECH_KINDS = frozenset({"transcript", "caption", "translation"})
_MARK = re.compile(r"<mark>(.*?)</mark>", re.DOTALL)


def snippet_text(snippet: str) -> Text:
    """The server's snippet with its ``<mark>`` tags shown as highlighted words (no markup printed)."""
    text = Text()
    position = 0
    for match in _MARK.finditer(snippet):
        text.append(snippet[position : match.start()])
        text.append(match.group(1), style="bold reverse")
        position = match.end()
    text.append(snippet[position:].replace("<mark>", "").replace("</mark>", ""))
    return text


def _plain(snippet: Any) -> str:
    return " ".join(_MARK.sub(r"\1", str(snippet or "")).replace("…", " ").split()).casefold()


def _span(hit: Mapping[str, Any]) -> tuple[int, int] | None:
    start = hit.get("segment_start_ms", hit.get("start_ms"))
    end = hit.get("segment_end_ms", hit.get("end_ms"))
    if not isinstance(start, int):
        start = hit.get("start_ms")
    if not isinstance(end, int):
        end = hit.get("end_ms", start)
    if not isinstance(start, int):
        return None
    return start, end if isinstance(end, int) and end >= start else start


def _language(operator: str) -> str:
    head, sep, tail = operator.rpartition("_")
    return tail if sep and head and 2 <= len(tail) <= 7 else ""


#: Terminals at least this wide also show each hit's AssetId.
WIDE = 130
#: How the server's other kinds of hit read in the "Matched in" column.
_KIND_NAMES = {"filename": "file name", "keyphrase": "key phrase", "text": "text on screen", "faces": "faces"}


@dataclass
class Moment:
    """Hits of the same words at the same place of one asset: the transcript, its captions, their translations."""

    hits: list[dict[str, Any]] = field(default_factory=list)
    span: tuple[int, int] | None = None

    @property
    def asset_id(self) -> str:
        return str(self.hits[0].get("asset_id"))

    def overlaps(self, span: tuple[int, int]) -> bool:
        if self.span is None:
            return False
        return span[0] <= self.span[1] and self.span[0] <= span[1]

    def add(self, hit: dict[str, Any], span: tuple[int, int] | None) -> None:
        self.hits.append(hit)
        if span is not None:
            self.span = span if self.span is None else (min(self.span[0], span[0]), max(self.span[1], span[1]))


def _original_languages(hits: Iterable[Mapping[str, Any]]) -> tuple[set[str], set[str]]:
    """Per asset: which caption languages are the speech's own and which are translations, from MIE's names
    (``WebCaptionsTranscribeVideo_en`` comes from the transcript, ``WebCaptionsTranslate_es`` from Translate) and
    from captions that repeat the transcript's words."""
    originals: set[str] = set()
    translated: set[str] = set()
    transcripts = {_plain(h.get("snippet")) for h in hits if h.get("kind") == "transcript"}
    for hit in hits:
        operator = str(hit.get("operator") or "")
        language = _language(operator)
        if hit.get("kind") != "caption" or not language:
            continue
        if "Translate" in operator:
            translated.add(language)
        elif "Transcribe" in operator or _plain(hit.get("snippet")) in transcripts:
            originals.add(language)
    return originals, translated - originals


def group_hits(hits: Sequence[dict[str, Any]]) -> list[Moment]:
    """One :class:`Moment` per spoken moment (speech hits of one asset whose time ranges overlap, and an untimed
    translation whose text one of them shows), one per other hit; in the order of each moment's best hit.

    The server ranks every form of the words on its own (another issue reworks search); grouping is done here."""
    moments: list[Moment] = []
    untimed: list[dict[str, Any]] = []
    for hit in hits:
        span = _span(hit)
        if hit.get("kind") not in SPEECH_KINDS:
            moments.append(Moment([hit], span))
            continue
        if span is None:
            untimed.append(hit)
            moments.append(Moment([hit], None))  # a placeholder kept in rank order, merged below if it can be
            continue
        for moment in moments:
            if (
                moment.asset_id == str(hit.get("asset_id"))
                and moment.hits[0].get("kind") in SPEECH_KINDS
                and moment.overlaps(span)
            ):
                moment.add(hit, span)
                break
        else:
            moments.append(Moment([hit], span))
    for hit in untimed:
        text = _plain(hit.get("snippet"))
        same_asset = [
            m
            for m in moments
            if m.span is not None and m.asset_id == str(hit.get("asset_id")) and m.hits[0]["kind"] in SPEECH_KINDS
        ]
        target = next(
            (
                m
                for m in same_asset
                if any(_plain(h.get("snippet")) in text or text in _plain(h.get("snippet")) for h in m.hits)
            ),
            same_asset[0] if len(same_asset) == 1 else None,
        )
        if target is not None:
            target.add(hit, None)
            moments = [m for m in moments if not (m.span is None and m.hits == [hit])]
    for moment in moments:
        _order(moment, hits)
    return moments


def _order(moment: Moment, hits: Sequence[Mapping[str, Any]]) -> None:
    """The original words first: the transcript, captions in the speech's language, then translations."""
    originals, translated = _original_languages([h for h in hits if h.get("asset_id") == moment.asset_id])

    def rank(hit: Mapping[str, Any]) -> tuple[int, str]:
        kind = hit.get("kind")
        language = _language(str(hit.get("operator") or ""))
        if kind == "transcript":
            return 0, ""
        if kind == "caption" and language in originals:
            return 1, language
        if kind == "caption" and language not in translated:
            return 2, language
        return (3 if kind == "caption" else 4), language

    moment.hits.sort(key=rank)


def forms(moment: Moment) -> str:
    """Which forms of the words matched: ``transcript, captions en, captions es, translation``."""
    names: list[str] = []
    for hit in moment.hits:
        kind = str(hit.get("kind") or "")
        operator = str(hit.get("operator") or "")
        if kind == "transcript":
            name = "transcript"
        elif kind == "caption":
            name = f"captions {_language(operator)}".strip()
        elif kind == "translation":
            name = f"translation {_language(operator)}".strip()
        else:
            name = _KIND_NAMES.get(kind, kind or operator)
        if name not in names:
            names.append(name)
    return ", ".join(names)


def at(moment: Moment) -> str:
    """``mm:ss`` of the moment: the matching word's time in the transcript when there is one."""
    timed = [h for h in moment.hits if isinstance(h.get("start_ms"), int)]
    if not timed:
        return ""
    best = next((h for h in timed if h.get("kind") == "transcript"), timed[0])
    return clock(best["start_ms"])


@guarded
@connected()
def search(
    words: Annotated[list[str], typer.Argument(metavar="WORDS...", help='words (all must occur), "phrases", word*')],
    *,
    media_type: Annotated[
        str | None, typer.Option("--media-type", "-t", help="only image, video, audio or text assets")
    ] = None,
    operator: Annotated[str | None, typer.Option("--operator", "-o", help="only results of this operator")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="at most this many hits")] = 20,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Search labels, faces, on-screen text, transcripts, captions, entities, key phrases and file names.

    One line per moment: the transcript, captions and translations of the same words are one hit (original
    language first), with the time it is said or shown (mm:ss); --json prints the server's hits unchanged."""
    query = " ".join(words)
    with remote.client() as client:
        body = client.get("/api/search", q=query, **{"media-type": media_type}, operator=operator, limit=limit)
    hits = body.get("hits", []) if isinstance(body, dict) else []
    if remote.show_json(body):
        return
    if not hits:
        out.print(f"no hits for {escape(query)!r}")
        return
    moments = group_hits(hits)
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("Name", overflow="fold", max_width=24)
    table.add_column("At", no_wrap=True)
    table.add_column("Snippet", ratio=3, min_width=24)
    table.add_column("Matched in", ratio=1, overflow="fold")
    # A full AssetId (for `mie asset show`) needs 36 columns: shown when the terminal has room, else in --json.
    with_asset = out.width >= WIDE
    if with_asset:
        table.add_column("Asset", no_wrap=True, min_width=36)
    for moment in moments:
        first = moment.hits[0]
        table.add_row(
            escape(str(first.get("name") or "")),
            Text(at(moment), style="cyan"),
            snippet_text(str(first.get("snippet") or "")),
            Text(forms(moment), style="dim"),
            *([Text(moment.asset_id, style="dim")] if with_asset else []),
        )
    out.print(table)
    if isinstance(body, dict) and body.get("next"):
        out.print(Text(f"more hits: --limit {limit * 2} (or the API's next={body['next']})", style="dim"))


def _print_stats(stats: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(stats)
        return
    for key in ("backend", "offset", "head", "media_items", "segments", "scheduled"):
        if key in stats:
            out.print(f"{key}: {stats[key]}")


@index_app.command("rebuild")
@guarded
@connected()
def rebuild(
    offline: Annotated[
        bool,
        typer.Option("--offline", help="rebuild in this process on the data directory (the server must be stopped)"),
    ] = False,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Rebuild the media index and the full-text index from the data plane (every asset, newest results)."""
    if offline:
        _print_stats(_rebuild_offline(remote.data_dir), remote.json)
        return
    with remote.client() as client:
        response = client.request("POST", "/api/search/rebuild", json_body={}, timeout=REBUILD_TIMEOUT)
    _print_stats(response.json(), remote.json)


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
@connected()
def status(
    remote: Remote = FROM_OPTIONS,
) -> None:
    """How far the indexer has read the change log, and what the indexes hold."""
    with remote.client() as client:
        _print_stats(client.get("/api/search/status"), remote.json)
