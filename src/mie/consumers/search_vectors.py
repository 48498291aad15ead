"""The in-memory vector index of semantic search: the documents' embeddings as one float32 matrix, followed
incrementally from the documents table, searched with numpy.

**Why numpy and not an ANN library.** Exact brute force over 170,000 documents (100,000 assets) costs ~100 ms per
query on this machine's two busy cores: the whole matrix (260 MB) is read for every query. HNSW (usearch) answers in
~1 ms but took a minute to build 170,000 vectors and is a native dependency with its own. The middle way used here
keeps everything in numpy: below :data:`EXACT_MAX` documents the search is exact; above, a principal-component
projection to :data:`LOW_DIMS` dimensions (fitted on a sample of the vectors, refitted when the collection has
doubled) scores every document in a quarter of the time and memory traffic, and the best :data:`CANDIDATES` are
re-scored exactly. Text embeddings are far from isotropic, so a few dozen components keep nearly all of the
ranking (``bench/bench_search.py`` measures recall and latency).

**Following the table.** Rows are only ever inserted (a replacement inserts the asset's new set, or a marker when it
has none, and deletes the old rows in the same transaction): :meth:`VectorIndex.refresh` reads rows above the last
id seen and, for each asset they touch, reloads that asset's current rows; a changed generation (a rebuild emptied
the table) reloads everything. On PostgreSQL a row whose id was allocated before, but committed after, a row already
read would be missed, so the index also reloads everything every :data:`RELOAD_SECONDS` there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mie.storage.vectors import DIMENSIONS, DocumentStore, VectorRow

EXACT_MAX = 30_000
LOW_DIMS = 64
CANDIDATES = 2000
FIT_SAMPLE = 20_000
RELOAD_SECONDS = 300.0
_PAGE = 5000
NO_TIME = -1


@dataclass(frozen=True)
class Neighbour:
    """A document close to the query: its id, asset and cosine similarity."""

    doc_id: int
    asset_id: str
    score: float
    start_ms: int | None = None
    end_ms: int | None = None


class VectorIndex:
    """Documents' vectors in memory (thread-safe); see the module's docstring."""

    def __init__(self, *, exact_max: int = EXACT_MAX, periodic_reload: bool = False) -> None:
        self.exact_max = exact_max
        self.periodic_reload = periodic_reload
        self._lock = threading.RLock()
        self._clear()
        self.generation = -1

    def _clear(self) -> None:
        self._matrix = np.zeros((1024, DIMENSIONS), dtype=np.float32)
        self._doc = np.zeros(1024, dtype=np.int64)
        self._asset = np.full(1024, -1, dtype=np.int64)
        self._alive = np.zeros(1024, dtype=bool)
        # Time range of each document (NO_TIME: none), so moments are grouped without reading the documents.
        self._start = np.full(1024, NO_TIME, dtype=np.int64)
        self._end = np.full(1024, NO_TIME, dtype=np.int64)
        # The asset's media type (index into _types), so type: filters are one comparison.
        self._type = np.zeros(1024, dtype=np.int8)
        self._types: dict[str | None, int] = {None: 0}
        self._size = 0
        self._count = 0
        self._rows: dict[str, list[int]] = {}
        self._asset_ids: dict[str, int] = {}
        self._asset_names: list[str] = []
        self._last_id = 0
        self._loaded_at = time.monotonic()
        self._mean: npt.NDArray[np.float32] | None = None
        self._basis: npt.NDArray[np.float32] | None = None
        self._low: npt.NDArray[np.float32] | None = None
        self._fitted = 0

    def __len__(self) -> int:
        return self._count

    # Following the table ---------------------------------------------------------------------------------------

    def refresh(self, store: DocumentStore) -> int:
        """Apply the rows stored since the last refresh; returns how many rows were read."""
        with self._lock:
            generation = store.vector_generation()
            stale = self.periodic_reload and time.monotonic() - self._loaded_at > RELOAD_SECONDS
            full = generation != self.generation or stale
            if full:
                self._clear()
                self.generation = generation
            touched: dict[str, None] = {}
            read = 0
            while True:
                rows = store.vectors_after(self._last_id, _PAGE)
                if not rows:
                    break
                read += len(rows)
                self._last_id = rows[-1].id
                if full:
                    for row in rows:
                        self._add(row)
                else:
                    touched.update((row.asset_id, None) for row in rows)
            for asset_id in touched:
                self._replace(asset_id, store.vectors_of(asset_id))
            return read

    def _replace(self, asset_id: str, rows: list[VectorRow]) -> None:
        for index in self._rows.pop(asset_id, []):
            if self._alive[index]:
                self._alive[index] = False
                self._count -= 1
        for row in rows:
            self._add(row)

    def _add(self, row: VectorRow) -> None:
        if row.vector is None:
            return
        vector = np.frombuffer(row.vector, dtype=np.float32)
        if vector.shape != (DIMENSIONS,):
            return
        if self._size == len(self._doc):
            self._grow()
        index = self._size
        self._size += 1
        self._matrix[index] = vector
        self._doc[index] = row.id
        asset = self._asset_ids.get(row.asset_id)
        if asset is None:
            asset = self._asset_ids[row.asset_id] = len(self._asset_names)
            self._asset_names.append(row.asset_id)
        self._asset[index] = asset
        self._alive[index] = True
        self._start[index] = NO_TIME if row.start_ms is None else row.start_ms
        self._end[index] = NO_TIME if row.end_ms is None else row.end_ms
        self._type[index] = self._types.setdefault(row.media_type, len(self._types))
        self._count += 1
        self._rows.setdefault(row.asset_id, []).append(index)
        if self._low is not None and self._basis is not None and self._mean is not None:
            self._low[index] = (vector - self._mean) @ self._basis

    def _grow(self) -> None:
        size = len(self._doc) * 2
        self._matrix = np.concatenate([self._matrix, np.zeros_like(self._matrix)])
        self._doc = np.resize(self._doc, size)
        self._asset = np.resize(self._asset, size)
        self._alive = np.concatenate([self._alive, np.zeros(size - len(self._alive), dtype=bool)])
        self._start = np.concatenate([self._start, np.full(size - len(self._start), NO_TIME, dtype=np.int64)])
        self._end = np.concatenate([self._end, np.full(size - len(self._end), NO_TIME, dtype=np.int64)])
        self._type = np.concatenate([self._type, np.zeros(size - len(self._type), dtype=np.int8)])
        if self._low is not None:
            self._low = np.concatenate([self._low, np.zeros_like(self._low)])

    def prepare(self) -> None:
        """Fit the projection when the collection outgrew exact search, or doubled since the last fit (seconds at
        100,000 assets: run it off the request path, e.g. after a refresh in the indexer)."""
        with self._lock:
            if self._count <= self.exact_max or (self._fitted and self._count < 2 * self._fitted):
                if self._count <= self.exact_max:
                    self._low = self._basis = self._mean = None
                    self._fitted = 0
                return
            alive = np.flatnonzero(self._alive[: self._size])
            rng = np.random.default_rng(0)
            sample = self._matrix[rng.choice(alive, size=min(FIT_SAMPLE, len(alive)), replace=False)]
            mean = sample.mean(axis=0)
            _, _, vt = np.linalg.svd(sample - mean, full_matrices=False)
            basis = np.ascontiguousarray(vt[:LOW_DIMS].T, dtype=np.float32)
            low = np.zeros((len(self._doc), LOW_DIMS), dtype=np.float32)
            low[: self._size] = (self._matrix[: self._size] - mean) @ basis
            self._mean, self._basis, self._low = mean.astype(np.float32), basis, low
            self._fitted = self._count

    # Searching -------------------------------------------------------------------------------------------------

    def search(
        self,
        query: npt.NDArray[np.float32],
        k: int,
        *,
        assets: Collection[str] | None = None,
        media_type: str | None = None,
        min_score: float = -1.0,
    ) -> list[Neighbour]:
        """The ``k`` documents most similar to ``query`` (normalised), among ``assets`` and of ``media_type`` when
        given."""
        with self._lock:
            size = self._size
            if not self._count or k <= 0:
                return []
            mask = self._alive[:size].copy()
            if media_type is not None:
                code = self._types.get(media_type)
                if code is None:
                    return []
                mask &= self._type[:size] == code
            if assets is not None:
                wanted = np.fromiter((self._asset_ids[a] for a in assets if a in self._asset_ids), dtype=np.int64)
                mask &= np.isin(self._asset[:size], wanted)
            if not mask.any():
                return []
            if self._low is not None and self._basis is not None and size > CANDIDATES:
                # Rough scores of every document in the projection, exact ones for the best CANDIDATES.
                rough = self._low[:size] @ (query @ self._basis)
                if self._count != size or assets is not None or media_type is not None:
                    rough[~mask] = -np.inf
                candidates = np.argpartition(rough, size - CANDIDATES)[size - CANDIDATES :]
                candidates = candidates[mask[candidates]]
                scores = self._matrix[candidates] @ query
            else:
                # Exact: score the matrix in place (gathering rows would copy it).
                scores = self._matrix[:size] @ query
                scores[~mask] = -np.inf
                candidates = np.arange(size)
            if len(candidates) > k:
                best = np.argpartition(-scores, k)[:k]
                candidates, scores = candidates[best], scores[best]
            order = np.argsort(-scores, kind="stable")
            out = []
            for i in order:
                if not (scores[i] >= min_score and np.isfinite(scores[i])):
                    continue
                row = candidates[i]
                start, end = int(self._start[row]), int(self._end[row])
                out.append(
                    Neighbour(
                        int(self._doc[row]),
                        self._asset_names[int(self._asset[row])],
                        float(scores[i]),
                        None if start == NO_TIME else start,
                        None if end == NO_TIME else end,
                    )
                )
            return out
