"""Media index and full-text search benchmark: index N synthetic assets, then time label and full-text queries.

Usage::

    .venv/bin/python bench/bench_search.py [--assets 100000] [--queries 500] [--database-url URL]

Migrates a fresh database (SQLite in a temporary directory unless ``--database-url`` names PostgreSQL), then feeds
the store the index changes the consumer would derive from N assets: each asset is an image or a video with a file
name, 4-12 labels drawn from a skewed vocabulary (some labels are on most assets, some on few), on-screen text, and
(videos) two transcript sentences with word timings. Indexing goes through ``SearchStore.apply`` in batches, as the
consumer does. Then it runs each kind of query ``--queries`` times with varying arguments and prints p50/p95/max
latency (ms): media listing by label / label + type / name prefix / first page, ``get`` by name, and full-text
queries for a frequent word, a rare word, a phrase, a prefix and a word with an operator filter. With
``--semantic`` (needs the ``search`` extra) it then stores document vectors for the same assets and times semantic
and hybrid queries (``bench/bench_semantic.py``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mie.storage.search import MediaQuery, PutAsset, PutResult, SearchQuery, Segment
from mie.storage.sql.db import Database
from mie.storage.sql.search_store import open_search_store

CONSUMER = "bench"
BATCH = 500


def vocabulary(rng: random.Random, size: int) -> list[str]:
    """Pronounceable made-up words, distinct."""
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < size:
        length = rng.randint(2, 4)
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(length)))
    return sorted(words)


def skewed(rng: random.Random, items: list[str]) -> str:
    """An item with a Zipf-like bias to the front of the list."""
    return items[min(int(rng.paretovariate(1.2)) - 1, len(items) - 1)]


def synthetic_asset(rng: random.Random, index: int, labels: list[str], words: list[str]) -> list[object]:
    asset_id = f"asset-{index:07d}"
    kind = "video" if index % 3 == 0 else "image"
    name = f"{rng.choice(words)}_{index}.{'mp4' if kind == 'video' else 'jpg'}"
    chosen = list(dict.fromkeys(skewed(rng, labels) for _ in range(rng.randint(4, 12))))
    changes: list[object] = [
        PutAsset(asset_id, name, kind, 1.7e9 + index),
        PutResult(asset_id, "FileName", (Segment("filename", name.replace("_", " ").replace(".", " ")),)),
    ]
    if kind == "image":
        changes.append(PutResult(asset_id, "labelDetection", (Segment("label", ", ".join(chosen)),), tuple(chosen)))
        shown = " ".join(rng.choice(words) for _ in range(3)).upper()
        changes.append(PutResult(asset_id, "textDetection", (Segment("text", shown),)))
        return changes
    segments = tuple(Segment("label", label, 1000 * i, 1000 * i + 4000) for i, label in enumerate(chosen))
    changes.append(PutResult(asset_id, "labelDetection", segments, tuple(chosen)))
    sentences = []
    for part in range(2):
        spoken = [skewed(rng, words) for _ in range(12)]
        start = 10_000 * part
        timed = tuple((w, start + 400 * i, start + 400 * i + 350) for i, w in enumerate(spoken))
        sentences.append(Segment("transcript", " ".join(spoken), timed[0][1], timed[-1][2], timed))
    changes.append(PutResult(asset_id, "TranscribeVideo", tuple(sentences)))
    return changes


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   max {ordered[-1]:7.2f} ms"


def timed(runs: int, make: Callable[[int], Callable[[], object]]) -> list[float]:
    out = []
    for i in range(runs):
        call = make(i)
        began = time.perf_counter()
        call()
        out.append((time.perf_counter() - began) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", "-n", type=int, default=100_000)
    parser.add_argument("--queries", "-q", type=int, default=500)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temporary directory")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--semantic", action="store_true", help="also time semantic and hybrid queries")
    parser.add_argument("--reuse", action="store_true", help="the database already holds the assets: only query")
    args = parser.parse_args(argv)

    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='mie-bench-search-')) / 'mie.db'}"
    db = Database(url)
    db.migrate()
    store = open_search_store(db)
    rng = random.Random(args.seed)
    labels = [w.capitalize() for w in vocabulary(rng, 300)]
    words = vocabulary(rng, 5000)

    began = time.perf_counter()
    pending: list[object] = []
    for index in range(0 if args.reuse else args.assets):
        pending += synthetic_asset(rng, index, labels, words)
        if len(pending) >= BATCH:
            store.apply(CONSUMER, pending, index)  # type: ignore[arg-type]
            pending = []
    store.apply(CONSUMER, pending, args.assets)  # type: ignore[arg-type]
    took = max(time.perf_counter() - began, 1e-9)
    stats = store.stats(CONSUMER)
    print(f"{store.backend}: indexed {args.assets} assets ({stats.segments} segments) in {took:.1f} s "
          f"({args.assets / took:.0f} assets/s)")  # fmt: skip
    if args.reuse:
        pass
    elif db.is_sqlite:
        with db.write() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("INSERT INTO search_fts(search_fts) VALUES('optimize')")
    else:
        with db.write() as conn:
            conn.exec_driver_sql("ANALYZE")

    n = args.queries
    frequent, rare = labels[:5], labels[-50:]

    def listing(**filters: object) -> Callable[[], object]:
        return lambda: store.list_media(MediaQuery(**filters), limit=100)  # type: ignore[arg-type]

    def full_text(*terms: tuple[str, bool], **filters: str) -> Callable[[], object]:
        return lambda: store.search(SearchQuery(terms, **filters), limit=20)

    cases: list[tuple[str, Callable[[int], Callable[[], object]]]] = [
        ("media: label (frequent), page 100", lambda i: listing(label=frequent[i % 5])),
        ("media: label (rare), page 100", lambda i: listing(label=rare[i % 50])),
        ("media: label + media-type", lambda i: listing(label=frequent[i % 5], media_type="video")),
        ("media: startswith + label", lambda i: listing(startswith=words[i][:2], label=frequent[i % 5])),
        ("media: startswith", lambda i: listing(startswith=words[i % len(words)][:3])),
        ("media: first page, no filter", lambda i: listing()),
        ("media: get by name", lambda i: lambda: store.get_media(f"{words[0]}_{i}.jpg")),
        ("search: frequent word, top 20", lambda i: full_text((words[i % 3], False))),
        ("search: rare word, top 20", lambda i: full_text((words[-1 - i % 500], False))),
        ("search: label word, top 20", lambda i: full_text((rare[i % 50], False))),
        ("search: two words", lambda i: full_text((words[i % 50], False), (words[1 + i % 50], False))),
        ("search: phrase", lambda i: full_text((f"{words[i % 20]} {words[i % 7]}", False))),
        ("search: prefix", lambda i: full_text((words[100 + i % 900][:4], True))),
        ("search: word + operator", lambda i: full_text((words[i % 50], False), operator="TranscribeVideo")),
        ("search: word + media-type", lambda i: full_text((words[i % 50], False), media_type="image")),
    ]
    for label, make in cases:
        print(f"{label:36s} {percentiles(timed(n, make))}")
    if args.semantic:
        import bench_semantic

        bench_semantic.run(
            store, args.assets, n, args.reuse, lambda label, samples: print(f"{label:36s} {percentiles(samples)}")
        )
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
