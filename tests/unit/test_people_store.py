"""People clustering in the SQL store, on synthetic embeddings: nearest centroid within the distance joins, re-runs
replace (never duplicate) and keep person ids, naming, merging and splitting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("numpy")

import numpy as np

from mie.errors import InvalidError, NotFoundError
from mie.storage.faces import EMBEDDING_DIM
from mie.storage.people import NewAssetFace
from mie.storage.sql.db import Database
from mie.storage.sql.faces_people import SqlPeopleStore

BOX = {"Width": 0.2, "Height": 0.2, "Left": 0.1, "Top": 0.1}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlPeopleStore]:
    db = Database(f"sqlite:///{tmp_path / 'mie.db'}")
    db.migrate()
    yield SqlPeopleStore(db)
    db.dispose()


def _person(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=EMBEDDING_DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)  # two people ~1.4 apart


def _face(vector: np.ndarray, jitter: float = 0.0, seed: int = 0, timestamp: int | None = None) -> NewAssetFace:
    noise = np.random.default_rng(seed + 1000).normal(size=EMBEDDING_DIM).astype(np.float32)
    moved = vector + jitter * noise / np.linalg.norm(noise)
    return NewAssetFace(moved.astype("<f4").tobytes(), BOX, 99.0, timestamp)


def test_faces_cluster_into_people_and_reruns_replace(store: SqlPeopleStore) -> None:
    alice, bob = _person(1), _person(2)
    first = store.replace_asset_faces("a1", "op", "wf1", [_face(alice, 0.2, 1), _face(bob, 0.2, 2)], 0.6)
    second = store.replace_asset_faces("a2", "op", "wf2", [_face(alice, 0.25, 3)], 0.6)
    assert second[0].person_id == first[0].person_id
    assert first[1].person_id != first[0].person_id
    people, _ = store.list_people()
    assert sorted(p.face_count for p in people) == [1, 2]
    alice_id = first[0].person_id
    assert alice_id is not None
    assert store.get_person(alice_id).asset_count == 2

    # The same task again (at-least-once): the asset's faces are replaced, people keep their ids.
    again = store.replace_asset_faces("a1", "op", "wf1", [_face(alice, 0.2, 1), _face(bob, 0.2, 2)], 0.6)
    assert [f.person_id for f in again] == [f.person_id for f in first]
    assert len(store.asset_faces("a1")) == 2
    assert store.get_person(alice_id).face_count == 2
    # Another operator's faces of the same asset are kept apart.
    store.replace_asset_faces("a1", "other", "wf3", [_face(bob, 0.1, 5)], 0.6)
    assert len(store.asset_faces("a1")) == 3
    # A re-run that finds nobody removes the faces, and the unnamed person seen nowhere else.
    store.replace_asset_faces("a1", "other", "wf3", [], 0.6)
    store.replace_asset_faces("a1", "op", "wf1", [_face(alice, 0.2, 1)], 0.6)
    assert [p.person_id for p in store.list_people()[0]] == [alice_id]


def test_name_merge_split(store: SqlPeopleStore) -> None:
    alice, bob = _person(1), _person(2)
    (a,) = store.replace_asset_faces("a1", "op", "wf", [_face(alice, 0.1, 1)], 0.6)
    (b,) = store.replace_asset_faces("a2", "op", "wf", [_face(bob, 0.1, 2)], 0.6)
    assert a.person_id is not None
    assert b.person_id is not None
    assert store.name_person(a.person_id, "  Alice ").name == "Alice"
    assert [p.person_id for p in store.list_people(name="Alice")[0]] == [a.person_id]
    with pytest.raises(InvalidError):
        store.name_person(a.person_id, "")
    with pytest.raises(NotFoundError):
        store.name_person("nobody", "x")

    merged = store.merge_people(a.person_id, [b.person_id])
    assert (merged.name, merged.face_count, merged.asset_count) == ("Alice", 2, 2)
    with pytest.raises(NotFoundError):
        store.get_person(b.person_id)
    assert store.assets_of([a.person_id]) == [("a1", "op", "wf"), ("a2", "op", "wf")]

    split = store.split_person(a.person_id, [b.face_id])
    assert (split.name, split.face_count) == (None, 1)
    assert store.get_person(a.person_id).face_count == 1
    with pytest.raises(InvalidError):
        store.split_person(a.person_id, [b.face_id])  # no longer Alice's
    # Bob's next face joins the split-off person (its centroid is Bob's again).
    (later,) = store.replace_asset_faces("a3", "op", "wf", [_face(bob, 0.2, 9)], 0.6)
    assert later.person_id == split.person_id
    assert store.forget_asset("a3") == 1
