"""The semantic side of the search store: time-ranged documents of an asset with their embeddings, the facts the
query language filters on, and the asset filters they evaluate to.

The indexing consumer marks an asset *pending* whenever one of its results changes (in the same transaction as the
change, see :meth:`mie.storage.search.SearchStore.apply`); the embedding step reads the asset's segments, builds its
documents, embeds them and replaces the asset's documents with :meth:`DocumentStore.put_documents`. Query
processes keep the vectors in memory and follow the table by id (:meth:`DocumentStore.vectors_after`): documents
are only ever inserted (a replacement inserts the asset's new set, or a marker row when it has none), so an asset's
rows with the highest ids are its current ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from mie.storage.search import SearchStore, StoredSegment

#: Dimensions of the stored vectors (MiniLM-L6: 384), float32 little-endian.
DIMENSIONS = 384


@dataclass(frozen=True)
class Document:
    """A moment of an asset told in words (``kind``: ``shot``, ``image``, ``transcript`` or ``asset``), with the
    operators whose results it was built from and its normalised embedding (float32 bytes)."""

    kind: str
    text: str
    start_ms: int | None
    end_ms: int | None
    operators: tuple[str, ...]
    lang: str | None
    vector: bytes


@dataclass(frozen=True)
class VectorRow:
    """A row of the documents table as the in-memory index reads it; ``vector`` is ``None`` for a marker (the
    asset's earlier documents are gone and it has none)."""

    id: int
    asset_id: str
    vector: bytes | None
    start_ms: int | None = None
    end_ms: int | None = None
    media_type: str | None = None


@dataclass(frozen=True)
class StoredDocument:
    """A document with its asset's name and type, for hits."""

    id: int
    asset_id: str
    name: str
    media_type: str | None
    kind: str
    text: str
    start_ms: int | None
    end_ms: int | None
    operators: tuple[str, ...]
    lang: str | None


@dataclass(frozen=True)
class FactFilter:
    """Assets with a fact ``field`` equal to ``value`` (case-insensitive; ``None``: any), and a number in
    ``[low, high]`` (``None``: unbounded; bounds exclusive when ``strict``)."""

    field: str
    value: str | None = None
    low: float | None = None
    high: float | None = None
    strict_low: bool = False
    strict_high: bool = False


@dataclass(frozen=True)
class AssetFilter:
    """Conditions on assets, ANDed: facts, media type, and creation time in ``[created_from, created_to)``."""

    facts: tuple[FactFilter, ...] = ()
    media_type: str | None = None
    created_from: float | None = None
    created_to: float | None = None

    @property
    def empty(self) -> bool:
        """Nothing to filter on."""
        return not self.facts and self.media_type is None and self.created_from is None and self.created_to is None


@dataclass(frozen=True)
class FactMoment:
    """A fact that matched a filter, as a hit: where in which asset."""

    asset_id: str
    name: str
    media_type: str | None
    operator: str
    field: str
    value: str
    number: float | None
    start_ms: int | None
    end_ms: int | None


class DocumentStore(Protocol):
    """Documents, vectors and facts of the search store (the SQL search stores implement it)."""

    def pending_assets(self, limit: int) -> list[tuple[str, int]]:
        """Assets whose documents must be rebuilt, with the version of their pending mark."""

    def asset_segments(self, asset_id: str) -> list[StoredSegment]:
        """Every indexed segment of the asset."""

    def put_documents(self, asset_id: str, version: int, documents: Sequence[Document]) -> None:
        """Replace the asset's documents; clear its pending mark unless it was marked again since ``version``."""

    def vector_generation(self) -> int:
        """Changes when every document was deleted at once (a rebuild): readers reload from scratch."""

    def vectors_after(self, after_id: int, limit: int) -> list[VectorRow]:
        """Document rows with ids above ``after_id``, in id order."""

    def vectors_of(self, asset_id: str) -> list[VectorRow]:
        """The asset's current document rows."""

    def documents(self, ids: Iterable[int]) -> dict[int, StoredDocument]:
        """The documents with these ids (those still stored)."""

    def filter_assets(self, condition: AssetFilter, limit: int) -> set[str]:
        """Ids of the assets meeting every condition (at most ``limit``), from the indexes."""

    def fact_moments(self, condition: AssetFilter, *, limit: int, offset: int = 0) -> list[FactMoment]:
        """The facts matching the first fact filter, in assets meeting the whole condition, best number first."""


class IndexStore(SearchStore, DocumentStore, Protocol):
    """The whole search store: media index, full text, documents and facts, in one database."""
