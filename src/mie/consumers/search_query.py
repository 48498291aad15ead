"""Full-text queries as people type them, and hits as the API returns them.

A query is words and ``"quoted phrases"`` that must all occur; a word ending in ``*`` is a prefix. Nothing the user
types is passed to the database as query syntax. A hit of a transcript segment points at the matching spoken word
(``start_ms``/``end_ms``), with the whole segment's range beside it, so a player can seek to the moment it is said.
"""

from __future__ import annotations

import re
from typing import Any

from mie.errors import InvalidError
from mie.storage.search import Hit, SearchQuery

MAX_QUERY_CHARS = 500
MAX_TERMS = 16
_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')
_NON_WORD = re.compile(r"[^\w]+")
_SUFFIXES = ("ings", "ing", "ed", "es", "s")


def parse_query(q: str | None, *, media_type: str | None = None, operator: str | None = None) -> SearchQuery:
    """Words and phrases of ``q`` (400 when there is nothing to search for)."""
    if q is None or not q.strip():
        raise InvalidError("q is required: the words to search for")
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidError(f"q is longer than {MAX_QUERY_CHARS} characters")
    terms: list[tuple[str, bool]] = []
    for match in _TOKEN.finditer(q):
        phrase, word = match.group(1), match.group(2)
        prefix = False
        if word is not None:
            prefix = word.endswith("*")
            raw = word.rstrip("*")
        else:
            raw = phrase or ""
        cleaned = _NON_WORD.sub(" ", raw).strip()
        if cleaned:
            terms.append((cleaned, prefix and " " not in cleaned))
    if not terms:
        raise InvalidError("q has no words to search for")
    if len(terms) > MAX_TERMS:
        raise InvalidError(f"q has more than {MAX_TERMS} words or phrases")
    return SearchQuery(terms=tuple(terms), media_type=media_type or None, operator=operator or None)


def _norm(word: str) -> str:
    return _NON_WORD.sub("", word.lower())


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def matching_word(hit: Hit, query: SearchQuery) -> tuple[int, int] | None:
    """Start and end (ms) of the first timed word of ``hit`` that matches a query term (first word of a phrase)."""
    if not hit.words:
        return None
    wanted = []
    for term, prefix in query.terms:
        first = _norm(term.split()[0]) if term.split() else ""
        if first:
            wanted.append((first, _stem(first), prefix))
    for word, start, end in hit.words:
        norm = _norm(word)
        if not norm:
            continue
        for first, stem, prefix in wanted:
            if norm == first or _stem(norm) == stem or (prefix and norm.startswith(first)):
                return start, end
    return None


def hit_document(hit: Hit, query: SearchQuery) -> dict[str, Any]:
    """The JSON of one hit: asset, operator, snippet and where in the media it is (milliseconds)."""
    start, end = hit.start_ms, hit.end_ms
    word = matching_word(hit, query)
    if word is not None:
        start, end = word
    return {
        "asset_id": hit.asset_id,
        "name": hit.name,
        "media_type": hit.media_type,
        "operator": hit.operator,
        "kind": hit.kind,
        "snippet": hit.snippet,
        "start_ms": start,
        "end_ms": end,
        "segment_start_ms": hit.start_ms,
        "segment_end_ms": hit.end_ms,
        "score": hit.score,
    }
