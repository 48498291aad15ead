"""Ranking ``GET /api/search``: full text, semantic similarity, or both fused (``mode=text|semantic|hybrid``).

- **text**: the full-text index's hits, one per segment, as before (BM25 / ``ts_rank_cd``).
- **semantic**: the documents nearest to the free text's embedding (cosine at least :data:`MIN_SIMILARITY`).
- **hybrid** (default): both lists fused by reciprocal rank fusion (``1 / (RRF_K + rank)`` summed over the lists
  a moment is in).

In ``semantic`` and ``hybrid`` mode **one moment is one hit**: hits of the same asset whose time ranges overlap (the
transcript, the captions and each translation of the same words, and the document of the shot they fall in) are
grouped; the hit lists the ``forms`` that matched, the original language first (the transcript's, else the first
caption's), and its ``operator``/``kind``/``snippet`` are the first form's. Filters of the query language restrict
both lists to the assets meeting them (evaluated from the index); a query of filters only lists the matching facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mie.consumers.search import SearchIndexer
from mie.consumers.search_language import ParsedQuery
from mie.consumers.search_query import hit_document
from mie.errors import InvalidError
from mie.storage.search import Hit, SearchQuery
from mie.storage.vectors import StoredDocument

MODES = ("text", "semantic", "hybrid")
RRF_K = 60
#: Documents less similar than this to the query are not semantic matches (MiniLM cosine; unrelated text scores
#: around 0.0-0.1, a paraphrase of a shot told in labels and speech from about 0.18).
MIN_SIMILARITY = 0.15
#: Hits taken from each list before fusing: five pages' worth, at least 100, at most WINDOW (a page deeper than
#: WINDOW is not served).
WINDOW = 1000
MIN_WINDOW = 100
#: Most assets a filter may select before it is applied to the lists (larger sets cost more than they save).
MAX_FILTERED = 200_000
_KIND_ORDER = {"transcript": 0, "caption": 1, "translation": 2}


@dataclass
class _Moment:
    asset_id: str
    start: int | None
    end: int | None
    forms: list[dict[str, Any]] = field(default_factory=list)
    ranks: dict[str, int] = field(default_factory=dict)
    similarity: float | None = None
    first: int = 0

    def overlaps(self, start: int | None, end: int | None) -> bool:
        if self.start is None or start is None or self.end is None or end is None:
            return self.start is None and start is None
        # Half-open ranges: adjacent shots (one ends where the next starts) are two moments.
        return (start < self.end and end > self.start) or start == self.start

    @property
    def score(self) -> float:
        return sum(1.0 / (RRF_K + rank) for rank in self.ranks.values())


class _Moments:
    """Moments in order of first appearance, found by asset."""

    def __init__(self) -> None:
        self.all: list[_Moment] = []
        self._by_asset: dict[str, list[_Moment]] = {}

    def join(self, asset_id: str, start: int | None, end: int | None) -> _Moment:
        """The moment of the asset overlapping ``[start, end]`` (widened to it), or a new one."""
        mine = self._by_asset.setdefault(asset_id, [])
        for moment in mine:
            if moment.overlaps(start, end):
                if start is not None and end is not None and moment.start is not None and moment.end is not None:
                    moment.start, moment.end = min(moment.start, start), max(moment.end, end)
                return moment
        moment = _Moment(asset_id, start, end, first=len(self.all))
        self.all.append(moment)
        mine.append(moment)
        return moment


def _text_hits(
    indexer: SearchIndexer, parsed: ParsedQuery, operator: str | None, allowed: set[str] | None, window: int
) -> list[Hit]:
    if not parsed.terms:
        return []
    query = SearchQuery(parsed.terms, parsed.filters.media_type, operator)
    # Filters are applied to the ranked window: with a filter, take the whole window.
    hits, _ = indexer.store.search(query, limit=window if allowed is None and not parsed.langs else WINDOW)
    if allowed is not None:
        hits = [h for h in hits if h.asset_id in allowed]
    if parsed.langs:
        hits = [h for h in hits if h.lang is None or h.lang in parsed.langs]
    return hits


def search(
    indexer: SearchIndexer, parsed: ParsedQuery, *, mode: str, operator: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], bool, dict[str, Any]]:
    """Hits of one page, whether there are more, and what was used (``modes``, ``semantic`` state)."""
    if mode not in MODES:
        raise InvalidError(f"mode must be one of {', '.join(MODES)}")
    state = indexer.semantic_state()
    info: dict[str, Any] = {"mode": mode, "semantic": state}
    allowed: set[str] | None = None
    filters = parsed.filters
    if filters.facts or filters.created_from is not None or filters.created_to is not None:
        allowed = indexer.store.filter_assets(filters, MAX_FILTERED)
    window = min(WINDOW, max(MIN_WINDOW, 5 * (offset + limit)))
    if not parsed.terms:
        facts = _fact_hits(indexer, parsed, limit + 1, offset)
        return facts[:limit], len(facts) > limit, info
    if mode == "text":
        hits = _text_hits(indexer, parsed, operator, allowed, offset + limit + 1)
        page = [hit_document(h, SearchQuery(parsed.terms)) | {"lang": h.lang, "matched": ["text"]} for h in hits]
        return page[offset : offset + limit], len(page) > offset + limit, info
    if mode == "semantic" and state != "ready":
        raise InvalidError(f"semantic search is not available: {state}")
    found = _Moments()
    if mode == "hybrid":
        query = SearchQuery(parsed.terms)
        for rank, hit in enumerate(_text_hits(indexer, parsed, operator, allowed, window)):
            moment = found.join(hit.asset_id, hit.start_ms, hit.end_ms)
            moment.ranks.setdefault("text", rank + 1)
            moment.forms.append(hit_document(hit, query) | {"lang": hit.lang})
    if state == "ready":
        neighbours = indexer.semantic(
            parsed.free_text, window, assets=allowed, media_type=filters.media_type, min_score=MIN_SIMILARITY
        )
        # Documents are read for the page only (or all when filtering by operator, which they name).
        documents = indexer.store.documents(n.doc_id for n in neighbours) if operator is not None else {}
        for rank, near in enumerate(neighbours):
            if operator is not None:
                known = documents.get(near.doc_id)
                if known is None or operator not in known.operators:
                    continue
            moment = found.join(near.asset_id, near.start_ms, near.end_ms)
            moment.ranks.setdefault("semantic", rank + 1)
            moment.similarity = max(moment.similarity or -1.0, near.score)
            moment.forms.append({"document": near.doc_id, "score": near.score})
    moments = sorted(found.all, key=lambda m: (-m.score, m.first))
    chosen = moments[offset : offset + limit]
    wanted = [f["document"] for m in chosen for f in m.forms if "document" in f]
    documents = indexer.store.documents(wanted)
    for moment in chosen:
        moment.forms = [_document_form(f, documents) if "document" in f else f for f in moment.forms]
        moment.forms = [f for f in moment.forms if f]
    page = [_document(m) for m in chosen if m.forms]
    return page, len(moments) > offset + limit, info


def _document_form(form: dict[str, Any], documents: dict[int, StoredDocument]) -> dict[str, Any]:
    doc = documents.get(int(form["document"]))
    if doc is None:
        return {}  # replaced since it was found
    return {
        "asset_id": doc.asset_id,
        "name": doc.name,
        "media_type": doc.media_type,
        "operator": doc.operators[0] if doc.operators else "",
        "kind": doc.kind,
        "snippet": doc.text[:300],
        "start_ms": doc.start_ms,
        "end_ms": doc.end_ms,
        "segment_start_ms": doc.start_ms,
        "segment_end_ms": doc.end_ms,
        "score": form["score"],
        "lang": doc.lang,
        "operators": list(doc.operators),
        "document": True,
    }


def _document(moment: _Moment) -> dict[str, Any]:
    """The hit of a moment: its first form's fields, the moment's range, every form that matched."""
    original = next((f["lang"] for f in moment.forms if f.get("kind") == "transcript" and f.get("lang")), None)
    if original is None:
        original = next((f["lang"] for f in moment.forms if f.get("kind") == "caption" and f.get("lang")), None)
    forms = sorted(
        enumerate(moment.forms),
        key=lambda item: (
            bool(item[1].get("document")),
            original is not None and item[1].get("lang") not in (None, original),
            _KIND_ORDER.get(str(item[1].get("kind")), 3),
            item[0],
        ),
    )
    ordered = [f for _, f in forms]
    hit = {k: v for k, v in ordered[0].items() if k not in ("document", "operators")}
    operators: list[str] = []
    for form in ordered:
        for name in [form.get("operator"), *form.get("operators", [])]:
            if isinstance(name, str) and name and name not in operators:
                operators.append(name)
    hit.update(
        {
            "score": moment.score,
            "operators": operators,
            "matched": sorted(moment.ranks),
            "similarity": moment.similarity,
            "moment_start_ms": moment.start,
            "moment_end_ms": moment.end,
            "forms": [
                {
                    "operator": f.get("operator"),
                    "kind": f.get("kind"),
                    "lang": f.get("lang"),
                    "snippet": f.get("snippet"),
                    "start_ms": f.get("start_ms"),
                    "end_ms": f.get("end_ms"),
                }
                for f in ordered
            ],
        }
    )
    return hit


def _fact_hits(indexer: SearchIndexer, parsed: ParsedQuery, limit: int, offset: int) -> list[dict[str, Any]]:
    """A query of filters only: the matching facts (the first label/person/text filter's), or assets."""
    moments = indexer.store.fact_moments(parsed.filters, limit=limit, offset=offset)
    return [
        {
            "asset_id": m.asset_id,
            "name": m.name,
            "media_type": m.media_type,
            "operator": m.operator,
            "kind": m.field,
            "snippet": m.value,
            "start_ms": m.start_ms,
            "end_ms": m.end_ms,
            "segment_start_ms": m.start_ms,
            "segment_end_ms": m.end_ms,
            "score": m.number,
            "operators": [m.operator],
            "matched": ["filter"],
        }
        for m in moments
    ]
