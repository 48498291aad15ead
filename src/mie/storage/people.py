"""The people store interface: the faces of every asset, clustered into people across the library.

An operator hands over the faces it found on an asset (:meth:`People.replace_asset_faces`): they replace the faces
the same operator stored for that asset before (a re-run never duplicates), and each joins the person whose mean
embedding (centroid) is nearest within a distance, or starts a new person. People can then be named, merged and
split (``/api/people``, ``mie people``). Face embeddings are 128 float32 values, as in ``mie.storage.faces``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mie.types import JSONDict

#: Longest person name.
MAX_NAME = 255


@dataclass(frozen=True)
class Person:
    """A person: an optional name, how many faces and assets they are seen in."""

    person_id: str
    name: str | None
    face_count: int
    asset_count: int
    created: float
    updated: float

    def record(self) -> JSONDict:
        """The person as the API shows it."""
        return {
            "PersonId": self.person_id,
            "Name": self.name,
            "FaceCount": self.face_count,
            "AssetCount": self.asset_count,
            "Created": self.created,
            "Updated": self.updated,
        }


@dataclass(frozen=True)
class NewAssetFace:
    """A face found on an asset (``timestamp``: milliseconds into a video; None for an image)."""

    embedding: bytes
    bounding_box: JSONDict
    confidence: float
    timestamp: int | None = None


@dataclass(frozen=True)
class AssetFace:
    """A stored face of an asset, the person it belongs to, and how close it is to that person's centroid."""

    face_id: str
    asset_id: str
    source: str
    workflow_id: str
    timestamp: int | None
    bounding_box: JSONDict
    confidence: float
    person_id: str | None
    #: Euclidean distance between the face's embedding and its person's centroid.
    distance: float = 0.0


class People(Protocol):
    """People across the library. Safe to share between threads, and between servers on one database."""

    def replace_asset_faces(
        self,
        asset_id: str,
        source: str,
        workflow_id: str,
        faces: Sequence[NewAssetFace],
        max_distance: float,
    ) -> list[AssetFace]:
        """Replace the faces ``source`` stored for the asset, clustering the new ones into people."""
        ...

    def asset_faces(self, asset_id: str) -> list[AssetFace]:
        """The asset's faces (every source), in time and position order."""
        ...

    def list_people(
        self, after: str | None = None, limit: int = 100, name: str | None = None
    ) -> tuple[list[Person], str | None]:
        """People in id order (``name``: only those of that exact name)."""
        ...

    def get_person(self, person_id: str) -> Person:
        """One person; ``NotFoundError`` when unknown."""
        ...

    def people(self, person_ids: Sequence[str]) -> dict[str, Person]:
        """The known ones of ``person_ids``."""
        ...

    def person_faces(self, person_id: str, limit: int = 1000) -> list[AssetFace]:
        """A person's faces (nearest to the centroid first)."""
        ...

    def name_person(self, person_id: str, name: str | None) -> Person:
        """Name a person (None: forget the name)."""
        ...

    def merge_people(self, person_id: str, others: Sequence[str]) -> Person:
        """Move every face of ``others`` to ``person_id`` and delete them (the name is kept, or taken from them)."""
        ...

    def split_person(self, person_id: str, face_ids: Sequence[str]) -> Person:
        """Move ``face_ids`` of a person to a new, unnamed person."""
        ...

    def assets_of(self, person_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """``(asset_id, source, workflow_id)`` of every stored result where any of these people is seen."""
        ...

    def forget_asset(self, asset_id: str) -> int:
        """Drop every face of a deleted asset (people left with no face and no name go too)."""
        ...
