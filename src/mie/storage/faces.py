"""The face store interface: Rekognition-style face collections (``CreateCollection``, ``IndexFaces``,
``SearchFacesByImage``...) holding 128-d face embeddings.

A face is stored with its embedding as 128 float32 values (512 bytes, little-endian) and what Rekognition returns
about it (``FaceId``, ``ImageId``, ``ExternalImageId``, ``BoundingBox``, ``Confidence``). Search is Euclidean
distance between embeddings: the implementation keeps each collection's embeddings as one matrix in memory, so one
search is one matrix product (``mie.storage.sql.faces_store``). Converting a distance into Rekognition's
``Similarity`` is the face model's business (``mie.operators.faces``), not the store's.

Errors are Rekognition's, in the project's error tree: :class:`ResourceNotFoundError` (404),
:class:`ResourceAlreadyExistsError` (409), :class:`InvalidParameterError` (400).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mie.errors import ConflictError, InvalidError, NotFoundError
from mie.types import JSONDict

#: Rekognition's rule for a ``CollectionId``.
COLLECTION_ID = re.compile(r"^[a-zA-Z0-9_.\-]+$")
MAX_COLLECTION_ID = 255
#: Rekognition's rule for an ``ExternalImageId``.
EXTERNAL_IMAGE_ID = re.compile(r"^[a-zA-Z0-9_.\-:]+$")
MAX_EXTERNAL_IMAGE_ID = 255
#: Values in one embedding.
EMBEDDING_DIM = 128
#: Bytes of one stored embedding (float32).
EMBEDDING_BYTES = EMBEDDING_DIM * 4


class ResourceNotFoundError(NotFoundError):
    """Rekognition's ``ResourceNotFoundException``: no such collection (HTTP 404)."""

    code = "ResourceNotFoundException"


class ResourceAlreadyExistsError(ConflictError):
    """Rekognition's ``ResourceAlreadyExistsException``: the collection exists already (HTTP 409)."""

    code = "ResourceAlreadyExistsException"


class InvalidParameterError(InvalidError):
    """Rekognition's ``InvalidParameterException`` (HTTP 400)."""

    code = "InvalidParameterException"


def check_collection_id(value: object) -> str:
    """``value`` when it is a valid ``CollectionId``, else :class:`InvalidParameterError`."""
    if not isinstance(value, str) or not value:
        raise InvalidParameterError("CollectionId must be a non-empty string")
    if len(value) > MAX_COLLECTION_ID or not COLLECTION_ID.match(value):
        raise InvalidParameterError(
            f"CollectionId {value[:80]!r} is not valid: 1 to {MAX_COLLECTION_ID} of a-z, A-Z, 0-9, '_', '.', '-'"
        )
    return value


def check_external_image_id(value: object) -> str | None:
    """``value`` when it is a valid ``ExternalImageId`` (None stays None), else :class:`InvalidParameterError`."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidParameterError("ExternalImageId must be a non-empty string")
    if len(value) > MAX_EXTERNAL_IMAGE_ID or not EXTERNAL_IMAGE_ID.match(value):
        raise InvalidParameterError(
            f"ExternalImageId {value[:80]!r} is not valid: 1 to {MAX_EXTERNAL_IMAGE_ID} of a-z, A-Z, 0-9, "
            "'_', '.', '-', ':'"
        )
    return value


def check_embedding(embedding: bytes) -> bytes:
    """``embedding`` when it has the size of a stored one."""
    if not isinstance(embedding, bytes) or len(embedding) != EMBEDDING_BYTES:
        raise InvalidParameterError(f"a face embedding is {EMBEDDING_BYTES} bytes ({EMBEDDING_DIM} float32 values)")
    return embedding


@dataclass(frozen=True)
class CollectionInfo:
    """What ``DescribeCollection`` tells about a collection."""

    collection_id: str
    face_model_version: str
    face_count: int
    created: float


@dataclass(frozen=True)
class NewFace:
    """A face to index: its embedding and what Rekognition keeps with it."""

    embedding: bytes
    bounding_box: JSONDict
    confidence: float
    image_id: str
    external_image_id: str | None = None


@dataclass(frozen=True)
class StoredFace:
    """A face of a collection."""

    face_id: str
    collection_id: str
    image_id: str
    external_image_id: str | None
    bounding_box: JSONDict
    confidence: float

    def rekognition(self) -> JSONDict:
        """Rekognition's ``Face`` object."""
        face: JSONDict = {
            "FaceId": self.face_id,
            "BoundingBox": self.bounding_box,
            "ImageId": self.image_id,
            "Confidence": self.confidence,
        }
        if self.external_image_id is not None:
            face["ExternalImageId"] = self.external_image_id
        return face


@dataclass(frozen=True)
class FaceMatch:
    """A face found by a search, with its Euclidean distance to the searched embedding (0: identical)."""

    face: StoredFace
    distance: float


class FaceCollections(Protocol):
    """Face collections and their faces. Safe to share between threads, and between servers on one database."""

    def create_collection(self, collection_id: str, face_model_version: str) -> CollectionInfo:
        """Create an empty collection; :class:`ResourceAlreadyExistsError` when it exists."""
        ...

    def describe_collection(self, collection_id: str) -> CollectionInfo:
        """The collection; :class:`ResourceNotFoundError` when there is none."""
        ...

    def list_collections(self, after: str | None = None, limit: int = 1000) -> tuple[list[CollectionInfo], str | None]:
        """Collections in id order after ``after``, and the id to continue after (None: no more)."""
        ...

    def delete_collection(self, collection_id: str) -> None:
        """Delete a collection and its faces; :class:`ResourceNotFoundError` when there is none."""
        ...

    def index_faces(self, collection_id: str, faces: Sequence[NewFace]) -> list[StoredFace]:
        """Add faces (each gets a new ``FaceId``) in one transaction."""
        ...

    def list_faces(
        self, collection_id: str, after: str | None = None, limit: int = 1000
    ) -> tuple[list[StoredFace], str | None]:
        """Faces in ``FaceId`` order after ``after``, and the id to continue after."""
        ...

    def delete_faces(self, collection_id: str, face_ids: Sequence[str]) -> list[str]:
        """Delete faces by id; the ids that were deleted (unknown ones are left out)."""
        ...

    def face_embedding(self, collection_id: str, face_id: str) -> bytes:
        """The stored embedding of a face; :class:`InvalidParameterError` when the collection has no such face."""
        ...

    def search(self, collection_id: str, embedding: bytes, max_distance: float, limit: int) -> list[FaceMatch]:
        """The at most ``limit`` faces nearest to ``embedding`` within ``max_distance``, nearest first."""
        ...
