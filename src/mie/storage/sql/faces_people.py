"""People across the library on SQL: faces of assets clustered incrementally by nearest centroid.

Clustering happens inside one write transaction that first updates the single ``people_state`` row, so clustering
writes from every server run one after the other (SQLite has one writer anyway; on PostgreSQL the row lock does
it) and see each other's people. A face joins the person whose centroid is nearest within ``max_distance``, else
it starts a new person; centroids are kept as the mean of their faces' embeddings (recomputed from the faces when
faces leave a person, so they never drift).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mie.errors import InvalidError, NotFoundError
from mie.storage.faces import EMBEDDING_DIM, check_embedding
from mie.storage.people import MAX_NAME, AssetFace, NewAssetFace, Person
from mie.storage.sql.db import Database, dumps, loads
from mie.storage.sql.faces_tables import asset_faces, people, people_state

_FACE_COLUMNS = (
    asset_faces.c.face_id,
    asset_faces.c.asset_id,
    asset_faces.c.source,
    asset_faces.c.workflow_id,
    asset_faces.c.timestamp,
    asset_faces.c.bounding_box,
    asset_faces.c.confidence,
    asset_faces.c.person_id,
    asset_faces.c.embedding,
)


def _vector(data: bytes) -> Any:
    import numpy

    return numpy.frombuffer(data, dtype="<f4").astype(numpy.float64)


def _bytes(vector: Any) -> bytes:
    import numpy

    return bytes(numpy.asarray(vector, dtype="<f4").tobytes())


def _missing(person_id: str) -> NotFoundError:
    return NotFoundError(f"Person {person_id} does not exist")


def _check_name(name: str | None) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise InvalidError(f"a person's name is 1 to {MAX_NAME} characters (or null to forget it)")
    return name.strip()


class SqlPeopleStore:
    """:class:`~mie.storage.people.People` on the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # Writes --------------------------------------------------------------------------------------------------

    def _serialise(self, conn: Any) -> None:
        """Take the clustering turn (see the module docstring)."""
        token = uuid.uuid4().hex
        if conn.execute(update(people_state).where(people_state.c.id == 1).values(generation=token)).rowcount:
            return
        try:
            with conn.begin_nested():
                conn.execute(insert(people_state).values(id=1, generation=token))
        except IntegrityError:
            conn.execute(update(people_state).where(people_state.c.id == 1).values(generation=token))

    def _recompute(self, conn: Any, person_ids: Iterable[str], now: float) -> None:
        """Centroids and counts of ``person_ids`` from their faces; unnamed people with no face are deleted."""
        import numpy

        for person_id in set(person_ids):
            rows = conn.execute(select(asset_faces.c.embedding).where(asset_faces.c.person_id == person_id)).all()
            if rows:
                centroid = numpy.mean([_vector(row.embedding) for row in rows], axis=0)
                conn.execute(
                    update(people)
                    .where(people.c.person_id == person_id)
                    .values(centroid=_bytes(centroid), face_count=len(rows), updated=now)
                )
                continue
            named = conn.execute(select(people.c.name).where(people.c.person_id == person_id)).scalar()
            if named is None:
                conn.execute(delete(people).where(people.c.person_id == person_id))
            else:
                conn.execute(update(people).where(people.c.person_id == person_id).values(face_count=0, updated=now))

    def replace_asset_faces(
        self,
        asset_id: str,
        source: str,
        workflow_id: str,
        faces: Sequence[NewAssetFace],
        max_distance: float,
    ) -> list[AssetFace]:
        """Replace ``source``'s faces of the asset and cluster the new ones (one transaction)."""
        import numpy

        for face in faces:
            check_embedding(face.embedding)
        now = time.time()
        stored: list[AssetFace] = []
        with self._db.write() as conn:
            self._serialise(conn)
            where = (asset_faces.c.asset_id == asset_id) & (asset_faces.c.source == source)
            before = {row.person_id for row in conn.execute(select(asset_faces.c.person_id).where(where))}
            conn.execute(delete(asset_faces).where(where))
            # Centroids still count the faces just removed until the end: a re-run's faces (the same ones, mostly)
            # find their people again instead of leaving them empty and starting new ones (ids stay stable).
            rows = conn.execute(select(people.c.person_id, people.c.centroid, people.c.face_count)).all()
            ids = [row.person_id for row in rows]
            counts = [int(row.face_count) for row in rows]
            centroids = (
                numpy.stack([_vector(row.centroid) for row in rows]) if rows else numpy.zeros((0, EMBEDDING_DIM))
            )
            created: set[str] = set()
            changed: set[str] = set()
            for face in faces:
                vector = _vector(face.embedding)
                person_id: str | None = None
                distance = 0.0
                if ids:
                    distances = numpy.linalg.norm(centroids - vector, axis=1)
                    nearest = int(numpy.argmin(distances))
                    if distances[nearest] <= max_distance:
                        person_id, distance = ids[nearest], float(distances[nearest])
                        count = counts[nearest]
                        centroids[nearest] = (centroids[nearest] * count + vector) / (count + 1)
                        counts[nearest] = count + 1
                if person_id is None:
                    person_id = str(uuid.uuid4())
                    ids.append(person_id)
                    counts.append(1)
                    centroids = numpy.vstack([centroids, vector])
                    created.add(person_id)
                changed.add(person_id)
                record = AssetFace(
                    face_id=str(uuid.uuid4()),
                    asset_id=asset_id,
                    source=source,
                    workflow_id=workflow_id,
                    timestamp=face.timestamp,
                    bounding_box=face.bounding_box,
                    confidence=float(face.confidence),
                    person_id=person_id,
                    distance=distance,
                )
                stored.append(record)
            for person_id in created:
                index = ids.index(person_id)
                conn.execute(
                    insert(people).values(
                        person_id=person_id,
                        name=None,
                        centroid=_bytes(centroids[index]),
                        face_count=counts[index],
                        created=now,
                        updated=now,
                    )
                )
            if stored:
                conn.execute(
                    insert(asset_faces),
                    [
                        {
                            "face_id": r.face_id,
                            "asset_id": r.asset_id,
                            "source": r.source,
                            "workflow_id": r.workflow_id,
                            "timestamp": r.timestamp,
                            "bounding_box": dumps(r.bounding_box),
                            "confidence": r.confidence,
                            "embedding": face.embedding,
                            "person_id": r.person_id,
                            "created": now,
                        }
                        for r, face in zip(stored, faces, strict=True)
                    ],
                )
            self._recompute(conn, (changed - created) | {p for p in before if p is not None}, now)
        return stored

    def name_person(self, person_id: str, name: str | None) -> Person:
        """Name (or un-name) a person."""
        name = _check_name(name)
        with self._db.write() as conn:
            if not conn.execute(
                update(people).where(people.c.person_id == person_id).values(name=name, updated=time.time())
            ).rowcount:
                raise _missing(person_id)
        return self.get_person(person_id)

    def merge_people(self, person_id: str, others: Sequence[str]) -> Person:
        """Move the faces of ``others`` to ``person_id``."""
        others = [o for o in dict.fromkeys(others) if o != person_id]
        if not others:
            raise InvalidError("merge needs at least one other person")
        now = time.time()
        with self._db.write() as conn:
            self._serialise(conn)
            found = {
                row.person_id: row.name
                for row in conn.execute(
                    select(people.c.person_id, people.c.name).where(people.c.person_id.in_([person_id, *others]))
                )
            }
            for wanted in (person_id, *others):
                if wanted not in found:
                    raise _missing(wanted)
            conn.execute(update(asset_faces).where(asset_faces.c.person_id.in_(others)).values(person_id=person_id))
            if found[person_id] is None:
                name = next((found[o] for o in others if found[o] is not None), None)
                conn.execute(update(people).where(people.c.person_id == person_id).values(name=name))
            conn.execute(delete(people).where(people.c.person_id.in_(others)))
            self._recompute(conn, [person_id], now)
        return self.get_person(person_id)

    def split_person(self, person_id: str, face_ids: Sequence[str]) -> Person:
        """Move some faces of a person to a new person."""
        wanted = list(dict.fromkeys(face_ids))
        if not wanted:
            raise InvalidError("split needs the FaceIds to move to a new person")
        now = time.time()
        new_id = str(uuid.uuid4())
        with self._db.write() as conn:
            self._serialise(conn)
            if conn.execute(select(people.c.person_id).where(people.c.person_id == person_id)).first() is None:
                raise _missing(person_id)
            owned = {
                row.face_id
                for row in conn.execute(
                    select(asset_faces.c.face_id).where(
                        (asset_faces.c.person_id == person_id) & asset_faces.c.face_id.in_(wanted)
                    )
                )
            }
            strangers = [f for f in wanted if f not in owned]
            if strangers:
                raise InvalidError(f"not faces of person {person_id}: {', '.join(strangers[:10])}")
            conn.execute(
                insert(people).values(
                    person_id=new_id,
                    name=None,
                    centroid=bytes(EMBEDDING_DIM * 4),
                    face_count=0,
                    created=now,
                    updated=now,
                )
            )
            conn.execute(update(asset_faces).where(asset_faces.c.face_id.in_(wanted)).values(person_id=new_id))
            self._recompute(conn, [person_id, new_id], now)
        return self.get_person(new_id)

    def forget_asset(self, asset_id: str) -> int:
        """Drop a deleted asset's faces."""
        with self._db.write() as conn:
            self._serialise(conn)
            before = {
                row.person_id
                for row in conn.execute(select(asset_faces.c.person_id).where(asset_faces.c.asset_id == asset_id))
            }
            gone = int(conn.execute(delete(asset_faces).where(asset_faces.c.asset_id == asset_id)).rowcount)
            self._recompute(conn, (p for p in before if p is not None), time.time())
        return gone

    # Reads ------------------------------------------------------------------------------------------------------

    def _people(self, conn: Any, rows: Sequence[Any]) -> list[Person]:
        ids = [row.person_id for row in rows]
        assets: dict[str, int] = {}
        if ids:
            assets = {
                row.person_id: int(row.n)
                for row in conn.execute(
                    select(asset_faces.c.person_id, func.count(func.distinct(asset_faces.c.asset_id)).label("n"))
                    .where(asset_faces.c.person_id.in_(ids))
                    .group_by(asset_faces.c.person_id)
                )
            }
        return [
            Person(
                person_id=row.person_id,
                name=row.name,
                face_count=int(row.face_count),
                asset_count=assets.get(row.person_id, 0),
                created=float(row.created),
                updated=float(row.updated),
            )
            for row in rows
        ]

    def list_people(
        self, after: str | None = None, limit: int = 100, name: str | None = None
    ) -> tuple[list[Person], str | None]:
        """People in id order."""
        query = select(people).order_by(people.c.person_id).limit(limit + 1)
        if after is not None:
            query = query.where(people.c.person_id > after)
        if name is not None:
            query = query.where(people.c.name == name)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
            found = self._people(conn, rows[:limit])
        return found, (found[-1].person_id if len(rows) > limit else None)

    def get_person(self, person_id: str) -> Person:
        """One person."""
        found = self.people([person_id])
        if person_id not in found:
            raise _missing(person_id)
        return found[person_id]

    def people(self, person_ids: Sequence[str]) -> dict[str, Person]:
        """The known ones of ``person_ids``."""
        wanted = list(dict.fromkeys(person_ids))
        if not wanted:
            return {}
        with self._db.read() as conn:
            rows = conn.execute(select(people).where(people.c.person_id.in_(wanted))).all()
            return {p.person_id: p for p in self._people(conn, rows)}

    def _faces(self, conn: Any, where: Any) -> list[AssetFace]:
        rows = conn.execute(select(*_FACE_COLUMNS).where(where)).all()
        centroids = {
            row.person_id: _vector(row.centroid)
            for row in conn.execute(
                select(people.c.person_id, people.c.centroid).where(
                    people.c.person_id.in_({r.person_id for r in rows if r.person_id})
                )
            )
        }
        import numpy

        found = []
        for row in rows:
            centroid = centroids.get(row.person_id)
            distance = float(numpy.linalg.norm(_vector(row.embedding) - centroid)) if centroid is not None else 0.0
            found.append(
                AssetFace(
                    face_id=row.face_id,
                    asset_id=row.asset_id,
                    source=row.source,
                    workflow_id=row.workflow_id,
                    timestamp=row.timestamp,
                    bounding_box=loads(row.bounding_box),
                    confidence=float(row.confidence),
                    person_id=row.person_id,
                    distance=distance,
                )
            )
        return found

    def asset_faces(self, asset_id: str) -> list[AssetFace]:
        """The asset's faces in time, then position order."""
        with self._db.read() as conn:
            found = self._faces(conn, asset_faces.c.asset_id == asset_id)
        return sorted(
            found, key=lambda f: (f.timestamp or 0, f.bounding_box.get("Left", 0.0), f.bounding_box.get("Top", 0.0))
        )

    def person_faces(self, person_id: str, limit: int = 1000) -> list[AssetFace]:
        """A person's faces, nearest to the centroid first."""
        with self._db.read() as conn:
            found = self._faces(conn, asset_faces.c.person_id == person_id)
        return sorted(found, key=lambda f: f.distance)[:limit]

    def assets_of(self, person_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """Stored results where these people are seen."""
        if not person_ids:
            return []
        with self._db.read() as conn:
            rows = conn.execute(
                select(asset_faces.c.asset_id, asset_faces.c.source, asset_faces.c.workflow_id)
                .where(asset_faces.c.person_id.in_(list(person_ids)))
                .distinct()
            ).all()
        return sorted((row.asset_id, row.source, row.workflow_id) for row in rows)
