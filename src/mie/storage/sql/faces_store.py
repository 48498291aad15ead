"""Face collections on SQL, searched in memory.

Every write to a collection's faces gives the collection a new ``generation`` token in the same transaction. A
search reads the token (one indexed row); while it is the one this process saw last, the collection's embeddings
are already in memory as one float32 matrix, so a search is one matrix product and a partial sort (about 10 ms for
100,000 faces on one core); when it changed, the matrix is read again. No process lock guards anything but this
process's cache: servers sharing the database each keep their own and see each other's writes by the token.
Writes are conditional (``UPDATE ... WHERE collection_id`` first, then inserts in the same transaction; a
duplicate ``CreateCollection`` fails on the primary key), so concurrent servers cannot corrupt a collection.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from mie.storage.faces import (
    EMBEDDING_DIM,
    CollectionInfo,
    FaceMatch,
    InvalidParameterError,
    NewFace,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    StoredFace,
    check_collection_id,
    check_embedding,
)
from mie.storage.sql.db import Database, dumps, loads
from mie.storage.sql.faces_tables import face_collections, faces

if TYPE_CHECKING:
    import numpy


@dataclass
class _Matrix:
    generation: str
    ids: list[str]
    vectors: numpy.ndarray[Any, Any]
    norms: numpy.ndarray[Any, Any]


def _info(row: Any) -> CollectionInfo:
    return CollectionInfo(
        collection_id=row.collection_id,
        face_model_version=row.face_model_version,
        face_count=int(row.face_count),
        created=float(row.created),
    )


def _face(row: Any) -> StoredFace:
    return StoredFace(
        face_id=row.face_id,
        collection_id=row.collection_id,
        image_id=row.image_id,
        external_image_id=row.external_image_id,
        bounding_box=loads(row.bounding_box),
        confidence=float(row.confidence),
    )


_FACE_COLUMNS = (
    faces.c.face_id,
    faces.c.collection_id,
    faces.c.image_id,
    faces.c.external_image_id,
    faces.c.bounding_box,
    faces.c.confidence,
)


def _missing(collection_id: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"The collection id: {collection_id} does not exist")


class SqlFaceStore:
    """:class:`~mie.storage.faces.FaceCollections` on the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._matrices: dict[str, _Matrix] = {}
        self._lock = threading.Lock()

    # Collections ---------------------------------------------------------------------------------------------

    def create_collection(self, collection_id: str, face_model_version: str) -> CollectionInfo:
        """Create an empty collection (the primary key refuses a second one, from any server)."""
        check_collection_id(collection_id)
        now = time.time()
        try:
            with self._db.write() as conn:
                conn.execute(
                    insert(face_collections).values(
                        collection_id=collection_id,
                        face_model_version=face_model_version,
                        face_count=0,
                        generation=uuid.uuid4().hex,
                        created=now,
                    )
                )
        except IntegrityError as exc:
            raise ResourceAlreadyExistsError(f"The collection id: {collection_id} already exists") from exc
        return CollectionInfo(collection_id, face_model_version, 0, now)

    def describe_collection(self, collection_id: str) -> CollectionInfo:
        """The collection, or :class:`ResourceNotFoundError`."""
        with self._db.read() as conn:
            row = conn.execute(
                select(face_collections).where(face_collections.c.collection_id == collection_id)
            ).first()
        if row is None:
            raise _missing(collection_id)
        return _info(row)

    def list_collections(self, after: str | None = None, limit: int = 1000) -> tuple[list[CollectionInfo], str | None]:
        """Collections in id order."""
        query = select(face_collections).order_by(face_collections.c.collection_id).limit(limit + 1)
        if after is not None:
            query = query.where(face_collections.c.collection_id > after)
        with self._db.read() as conn:
            rows = [_info(row) for row in conn.execute(query)]
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].collection_id
        return rows, None

    def delete_collection(self, collection_id: str) -> None:
        """Delete the collection and its faces."""
        with self._db.write() as conn:
            gone = conn.execute(
                delete(face_collections).where(face_collections.c.collection_id == collection_id)
            ).rowcount
            if not gone:
                raise _missing(collection_id)
            conn.execute(delete(faces).where(faces.c.collection_id == collection_id))
        with self._lock:
            self._matrices.pop(collection_id, None)

    # Faces ------------------------------------------------------------------------------------------------------

    def _touch(self, conn: Any, collection_id: str, added: int) -> None:
        """New generation (and face count) for a collection, or :class:`ResourceNotFoundError`: the row update
        comes first, so the collection is locked (PostgreSQL) and known to exist for the rest of the transaction."""
        changed = conn.execute(
            update(face_collections)
            .where(face_collections.c.collection_id == collection_id)
            .values(generation=uuid.uuid4().hex, face_count=face_collections.c.face_count + added)
        ).rowcount
        if not changed:
            raise _missing(collection_id)

    def index_faces(self, collection_id: str, new_faces: Sequence[NewFace]) -> list[StoredFace]:
        """Add faces, each with a new ``FaceId``."""
        now = time.time()
        stored: list[StoredFace] = []
        rows: list[dict[str, Any]] = []
        for face in new_faces:
            check_embedding(face.embedding)
            record = StoredFace(
                face_id=str(uuid.uuid4()),
                collection_id=collection_id,
                image_id=face.image_id,
                external_image_id=face.external_image_id,
                bounding_box=face.bounding_box,
                confidence=float(face.confidence),
            )
            stored.append(record)
            rows.append(
                {
                    "face_id": record.face_id,
                    "collection_id": collection_id,
                    "image_id": record.image_id,
                    "external_image_id": record.external_image_id,
                    "bounding_box": dumps(record.bounding_box),
                    "confidence": record.confidence,
                    "embedding": face.embedding,
                    "created": now,
                }
            )
        with self._db.write() as conn:
            self._touch(conn, collection_id, len(rows))
            if rows:
                conn.execute(insert(faces), rows)
        return stored

    def list_faces(
        self, collection_id: str, after: str | None = None, limit: int = 1000
    ) -> tuple[list[StoredFace], str | None]:
        """Faces in ``FaceId`` order."""
        query = (
            select(*_FACE_COLUMNS)
            .where(faces.c.collection_id == collection_id)
            .order_by(faces.c.face_id)
            .limit(limit + 1)
        )
        if after is not None:
            query = query.where(faces.c.face_id > after)
        with self._db.read() as conn:
            exists = conn.execute(
                select(face_collections.c.collection_id).where(face_collections.c.collection_id == collection_id)
            ).first()
            if exists is None:
                raise _missing(collection_id)
            found = [_face(row) for row in conn.execute(query)]
        if len(found) > limit:
            return found[:limit], found[limit - 1].face_id
        return found, None

    def delete_faces(self, collection_id: str, face_ids: Sequence[str]) -> list[str]:
        """Delete faces by id; the ids that were there."""
        wanted = list(dict.fromkeys(face_ids))
        with self._db.write() as conn:
            self._touch(conn, collection_id, 0)
            there = [
                row.face_id
                for row in conn.execute(
                    select(faces.c.face_id).where(
                        (faces.c.collection_id == collection_id) & faces.c.face_id.in_(wanted)
                    )
                )
            ]
            if there:
                conn.execute(delete(faces).where((faces.c.collection_id == collection_id) & faces.c.face_id.in_(there)))
                conn.execute(
                    update(face_collections)
                    .where(face_collections.c.collection_id == collection_id)
                    .values(face_count=face_collections.c.face_count - len(there))
                )
        order = {face_id: i for i, face_id in enumerate(wanted)}
        return sorted(there, key=order.__getitem__)

    def face_embedding(self, collection_id: str, face_id: str) -> bytes:
        """A face's stored embedding."""
        with self._db.read() as conn:
            exists = conn.execute(
                select(face_collections.c.collection_id).where(face_collections.c.collection_id == collection_id)
            ).first()
            if exists is None:
                raise _missing(collection_id)
            embedding = conn.execute(
                select(faces.c.embedding).where((faces.c.collection_id == collection_id) & (faces.c.face_id == face_id))
            ).scalar()
        if embedding is None:
            raise InvalidParameterError(f"Face {face_id} is not in collection {collection_id}")
        return bytes(embedding)

    # Search -----------------------------------------------------------------------------------------------------

    def _matrix(self, collection_id: str) -> _Matrix:
        import numpy

        with self._db.read() as conn:
            generation = conn.execute(
                select(face_collections.c.generation).where(face_collections.c.collection_id == collection_id)
            ).scalar()
            if generation is None:
                raise _missing(collection_id)
            with self._lock:
                cached = self._matrices.get(collection_id)
            if cached is not None and cached.generation == generation:
                return cached
            # Read in the same transaction as the token, so the matrix is exactly that generation's.
            rows = conn.execute(
                select(faces.c.face_id, faces.c.embedding)
                .where(faces.c.collection_id == collection_id)
                .order_by(faces.c.face_id)
            ).all()
        ids = [row.face_id for row in rows]
        vectors = numpy.frombuffer(b"".join(row.embedding for row in rows), dtype="<f4").reshape(-1, EMBEDDING_DIM)
        vectors = numpy.ascontiguousarray(vectors, dtype=numpy.float32)
        matrix = _Matrix(str(generation), ids, vectors, numpy.einsum("ij,ij->i", vectors, vectors))
        with self._lock:
            self._matrices[collection_id] = matrix
        return matrix

    def search(self, collection_id: str, embedding: bytes, max_distance: float, limit: int) -> list[FaceMatch]:
        """Nearest faces first: squared distances ``|x|^2 - 2 x.q + |q|^2`` for every face in one product."""
        import numpy

        check_embedding(embedding)
        matrix = self._matrix(collection_id)
        if not matrix.ids or limit <= 0:
            return []
        query = numpy.frombuffer(embedding, dtype="<f4").astype(numpy.float32)
        squared = matrix.norms - 2.0 * (matrix.vectors @ query) + float(query @ query)
        distances = numpy.sqrt(numpy.maximum(squared, 0.0))
        within = numpy.flatnonzero(distances <= max_distance)
        if within.size > limit:
            within = within[numpy.argpartition(distances[within], limit - 1)[:limit]]
        nearest = within[numpy.argsort(distances[within], kind="stable")]
        if nearest.size == 0:
            return []
        chosen = {matrix.ids[i]: float(distances[i]) for i in nearest}
        with self._db.read() as conn:
            rows = conn.execute(select(*_FACE_COLUMNS).where(faces.c.face_id.in_(list(chosen)))).all()
        found = {row.face_id: _face(row) for row in rows}
        # A face deleted since the matrix was read is simply not returned.
        return [FaceMatch(found[face_id], distance) for face_id, distance in chosen.items() if face_id in found]
