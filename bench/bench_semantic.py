"""Semantic part of ``bench/bench_search.py``: documents with vectors for N assets, the in-memory vector index, and
semantic / hybrid query latency, recall of the projected search, and real embedding throughput.

Embedding 200,000 documents with MiniLM would take hours on two cores, so the stored vectors are made from real
ones: a few hundred phrases of real words ("person car street"...) are embedded with MiniLM, and each document's
vector is the normalised sum of 2-5 of them (skewed choice) plus a little noise: a collection with the structure of
real embeddings (clustered, anisotropic). Queries are real sentences embedded per query (their cost is included).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mie.consumers import search_hybrid
from mie.consumers.embedding import shared_embedder
from mie.consumers.search import SearchIndexer
from mie.consumers.search_language import parse
from mie.consumers.search_vectors import VectorIndex
from mie.storage.sql.search_store import SqlSearchStore
from mie.storage.sql.search_tables import search_documents

OBJECTS = [
    "person",
    "man",
    "woman",
    "child",
    "car",
    "truck",
    "bus",
    "bicycle",
    "dog",
    "cat",
    "horse",
    "bird",
    "boat",
    "plane",
    "train",
    "chair",
    "table",
    "couch",
    "bed",
    "cup",
    "bottle",
    "laptop",
    "phone",
    "book",
    "clock",
    "tree",
    "flower",
    "grass",
    "road",
    "street",
    "building",
    "house",
    "bridge",
    "beach",
    "sea",
    "mountain",
    "snow",
    "restaurant",
    "kitchen",
    "food",
    "pizza",
    "cake",
    "coffee",
    "wine",
    "guitar",
    "piano",
    "stage",
    "crowd",
    "ball",
    "football",
    "tennis",
]
PLACES = (
    "outside", "indoors", "at night", "in the city", "by the sea", "in a park", "on a farm", "in a studio",
    "on the road",
)  # fmt: skip
SPEECH = (
    "welcome back to the show", "today we cook a local dish", "the weather turns cold tonight",
    "our team scored again", "the market opens at nine", "this song is about home", "the city council met today",
    "prices keep rising", "a new bridge opens", "the festival starts tomorrow",
)  # fmt: skip
QUERIES = (
    "man talking outside a restaurant", "dog running on the beach", "cars on a busy street at night",
    "someone playing guitar on stage", "children playing football in a park", "a cat sleeping on the couch",
    "cooking pizza in a kitchen", "boats by the sea", "snow on the mountains", "people drinking coffee",
)  # fmt: skip


def phrases(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        words = rng.sample(OBJECTS, rng.randint(1, 3))
        extra = rng.choice(SPEECH) if rng.random() < 0.4 else rng.choice(PLACES)
        out.append(" ".join(words) + ". " + extra)
    return out


def fill(store: SqlSearchStore, assets: int, rng: random.Random, basis: np.ndarray[Any, Any]) -> tuple[int, float]:
    """Insert documents for ``assets`` assets (images: 1; videos: 3 shots and a transcript segment)."""
    began = time.perf_counter()
    nprng = np.random.default_rng(1)
    rows: list[dict[str, Any]] = []
    total = 0
    weights = 1.0 / np.arange(1, len(basis) + 1) ** 0.8
    weights /= weights.sum()
    for index in range(assets):
        count = 4 if index % 3 == 0 else 1
        for doc in range(count):
            picks = nprng.choice(len(basis), size=rng.randint(2, 5), p=weights)
            vector = basis[picks].sum(axis=0) + 0.02 * nprng.standard_normal(basis.shape[1])
            vector = (vector / np.linalg.norm(vector)).astype(np.float32)
            start = None if count == 1 else doc * 10_000
            rows.append(
                {
                    "asset_id": f"asset-{index:07d}",
                    "kind": "shot" if count > 1 else "image",
                    "text": f"document {doc} of asset {index}",
                    "start_ms": start,
                    "end_ms": None if start is None else start + 10_000,
                    "operators": '["labelDetection"]',
                    "lang": None,
                    "vector": vector.tobytes(),
                }
            )
        if len(rows) >= 5000:
            total += len(rows)
            with store.db.write() as conn:
                conn.execute(search_documents.insert(), rows)
            rows = []
    if rows:
        total += len(rows)
        with store.db.write() as conn:
            conn.execute(search_documents.insert(), rows)
    return total, time.perf_counter() - began


def run(
    store: SqlSearchStore, assets: int, queries: int, reuse: bool, report: Callable[[str, list[float]], None]
) -> None:
    """Fill, load, and time the semantic and hybrid queries; print as it goes."""
    rng = random.Random(11)
    embedder = shared_embedder()
    began = time.perf_counter()
    if not embedder.wait(300):
        print(f"semantic: skipped ({embedder.error})")
        return
    print(f"semantic: MiniLM loaded in {time.perf_counter() - began:.1f} s")
    texts = phrases(rng, 400)
    began = time.perf_counter()
    basis = embedder.encode(texts)
    took = time.perf_counter() - began
    print(f"semantic: embedding throughput {len(texts) / took:.0f} documents/s (real MiniLM, batches of 16)")
    if not reuse:
        total, took = fill(store, assets, rng, basis)
        print(f"semantic: stored {total} document vectors in {took:.1f} s")
    indexer = SearchIndexer(store, None, None, embedder=embedder)  # type: ignore[arg-type]
    began = time.perf_counter()
    indexer.vectors.refresh(store)
    loaded = time.perf_counter() - began
    print(f"semantic: {len(indexer.vectors)} vectors in memory")
    began = time.perf_counter()
    indexer.vectors.prepare()
    print(f"semantic: vector index loaded in {loaded:.1f} s, projection fitted in {time.perf_counter() - began:.1f} s")
    exact = VectorIndex(exact_max=10**9)
    exact.refresh(store)
    hits = 0
    for q in QUERIES:
        vector = embedder.encode([q])[0]
        truth = {n.doc_id for n in exact.search(vector, 20)}
        hits += len(truth & {n.doc_id for n in indexer.vectors.search(vector, 20)})
    print(f"semantic: recall@20 of the projected search vs exact: {hits / (20 * len(QUERIES)):.3f}")
    del exact

    def timed(make: Callable[[int], Callable[[], object]]) -> list[float]:
        out = []
        for i in range(queries):
            call = make(i)
            began = time.perf_counter()
            call()
            out.append((time.perf_counter() - began) * 1000)
        return out

    def query(mode: str, q: str) -> Callable[[], object]:
        parsed = parse(q)
        return lambda: search_hybrid.search(indexer, parsed, mode=mode, operator=None, limit=20, offset=0)

    def fresh(i: int) -> str:
        # A query never asked before (the indexer caches query embeddings): a sentence and two more words.
        return f"{QUERIES[i % len(QUERIES)]} {OBJECTS[i % len(OBJECTS)]} {OBJECTS[(i // len(OBJECTS)) % len(OBJECTS)]}"

    report("embed one query (MiniLM)", timed(lambda i: lambda: embedder.encode([fresh(i + 10**6)])))
    report("vector search only, top 100", timed(lambda i: _raw(indexer, embedder, fresh(i))))
    report("semantic query, top 20", timed(lambda i: query("semantic", fresh(i + 1000))))
    report("hybrid query, top 20", timed(lambda i: query("hybrid", fresh(i + 2000))))
    report("hybrid + type:video filter", timed(lambda i: query("hybrid", f"{fresh(i + 3000)} type:video")))
    report("hybrid, repeated query (cached)", timed(lambda i: query("hybrid", QUERIES[i % len(QUERIES)])))


def _raw(indexer: SearchIndexer, embedder: Any, q: str) -> Callable[[], object]:
    vector = embedder.encode([q])[0]
    return lambda: indexer.vectors.search(vector, 100, min_score=0.15)
