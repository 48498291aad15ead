"""``mie.resources``: the one language-code table, and creation that is safe with several servers.

Two servers are two :class:`ServiceResources` over two object stores on the same folder (as two processes sharing
a data directory or a network file system); of concurrent creators of one name exactly one wins, the others get a
409, and the stored record is the winner's.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mie.errors import ConflictError, OperatorError
from mie.resources import ServiceResources
from mie.resources.languages import ISO_639_1_TO_3, ISO_639_3_TO_1, parse_mode, to_639_1, to_639_3
from mie.resources.vocabularies import load_entries, vocabulary_key
from mie.storage.objects import LocalObjectStore

SRC = Path(__file__).resolve().parents[2] / "src" / "mie"
BUCKET = "dataplane"


# The language table --------------------------------------------------------------------------------------------


def test_the_iso_639_table_maps_both_ways() -> None:
    assert to_639_3("en") == "eng"
    assert to_639_3("es") == "spa"
    assert to_639_1("eng") == "en"
    assert to_639_3("xx") == "xx"  # unknown codes pass through, as Apertium's own names do
    # Several 639-1 codes share one Apertium code; the reverse map picks the one Apertium documents.
    assert {to_639_3(c) for c in ("bs", "hr", "sr")} == {"hbs"}
    assert to_639_1("hbs") == "sr"
    assert to_639_1("nob") == "nb"
    for two, three in ISO_639_1_TO_3.items():
        assert len(two) == 2, two
        assert len(three) == 3, three
        assert to_639_3(to_639_1(three)) == three  # every 639-3 code comes back to itself
    assert set(ISO_639_3_TO_1) == set(ISO_639_1_TO_3.values())


def test_apertium_mode_names() -> None:
    pair = parse_mode("spa-eng_US")
    assert pair is not None
    assert pair.describe() == {"SourceLanguageCode": "es", "TargetLanguageCode": "en-US", "Mode": "spa-eng_US"}
    assert parse_mode("eng-spa-morph") is None
    assert parse_mode("eng") is None


def _dict_literals(tree: ast.Module) -> list[ast.Dict]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Dict)]


def test_the_language_table_exists_once() -> None:
    """No module but ``mie.resources.languages`` holds a dict of ISO 639 codes (a second copy drifts)."""
    copies = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "resources" / "languages.py":
            continue
        for node in _dict_literals(ast.parse(path.read_text(encoding="utf-8"))):
            pairs = {
                (k.value, v.value)
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
            }
            if len(pairs & set(ISO_639_1_TO_3.items()) | pairs & set(ISO_639_3_TO_1.items())) >= 5:
                copies.append(f"{path.relative_to(SRC.parent)}:{node.lineno}")
    assert not copies, copies


# Conditional create -------------------------------------------------------------------------------------------


def test_put_if_absent_creates_once(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    assert store.put_bytes_if_absent(BUCKET, "a/b.json", b"first")
    assert not store.put_bytes_if_absent(BUCKET, "a/b.json", b"second")
    assert store.get_bytes(BUCKET, "a/b.json") == b"first"
    assert store.list_keys(BUCKET, "") == ["a/b.json"]
    assert list((tmp_path / ".staging").iterdir()) == []  # no staged copy is left behind
    store.delete(BUCKET, "a/b.json")
    assert store.put_bytes_if_absent(BUCKET, "a/b.json", b"third")
    with pytest.raises(ConflictError):
        store.put_bytes_if_absent(BUCKET, "a", b"a folder of keys")


def _race(tmp_path: Path, create: Callable[[ServiceResources, int], object], threads: int = 8) -> list[int]:
    """Run ``create`` at once from ``threads`` threads over two servers; the indexes that succeeded."""
    servers = [ServiceResources.create(LocalObjectStore(tmp_path / "objects"), BUCKET) for _ in range(2)]
    start = threading.Barrier(threads)
    won: list[int] = []
    failures: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            create(servers[index % 2], index)
        except ConflictError:
            return
        except BaseException as exc:  # reported below
            failures.append(exc)
            return
        won.append(index)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    return won


def test_concurrent_vocabulary_creators_one_wins(tmp_path: Path) -> None:
    def create(resources: ServiceResources, index: int) -> object:
        return resources.vocabularies.create("Shared", "en-US", phrases=[f"Word{'a' * index}"])

    for attempt in range(5):
        won = _race(tmp_path / str(attempt), create)
        assert len(won) == 1, won
        resources = ServiceResources.create(LocalObjectStore(tmp_path / str(attempt) / "objects"), BUCKET)
        assert resources.vocabularies.rows("Shared")[0]["Phrase"] == f"Word{'a' * won[0]}"
        assert [v["VocabularyName"] for v in resources.vocabularies.summaries()] == ["Shared"]


def test_concurrent_parallel_data_creators_one_wins(tmp_path: Path) -> None:
    def create(resources: ServiceResources, index: int) -> object:
        data = f"en,es\nhello {index},hola {index}\n"
        return resources.translate.create_parallel_data("memory", data, fmt="CSV", uri="", description="")

    won = _race(tmp_path, create)
    assert len(won) == 1, won
    resources = ServiceResources.create(LocalObjectStore(tmp_path / "objects"), BUCKET)
    assert resources.translate.get("parallel-data", "memory")["Entries"] == [[f"hello {won[0]}", f"hola {won[0]}"]]
    assert resources.translate.text("parallel-data", "memory") == f"en,es\nhello {won[0]},hola {won[0]}\n"


# The operators' side ------------------------------------------------------------------------------------------


def test_operators_read_what_the_service_stored(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path)
    resources = ServiceResources.create(objects, BUCKET)
    resources.vocabularies.create("Tech", "en-US", phrases=["Kubernetes", "Los-Angeles"])
    entries = load_entries(lambda key: objects.get_bytes(BUCKET, key), "Tech")
    assert [e["Phrase"] for e in entries] == ["Kubernetes", "Los-Angeles"]
    with pytest.raises(OperatorError, match="create_vocabulary"):
        load_entries(lambda key: objects.get_bytes(BUCKET, key), "Missing")
    objects.put_bytes(BUCKET, vocabulary_key("Broken"), b"{not json")
    with pytest.raises(OperatorError, match="damaged"):
        load_entries(lambda key: objects.get_bytes(BUCKET, key), "Broken")
