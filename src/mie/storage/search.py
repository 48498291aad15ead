"""The search store interface: the media index behind ``/api/media`` and the full-text index behind ``/api/search``.

The change-stream consumer (``mie.consumers.search``) turns change events into :data:`IndexChange` records and
hands a batch of them, with the change-log offset they bring the index to, to :meth:`SearchStore.apply`; the store
applies them in one transaction, so a crash never leaves the index ahead of (or behind) its offset. Queries are
answered from indexes only (no scans): see ``mie.storage.sql.search_store`` for the SQLite FTS5 and PostgreSQL
full-text implementations. Only the composition root picks one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

#: Media types the media index lists (``media-type=`` values, as the Chalice sample stores them).
MEDIA_KINDS = ("image", "video", "audio")


@dataclass(frozen=True)
class Segment:
    """One piece of searchable text and where it came from in the media (milliseconds; ``None``: the whole asset).

    ``words`` are ``(word, start_ms, end_ms)`` of a transcript segment, so a hit can point at the spoken word.
    """

    kind: str
    text: str
    start_ms: int | None = None
    end_ms: int | None = None
    words: tuple[tuple[str, int, int], ...] = ()
    #: Language of the text (``en``, ``es``…) when the result tells it (captions, translations, transcripts).
    lang: str | None = None


@dataclass(frozen=True)
class Fact:
    """A structured thing found in the media, for the query language's filters (``label:Car confidence:>80``).

    ``field`` is ``label``, ``person``, ``text``, ``topic``, ``lang`` or ``duration``; ``value`` is compared
    case-insensitively (stored lowercase); ``number`` is the confidence (0-100) of a label, person, text or topic, or
    the duration in seconds.
    """

    field: str
    value: str
    number: float | None = None
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass(frozen=True)
class PutAsset:
    """An asset appeared: list it in the media index (when ``media_type`` is one of :data:`MEDIA_KINDS`)."""

    asset_id: str
    name: str
    media_type: str | None
    created: float


@dataclass(frozen=True)
class PutResult:
    """An operator stored a result: its segments replace that operator's earlier ones for the asset.

    ``labels`` (``None``: the result carries none) replace the operator's contribution to the asset's labels;
    ``facts`` replace the operator's facts. The asset's semantic documents are rebuilt after any of these changes.
    """

    asset_id: str
    operator: str
    segments: tuple[Segment, ...]
    labels: tuple[str, ...] | None = None
    facts: tuple[Fact, ...] = ()


@dataclass(frozen=True)
class DropResult:
    """An operator's results were deleted."""

    asset_id: str
    operator: str


@dataclass(frozen=True)
class DropAsset:
    """The asset was deleted: everything about it goes."""

    asset_id: str


@dataclass(frozen=True)
class Schedule:
    """Start the default analysis of the asset at ``due`` unless a workflow is started on it first."""

    asset_id: str
    due: float
    media_type: str


@dataclass(frozen=True)
class Unschedule:
    """Forget a scheduled analysis (it ran, or a workflow was started on the asset)."""

    asset_id: str


#: Everything :meth:`SearchStore.apply` accepts, applied in order.
IndexChange: TypeAlias = PutAsset | PutResult | DropResult | DropAsset | Schedule | Unschedule


@dataclass(frozen=True)
class MediaItem:
    """One entry of the media index, as ``/api/media`` serves it."""

    asset_id: str
    name: str
    media_type: str
    labels: list[str] = field(default_factory=list)

    def document(self) -> dict[str, object]:
        """The JSON object of the API (the sample's keys, plus ``asset_id``)."""
        return {"name": self.name, "type": self.media_type, "labels": list(self.labels), "asset_id": self.asset_id}


@dataclass(frozen=True)
class MediaQuery:
    """Filters of ``GET /api/media``, combined with AND (``None``: not filtered)."""

    startswith: str | None = None
    media_type: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class SearchQuery:
    """A parsed full-text query: ``terms`` are words or phrases that must all occur (``prefix``: last word is a
    prefix), with optional filters."""

    terms: tuple[tuple[str, bool], ...]
    media_type: str | None = None
    operator: str | None = None


@dataclass(frozen=True)
class Hit:
    """One ranked match: the segment, its asset and operator, a highlighted snippet, and where it is in the media."""

    asset_id: str
    name: str
    media_type: str | None
    operator: str
    kind: str
    snippet: str
    text: str
    start_ms: int | None
    end_ms: int | None
    score: float
    words: tuple[tuple[str, int, int], ...] = ()
    lang: str | None = None


@dataclass(frozen=True)
class IndexStats:
    """What the index holds, for status pages and tests."""

    backend: str
    offset: int
    media_items: int
    segments: int
    scheduled: int


@dataclass(frozen=True)
class StoredSegment:
    """A segment as the store holds it (what semantic documents are built from)."""

    id: int
    operator: str
    kind: str
    text: str
    start_ms: int | None
    end_ms: int | None
    lang: str | None
    media_type: str | None


class SearchStore(Protocol):
    """Media index, full-text index, the consumer's offset and scheduled analyses, in one database."""

    #: ``"sqlite-fts5"`` or ``"postgresql"``.
    backend: str

    def offset(self, consumer: str) -> int:
        """The change-log sequence number the consumer has applied (0: none)."""

    def apply(self, consumer: str, changes: Sequence[IndexChange], offset: int | None) -> None:
        """Apply ``changes`` in order and (unless ``offset`` is None) record ``offset``, in one transaction."""

    def reset(self, consumer: str, offset: int) -> None:
        """Empty both indexes (keeping scheduled analyses) and set the consumer's offset (a rebuild starts here)."""

    def due(self, now: float, limit: int = 100) -> list[Schedule]:
        """Scheduled analyses whose time has come, oldest first."""

    def next_due(self) -> float | None:
        """When the earliest scheduled analysis is due (``None``: nothing scheduled)."""

    def get_media(self, name: str) -> MediaItem | None:
        """The newest listed asset called ``name``."""

    def list_media(
        self, query: MediaQuery, *, limit: int, after: tuple[str, str] | None = None
    ) -> tuple[list[MediaItem], tuple[str, str] | None]:
        """Listed assets matching ``query`` ordered by ``(name, asset_id)``, after ``after``; and the key of the
        last item when there are more."""

    def search(self, query: SearchQuery, *, limit: int, offset: int = 0) -> tuple[list[Hit], bool]:
        """Segments matching ``query``, best first; and whether there are more."""

    def stats(self, consumer: str) -> IndexStats:
        """Counts and offset."""
