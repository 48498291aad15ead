"""Faces in the operator SDK: what an operator (and the API) needs to embed faces and search face collections.

- :class:`FaceEmbedder`: finds the faces of an image and computes each one's 128-d embedding (the implementation
  is dlib's ResNet in ``mie.library.vision.embeddings``; the composition root hands it to the API).
- ``ctx.faces`` (:class:`~mie.storage.faces.FaceCollections`): the engine's face collections.
- ``ctx.people`` (:class:`~mie.storage.people.People`): the faces of every asset, clustered into people, and
  :func:`people_result`, the stored result that names them.
- :func:`similarity` / :func:`max_distance`: Rekognition's ``Similarity`` (0-100) from an embedding distance.

The mapping is a logistic curve calibrated on dlib's model: its author's same-person threshold, distance 0.6, is
``Similarity`` 80, which is Rekognition's default ``FaceMatchThreshold``; 0.7 is 50 and 0.8 is 20. Measured
(``shared/reference/offline-models-2.md``): two different photographs of one person 0.35 (99), one person across
video frames 0.38-0.57 (99-86), two different people 0.65-0.90 (67-6).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from mie.storage.faces import FaceCollections, FaceMatch, StoredFace
from mie.storage.people import AssetFace, NewAssetFace, People
from mie.types import JSONDict

__all__ = [
    "DEFAULT_FACE_MATCH_THRESHOLD",
    "SAME_PERSON_DISTANCE",
    "AssetFace",
    "EmbeddedFace",
    "FaceCollections",
    "FaceEmbedder",
    "FaceMatch",
    "NewAssetFace",
    "People",
    "StoredFace",
    "max_distance",
    "people_result",
    "similarity",
]

#: Rekognition's default ``FaceMatchThreshold`` (= distance :data:`SAME_PERSON_DISTANCE`).
DEFAULT_FACE_MATCH_THRESHOLD = 80.0
#: dlib's same-person distance.
SAME_PERSON_DISTANCE = 0.6
#: Distance at which Similarity is 50, and the curve's scale (distance per e-fold).
_MIDPOINT = 0.7
_SCALE = 0.1 / math.log(4.0)


def similarity(distance: float) -> float:
    """Rekognition ``Similarity`` (0-100) for a Euclidean embedding distance."""
    exponent = (float(distance) - _MIDPOINT) / _SCALE
    if exponent > 700:
        return 0.0
    return 100.0 / (1.0 + math.exp(exponent))


def max_distance(threshold: float) -> float:
    """The largest distance whose :func:`similarity` is at least ``threshold`` (0-100)."""
    threshold = min(max(float(threshold), 0.0), 100.0)
    if threshold <= 0:
        return math.inf
    if threshold >= 100:
        return 0.0
    return _MIDPOINT + _SCALE * math.log(100.0 / threshold - 1.0)


@dataclass(frozen=True)
class EmbeddedFace:
    """A face found on an image: Rekognition's ``FaceDetail`` (``BoundingBox``, ``Confidence``, ``Landmarks``) and
    its embedding (128 float32 values as bytes), or None with the Rekognition ``UnindexedFaces`` reason
    (``SMALL_BOUNDING_BOX``) when the face cannot be embedded."""

    detail: JSONDict
    embedding: bytes | None
    reason: str | None = None

    @property
    def area(self) -> float:
        """The face box's share of the image (Rekognition keeps the largest faces first)."""
        bounding = self.detail.get("BoundingBox") or {}
        return float(bounding.get("Width", 0.0)) * float(bounding.get("Height", 0.0))


class FaceEmbedder(Protocol):
    """Finds faces and embeds them."""

    #: ``FaceModelVersion`` reported by collections made with this model.
    face_model_version: str

    def embed_image_bytes(self, data: bytes, filename: str = "image") -> list[EmbeddedFace]:
        """The faces of an encoded image (JPEG, PNG...), left to right; a bad image is an ``InvalidError``."""
        ...


def people_result(faces: Sequence[AssetFace], names: Mapping[str, str | None], *, video: bool) -> JSONDict:
    """The stored result of the people operators for one asset, from its faces and their people's names.

    Named people are listed in the shape of Rekognition ``RecognizeCelebrities`` (image: ``CelebrityFaces`` with
    ``Name``, ``Id`` = the PersonId and ``MatchConfidence`` = the face's :func:`similarity` to the person) or
    ``GetCelebrityRecognition`` (video: ``Celebrities`` with ``Timestamp``), which the search index already reads;
    faces of unnamed people are ``UnrecognizedFaces`` (image). ``People`` (ours) lists every face with its PersonId.
    ``Labels`` (``DetectLabels`` / ``GetLabelDetection`` entries, one per name) put the names among the asset's
    labels in the media index (``/api/media?label=Eileen Collins``).
    """
    every: list[JSONDict] = []
    named: list[JSONDict] = []
    unnamed: list[JSONDict] = []
    for face in faces:
        name = names.get(face.person_id) if face.person_id else None
        compared: JSONDict = {"BoundingBox": face.bounding_box, "Confidence": face.confidence}
        entry: JSONDict = {"PersonId": face.person_id, "FaceId": face.face_id, **compared}
        if name:
            entry["Name"] = name
        if video:
            entry = {"Timestamp": face.timestamp or 0, **entry}
        every.append(entry)
        if not name:
            unnamed.append(compared)
            continue
        match = round(similarity(face.distance), 3)
        if video:
            detail = {"Urls": [], "Name": name, "Id": face.person_id, "Confidence": match, **compared}
            named.append({"Timestamp": face.timestamp or 0, "Celebrity": {**detail, "Face": compared}})
        else:
            named.append({"Urls": [], "Name": name, "Id": face.person_id, "Face": compared, "MatchConfidence": match})
    if video:
        labels = [
            {"Timestamp": item["Timestamp"], "Label": {"Name": item["Celebrity"]["Name"], "Confidence": 100.0}}
            for item in named
        ]
        return {"JobStatus": "SUCCEEDED", "Celebrities": named, "Labels": labels, "People": every}
    names_seen = list(dict.fromkeys(str(item["Name"]) for item in named))
    labels = [{"Name": name, "Confidence": 100.0} for name in names_seen]
    return {"CelebrityFaces": named, "UnrecognizedFaces": unnamed, "Labels": labels, "People": every}
