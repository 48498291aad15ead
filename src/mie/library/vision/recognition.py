"""``faceSearchImage`` / ``faceSearch`` and ``celebrityRecognitionImage`` / ``celebrityRecognition``: the faces of
an image or of every sampled video frame, embedded (:mod:`mie.library.vision.embeddings`) and searched in a face
collection of the engine (``ctx.faces``), in the shapes of Rekognition ``SearchFacesByImage`` / ``GetFaceSearch``
and ``RecognizeCelebrities`` / ``GetCelebrityRecognition``.

There is no celebrity database offline: ``celebrityRecognition`` recognises the people a user enrolled in a
designated collection (configuration ``CollectionId``, default ``celebrities``), each named by the
``ExternalImageId`` it was indexed with. Without that collection, or with nobody in it, it completes with an empty
list. See docs/operators-library/faces.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from mie.errors import NotFoundError
from mie.library.vision._common import (
    EntryPages,
    batches,
    image_input,
    load_image,
    max_items,
    rounded,
    video_frames,
    video_metadata,
)
from mie.library.vision.embeddings import FACE_MODEL_VERSION, embed_faces
from mie.library.vision.faces import DETECT_SIDE
from mie.operators import OperatorContext, OperatorError, operator
from mie.operators.faces import DEFAULT_FACE_MATCH_THRESHOLD, EmbeddedFace, FaceMatch, max_distance, similarity
from mie.types import JSONDict

FACE_SEARCH = "faceSearch"
CELEBRITIES = "celebrityRecognition"
#: The collection ``celebrityRecognition`` reads when the configuration names none.
DEFAULT_CELEBRITY_COLLECTION = "celebrities"
#: Rekognition's default number of matches per face.
DEFAULT_MAX_FACES = 80
#: Two faces of one video are the same ``Person.Index`` within dlib's same-person distance.
SAME_PERSON = 0.6
PAGE_SIZE = 1000
BATCH = 4


def _threshold(ctx: OperatorContext) -> float:
    value = ctx.config("FaceMatchThreshold", DEFAULT_FACE_MATCH_THRESHOLD)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0 <= number <= 100:
        raise OperatorError(f"configuration FaceMatchThreshold must be a number from 0 to 100, not {value!r}")
    return number


def _collection(ctx: OperatorContext, default: str | None) -> str | None:
    """The configured ``CollectionId`` when it exists; None when it does not and a default applies (celebrities:
    nobody enrolled); an operator Error when the configuration names none or a collection that is not there."""
    value = ctx.config("CollectionId", default)
    if not isinstance(value, str) or not value:
        raise OperatorError(f"{ctx.name} needs configuration CollectionId: the face collection to search")
    try:
        ctx.faces.describe_collection(value)
    except NotFoundError as exc:
        if default is not None:
            return None
        raise OperatorError(
            f"{ctx.name}: the face collection {value!r} does not exist (create it with "
            "POST /api/service/rekognition/create_collection or `mie faces create`)"
        ) from exc
    return value


class _Searcher:
    """Searches embedded faces in one collection with the operator's threshold and limit."""

    def __init__(self, ctx: OperatorContext, collection: str | None) -> None:
        self.ctx = ctx
        self.collection = collection
        self.distance = max_distance(_threshold(ctx))
        self.limit = max_items(ctx, "MaxFaces") or DEFAULT_MAX_FACES

    def matches(self, face: EmbeddedFace) -> list[FaceMatch]:
        if self.collection is None or face.embedding is None:
            return []
        try:
            return self.ctx.faces.search(self.collection, face.embedding, self.distance, self.limit)
        except NotFoundError as exc:  # deleted while the operator ran
            raise OperatorError(f"{self.ctx.name}: the face collection {self.collection!r} was deleted") from exc


def _face_matches(matches: list[FaceMatch]) -> list[JSONDict]:
    return [{"Similarity": rounded(similarity(m.distance)), "Face": m.face.rekognition()} for m in matches]


def _compared(detail: JSONDict) -> JSONDict:
    """Rekognition's ``ComparedFace`` from a ``FaceDetail`` (what both have)."""
    return {key: detail[key] for key in ("BoundingBox", "Confidence", "Landmarks") if key in detail}


def _celebrity_id(collection: str, name: str) -> str:
    """A stable ``Id`` per enrolled name (Rekognition's are short opaque strings)."""
    return hashlib.sha256(f"{collection}\x00{name}".encode()).hexdigest()[:12]


def _celebrity(searcher: _Searcher, match: FaceMatch) -> tuple[str, str]:
    name = match.face.external_image_id or match.face.face_id
    return name, _celebrity_id(searcher.collection or "", name)


def _video_faces(ctx: OperatorContext, what: str) -> Iterator[tuple[int, list[EmbeddedFace], JSONDict]]:
    """``(timestamp ms, faces, VideoMetadata)`` of every sampled frame."""
    frames = video_frames(ctx)
    meta = video_metadata(frames)
    for batch in batches(ctx, frames, BATCH, what):
        for frame in batch:
            yield frame.timestamp, embed_faces(load_image(frame.path, DETECT_SIDE)), meta


class _People:
    """``Person.Index`` within one video: a face joins the nearest earlier person within :data:`SAME_PERSON`."""

    def __init__(self) -> None:
        self._centroids: list[Any] = []
        self._counts: list[int] = []

    def index(self, face: EmbeddedFace) -> int:
        import numpy

        vector = numpy.frombuffer(face.embedding or b"", dtype="<f4").astype(numpy.float64)
        if self._centroids:
            distances = [float(numpy.linalg.norm(c - vector)) for c in self._centroids]
            nearest = min(range(len(distances)), key=distances.__getitem__)
            if distances[nearest] <= SAME_PERSON:
                count = self._counts[nearest]
                self._centroids[nearest] = (self._centroids[nearest] * count + vector) / (count + 1)
                self._counts[nearest] = count + 1
                return nearest
        self._centroids.append(vector)
        self._counts.append(1)
        return len(self._centroids) - 1


# Face search -------------------------------------------------------------------------------------------------


@operator(
    "faceSearchImage",
    media_type="Image",
    description="The image's largest face searched in a face collection (CollectionId), as SearchFacesByImage.",
    configuration={
        "CollectionId": "",
        "FaceMatchThreshold": DEFAULT_FACE_MATCH_THRESHOLD,
        "MaxFaces": DEFAULT_MAX_FACES,
    },
    isolation="process",
    timeout=300,
)
def face_search_image(ctx: OperatorContext) -> None:
    """Store ``{"SearchedFaceBoundingBox", "SearchedFaceConfidence", "FaceMatches", "FaceModelVersion"}`` under
    ``faceSearch`` (no searchable face: no ``SearchedFace*`` and no matches)."""
    searcher = _Searcher(ctx, _collection(ctx, None))
    faces = [f for f in embed_faces(load_image(image_input(ctx), DETECT_SIDE)) if f.embedding is not None]
    result: JSONDict = {"FaceMatches": [], "FaceModelVersion": FACE_MODEL_VERSION}
    if faces:
        largest = max(faces, key=lambda f: f.area)
        result["SearchedFaceBoundingBox"] = largest.detail["BoundingBox"]
        result["SearchedFaceConfidence"] = largest.detail["Confidence"]
        result["FaceMatches"] = _face_matches(searcher.matches(largest))
    ctx.save_results(result, operator_name=FACE_SEARCH)


@operator(
    "faceSearch",
    media_type="Video",
    description="Faces of every sampled frame searched in a face collection (CollectionId), as GetFaceSearch.",
    configuration={"CollectionId": "", "FaceMatchThreshold": DEFAULT_FACE_MATCH_THRESHOLD, "FrameRate": 1.0},
    isolation="process",
)
def face_search(ctx: OperatorContext) -> None:
    """Store ``{"Persons": [{"Timestamp", "Person": {"Index", "BoundingBox", "Face"}, "FaceMatches"}]}`` pages
    under ``faceSearch``: every face with at least one match, as GetFaceSearch lists them."""
    searcher = _Searcher(ctx, _collection(ctx, None))
    _video(ctx, FACE_SEARCH, "Persons", "searching faces", lambda ts, face, index: _person(searcher, ts, face, index))


def _person(searcher: _Searcher, timestamp: int, face: EmbeddedFace, index: int) -> JSONDict | None:
    matches = searcher.matches(face)
    if not matches:
        return None
    return {
        "Timestamp": timestamp,
        "Person": {"Index": index, "BoundingBox": face.detail["BoundingBox"], "Face": face.detail},
        "FaceMatches": _face_matches(matches),
    }


def _video(
    ctx: OperatorContext,
    result_name: str,
    key: str,
    what: str,
    entry: Callable[[int, EmbeddedFace, int], JSONDict | None],
) -> None:
    people = _People()
    with ctx.result_pages(operator_name=result_name) as pages:
        entries: EntryPages | None = None
        for timestamp, faces, meta in _video_faces(ctx, what):
            if entries is None:
                entries = EntryPages(pages, key, {"JobStatus": "SUCCEEDED", "VideoMetadata": meta}, PAGE_SIZE)
            for face in faces:
                if face.embedding is None:
                    continue
                found = entry(timestamp, face, people.index(face))
                if found is not None:
                    entries.add(found)
        if entries is not None:
            entries.finish()


# Celebrities (the people enrolled in a collection) ----------------------------------------------------------


@operator(
    "celebrityRecognitionImage",
    media_type="Image",
    description="People enrolled in a face collection (default 'celebrities') recognised in an image, as "
    "RecognizeCelebrities.",
    configuration={"CollectionId": DEFAULT_CELEBRITY_COLLECTION, "FaceMatchThreshold": DEFAULT_FACE_MATCH_THRESHOLD},
    isolation="process",
    timeout=300,
)
def celebrity_recognition_image(ctx: OperatorContext) -> None:
    """Store ``{"CelebrityFaces": [...], "UnrecognizedFaces": [...]}`` under ``celebrityRecognition``."""
    searcher = _Searcher(ctx, _collection(ctx, DEFAULT_CELEBRITY_COLLECTION))
    searcher.limit = 1
    recognised: list[JSONDict] = []
    unrecognised: list[JSONDict] = []
    for face in embed_faces(load_image(image_input(ctx), DETECT_SIDE)):
        best = searcher.matches(face)
        if not best:
            unrecognised.append(_compared(face.detail))
            continue
        name, celebrity_id = _celebrity(searcher, best[0])
        recognised.append(
            {
                "Urls": [],
                "Name": name,
                "Id": celebrity_id,
                "Face": _compared(face.detail),
                "MatchConfidence": rounded(similarity(best[0].distance)),
            }
        )
    ctx.save_results({"CelebrityFaces": recognised, "UnrecognizedFaces": unrecognised}, operator_name=CELEBRITIES)


@operator(
    "celebrityRecognition",
    media_type="Video",
    description="People enrolled in a face collection (default 'celebrities') recognised in every sampled frame, "
    "as GetCelebrityRecognition.",
    configuration={
        "CollectionId": DEFAULT_CELEBRITY_COLLECTION,
        "FaceMatchThreshold": DEFAULT_FACE_MATCH_THRESHOLD,
        "FrameRate": 1.0,
    },
    isolation="process",
)
def celebrity_recognition(ctx: OperatorContext) -> None:
    """Store ``{"Celebrities": [{"Timestamp", "Celebrity": {...}}]}`` pages under ``celebrityRecognition``."""
    searcher = _Searcher(ctx, _collection(ctx, DEFAULT_CELEBRITY_COLLECTION))
    searcher.limit = 1

    def entry(timestamp: int, face: EmbeddedFace, _index: int) -> JSONDict | None:
        best = searcher.matches(face)
        if not best:
            return None
        name, celebrity_id = _celebrity(searcher, best[0])
        return {
            "Timestamp": timestamp,
            "Celebrity": {
                "Urls": [],
                "Name": name,
                "Id": celebrity_id,
                "Confidence": rounded(similarity(best[0].distance)),
                "BoundingBox": face.detail["BoundingBox"],
                "Face": face.detail,
            },
        }

    if searcher.collection is None:
        # Nobody enrolled: an empty result, without decoding a frame.
        with ctx.result_pages(operator_name=CELEBRITIES) as pages:
            pages.add({"JobStatus": "SUCCEEDED", "VideoMetadata": {}, "Celebrities": []})
        return
    _video(ctx, CELEBRITIES, "Celebrities", "recognising people", entry)
