"""The search query language: free words and ``"phrases"`` with ``field:value`` filters, parsed by a hand-written
tokenizer (no user text ever reaches the database as query syntax).

=====================  ========================================================================================
``label:Car``          the asset has the label (objects and labels; case-insensitive, the whole label)
``person:"Jeff Steen"`` a person recognised by name (celebrity recognition, face search)
``text:"JEFF STEEN"``   a line of on-screen text, as detected (case-insensitive, the whole line)
``topic:"Boulder Eats"`` one of the asset's topics (the ``Topics`` operator: its ranked names and key phrases)
``confidence:>80``     the label/person/text filters of the query need at least this confidence (0-100)
``lang:es``            the asset has speech, captions or a translation in this language
``type:video``         image, video, audio or text
``duration:>60``       seconds (``>``, ``>=``, ``<``, ``<=``, ``=``; from the results' ``VideoMetadata``)
``date:2026-11``       created that year, month or day (``2026``, ``2026-11``, ``2026-11-05``; ``>``/``<`` too)
=====================  ========================================================================================

A malformed query raises :class:`QuerySyntaxError` (the API's 400) naming the position (0-based character offset)
and what was expected there.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field

from mie.errors import InvalidError
from mie.storage.search import MEDIA_KINDS
from mie.storage.vectors import AssetFilter, FactFilter

MAX_QUERY_CHARS = 500
MAX_TERMS = 16
FIELDS = ("label", "person", "text", "topic", "confidence", "lang", "type", "duration", "date")
_FACT_FIELDS = ("label", "person", "text", "topic")
_TYPES = (*MEDIA_KINDS, "text")
_NUMBER = re.compile(r"(>=|<=|>|<|=)?(\d+(?:\.\d+)?)$")
_DATE = re.compile(r"(>=|<=|>|<|=)?(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_NON_WORD = re.compile(r"[^\w]+")
_FIELD = re.compile(r"([A-Za-z]+):")


class QuerySyntaxError(InvalidError):
    """A malformed query: ``position`` is the 0-based offset of the offending character."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.position = position


@dataclass(frozen=True)
class ParsedQuery:
    """Free text (words and phrases, for full text and embeddings) and the filters."""

    terms: tuple[tuple[str, bool], ...] = ()
    filters: AssetFilter = field(default_factory=AssetFilter)
    langs: tuple[str, ...] = ()

    @property
    def free_text(self) -> str:
        """The words and phrases as one sentence (what is embedded)."""
        return " ".join(term for term, _ in self.terms)


def _read_value(q: str, at: int) -> tuple[str, int]:
    """A value at ``at``: ``"quoted"`` or up to the next space; returns it and the offset after it."""
    if at < len(q) and q[at] == '"':
        end = q.find('"', at + 1)
        if end < 0:
            raise QuerySyntaxError('unterminated quote: a closing " is missing', at)
        return q[at + 1 : end], end + 1
    end = at
    while end < len(q) and not q[end].isspace():
        end += 1
    return q[at:end], end


def _number(value: str, name: str, at: int) -> tuple[str, float]:
    match = _NUMBER.match(value)
    if not match:
        raise QuerySyntaxError(f"{name}: expects a number such as {name}:>60 or {name}:<=30, not {value!r}", at)
    return match.group(1) or "=", float(match.group(2))


def _bounds(op: str, number: float, name: str) -> FactFilter:
    if op == "=":
        return FactFilter(name, low=number, high=number)
    if op in (">", ">="):
        return FactFilter(name, low=number, strict_low=op == ">")
    return FactFilter(name, high=number, strict_high=op == "<")


def _date_range(value: str, at: int) -> tuple[float | None, float | None]:
    match = _DATE.match(value)
    if not match:
        raise QuerySyntaxError(
            f"date: expects a year, month or day such as 2026, 2026-11 or 2026-11-05, not {value!r}", at
        )
    op, year, month, day = match.group(1) or "=", int(match.group(2)), match.group(3), match.group(4)
    try:
        if day is not None:
            first = dt.datetime(year, int(month or 1), int(day), tzinfo=dt.UTC)
            after = first + dt.timedelta(days=1)
        elif month is not None:
            first = dt.datetime(year, int(month), 1, tzinfo=dt.UTC)
            after = first + dt.timedelta(days=calendar.monthrange(year, int(month))[1])
        else:
            first, after = dt.datetime(year, 1, 1, tzinfo=dt.UTC), dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    except ValueError as exc:
        raise QuerySyntaxError(f"date: {value!r} is not a date ({exc})", at) from exc
    start, end = first.timestamp(), after.timestamp()
    return {
        "=": (start, end),
        ">": (end, None),
        ">=": (start, None),
        "<": (None, start),
        "<=": (None, end),
    }[op]


def parse(q: str | None, *, media_type: str | None = None) -> ParsedQuery:
    """Parse ``q`` (400 with the position when malformed, or when it asks for nothing)."""
    if q is None or not q.strip():
        raise InvalidError("q is required: the words to search for, or filters such as label:Car")
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidError(f"q is longer than {MAX_QUERY_CHARS} characters")
    terms: list[tuple[str, bool]] = []
    facts: list[tuple[FactFilter, int]] = []
    confidence: tuple[str, float, int] | None = None
    langs: list[str] = []
    kind = media_type
    created: tuple[float | None, float | None] = (None, None)
    at = 0
    while at < len(q):
        if q[at].isspace():
            at += 1
            continue
        start = at
        named = _FIELD.match(q, at)
        if named and named.group(1).lower() in FIELDS:
            name = named.group(1).lower()
            value_at = named.end()
            value, at = _read_value(q, value_at)
            value = value.strip()
            if not value:
                raise QuerySyntaxError(f"{name}: needs a value", value_at)
            if name in _FACT_FIELDS:
                facts.append((FactFilter(name, value), start))
            elif name == "confidence":
                op, number = _number(value, name, value_at)
                confidence = (op, number, start)
            elif name == "lang":
                if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z]{2,4})?", value):
                    raise QuerySyntaxError(f"lang: expects a language code such as es or pt, not {value!r}", value_at)
                langs.append(value.lower().split("-")[0])
            elif name == "type":
                if value.lower() not in _TYPES:
                    raise QuerySyntaxError(f"type: is one of {', '.join(_TYPES)}, not {value!r}", value_at)
                if kind is not None and kind != value.lower():
                    raise QuerySyntaxError("type: contradicts the media type already asked for", start)
                kind = value.lower()
            elif name == "duration":
                op, number = _number(value, name, value_at)
                facts.append((_bounds(op, number, "duration"), start))
            else:
                created = _date_range(value, value_at)
            continue
        if named and q[named.end() : named.end() + 1] not in ("", " "):
            raise QuerySyntaxError(f"unknown filter {named.group(1)!r}: use one of {', '.join(FIELDS)}", start)
        if q[at] == '"':
            phrase, at = _read_value(q, at)
            cleaned = _NON_WORD.sub(" ", phrase).strip()
            if cleaned:
                terms.append((cleaned, False))
            continue
        word, at = _read_value(q, at)
        cleaned = _NON_WORD.sub(" ", word.rstrip("*")).strip()
        if cleaned:
            terms.append((cleaned, word.endswith("*") and " " not in cleaned))
    if len(terms) > MAX_TERMS:
        raise InvalidError(f"q has more than {MAX_TERMS} words or phrases")
    filters = [f for f, _ in facts]
    if confidence is not None:
        op, number, where = confidence
        scored = [i for i, f in enumerate(filters) if f.field in _FACT_FIELDS]
        if not scored:
            raise QuerySyntaxError("confidence: applies to a label:, person: or text: filter, and there is none", where)
        bound = _bounds(op, number, "confidence")
        for i in scored:
            filters[i] = FactFilter(
                filters[i].field, filters[i].value, bound.low, bound.high, bound.strict_low, bound.strict_high
            )
    filters += [FactFilter("lang", code) for code in dict.fromkeys(langs)]
    condition = AssetFilter(tuple(filters), kind, created[0], created[1])
    if not terms and condition.empty:
        raise InvalidError("q has no words to search for")
    return ParsedQuery(tuple(terms), condition, tuple(dict.fromkeys(langs)))
