"""The SQL face store: Rekognition's collection rules and errors, faces in and out, search by one matrix product,
two servers on one database seeing each other's writes, and the time of a search over 100,000 faces."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from mie.storage.faces import (  # noqa: E402
    EMBEDDING_DIM,
    InvalidParameterError,
    NewFace,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
)
from mie.storage.sql.db import Database  # noqa: E402
from mie.storage.sql.faces_store import SqlFaceStore  # noqa: E402

BOX = {"Width": 0.2, "Height": 0.2, "Left": 0.1, "Top": 0.1}
MODEL = "test-model"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'mie.db'}")
    database.migrate()
    yield database
    database.dispose()


def _vectors(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(count, EMBEDDING_DIM)).astype(np.float32)
    return values / np.linalg.norm(values, axis=1, keepdims=True) * 0.6


def _new(vector: np.ndarray, external: str | None = None, image: str = "img-1") -> NewFace:
    return NewFace(vector.astype("<f4").tobytes(), BOX, 99.0, image, external)


def test_collections_follow_rekognitions_rules(db: Database) -> None:
    store = SqlFaceStore(db)
    info = store.create_collection("my.faces-1_x", MODEL)
    assert (info.collection_id, info.face_count, info.face_model_version) == ("my.faces-1_x", 0, MODEL)
    with pytest.raises(ResourceAlreadyExistsError) as exists:
        store.create_collection("my.faces-1_x", MODEL)
    assert (exists.value.status_code, exists.value.code) == (409, "ResourceAlreadyExistsException")
    for bad in ("", "has space", "slash/", "x" * 256, "ünï"):
        with pytest.raises(InvalidParameterError):
            store.create_collection(bad, MODEL)
    store.create_collection("a", MODEL)
    store.create_collection("b", MODEL)
    page, after = store.list_collections(limit=2)
    assert [c.collection_id for c in page] == ["a", "b"]
    rest, end = store.list_collections(after=after, limit=2)
    assert ([c.collection_id for c in rest], end) == (["my.faces-1_x"], None)
    store.delete_collection("a")
    with pytest.raises(ResourceNotFoundError) as missing:
        store.delete_collection("a")
    assert (missing.value.status_code, missing.value.code) == (404, "ResourceNotFoundException")
    for call in (store.describe_collection, store.list_faces):
        with pytest.raises(ResourceNotFoundError):
            call("a")
    with pytest.raises(ResourceNotFoundError):
        store.index_faces("a", [_new(_vectors(1)[0])])


def test_index_list_search_and_delete_faces(db: Database) -> None:
    store = SqlFaceStore(db)
    store.create_collection("people", MODEL)
    assert store.search("people", _vectors(1)[0].astype("<f4").tobytes(), 10.0, 5) == []  # empty: no matches
    vectors = _vectors(5)
    stored = store.index_faces("people", [_new(v, f"person-{i}") for i, v in enumerate(vectors)])
    assert store.describe_collection("people").face_count == 5
    listed, after = store.list_faces("people", limit=3)
    assert len(listed) == 3
    assert after == listed[-1].face_id
    more, end = store.list_faces("people", after=after)
    assert (len(more), end) == (2, None)
    assert {f.face_id for f in listed + more} == {f.face_id for f in stored}

    # A slightly changed copy of face 3 finds face 3 first, then nothing else within the distance.
    probe = vectors[3] + np.float32(0.01)
    matches = store.search("people", probe.astype("<f4").tobytes(), 0.5, 10)
    assert [m.face.external_image_id for m in matches] == ["person-3"]
    assert matches[0].distance == pytest.approx(float(np.linalg.norm(probe - vectors[3])), abs=1e-4)
    assert matches[0].face.rekognition()["BoundingBox"] == BOX
    everything = store.search("people", probe.astype("<f4").tobytes(), 100.0, 3)
    assert len(everything) == 3
    assert [m.distance for m in everything] == sorted(m.distance for m in everything)

    deleted = store.delete_faces("people", [stored[3].face_id, "no-such-face"])
    assert deleted == [stored[3].face_id]
    assert store.describe_collection("people").face_count == 4
    assert store.search("people", probe.astype("<f4").tobytes(), 0.5, 10) == []
    with pytest.raises(InvalidParameterError):
        store.search("people", b"short", 1.0, 1)


def test_two_servers_on_one_database_see_each_others_writes(db: Database) -> None:
    first, second = SqlFaceStore(db), SqlFaceStore(db)
    first.create_collection("shared", MODEL)
    vectors = _vectors(3, seed=7)
    first.index_faces("shared", [_new(vectors[0], "zero")])
    probe = vectors[1].astype("<f4").tobytes()
    assert second.search("shared", probe, 0.1, 1) == []  # second server caches the one-face matrix
    first.index_faces("shared", [_new(vectors[1], "one")])
    assert [m.face.external_image_id for m in second.search("shared", probe, 0.1, 1)] == ["one"]
    # Deleted and created again: the cached matrix of the old collection is not reused.
    first.delete_collection("shared")
    first.create_collection("shared", MODEL)
    assert second.search("shared", probe, 0.1, 1) == []


def test_search_over_100000_faces(db: Database) -> None:
    store = SqlFaceStore(db)
    store.create_collection("big", MODEL)
    vectors = _vectors(100_000, seed=3)
    for start in range(0, len(vectors), 10_000):
        store.index_faces("big", [_new(v, image=f"img-{start}") for v in vectors[start : start + 10_000]])
    probe = (vectors[12345] + np.float32(0.005)).astype("<f4").tobytes()
    began = time.perf_counter()
    first = store.search("big", probe, 0.6, 10)  # reads the matrix
    loaded = time.perf_counter() - began
    timings = []
    for _ in range(20):
        began = time.perf_counter()
        matches = store.search("big", probe, 0.6, 10)
        timings.append(time.perf_counter() - began)
    assert matches[0].face.face_id == first[0].face.face_id
    assert matches[0].distance < 0.1
    print(f"\n100,000 faces: first search (reads the matrix) {loaded * 1000:.0f} ms, then median "
          f"{sorted(timings)[10] * 1000:.1f} ms a search")  # fmt: skip
