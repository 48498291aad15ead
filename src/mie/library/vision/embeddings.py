"""Face embeddings: every face ``faceDetection`` finds, described by dlib's 128-d ResNet descriptor.

Faces are located by the detector of :mod:`mie.library.vision.faces` (two agreeing Haar cascades), aligned with
dlib's 5-point landmarks and embedded without jitter (``num_jitters=0``: ~0.1 s a face on one core). A face whose
box is under :data:`MIN_FACE_SIDE` pixels is not embedded (Rekognition's ``SMALL_BOUNDING_BOX``): the descriptor
of a face smaller than that is noise. Distances between descriptors become Rekognition ``Similarity`` with
:func:`mie.operators.faces.similarity`.

Models: ``dlib`` (Boost-1.0, the ``dlib-bin`` wheel) and two model files of ``face_recognition_models`` (public
domain / CC0-1.0), loaded once per process (:mod:`mie.library.vision._dlib`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mie.errors import InvalidError
from mie.library.vision import _dlib
from mie.library.vision._common import load_image, require
from mie.library.vision.faces import DETECT_SIDE, find_faces
from mie.operators import OperatorError
from mie.operators.faces import EmbeddedFace

if TYPE_CHECKING:
    from PIL import Image

#: ``FaceModelVersion`` of collections whose faces this module embeds.
FACE_MODEL_VERSION = "dlib_face_recognition_resnet_model_v1"
#: Smallest face side (pixels, on the analysed image) that is embedded.
MIN_FACE_SIDE = 40
#: Rekognition's reason for a face too small to index.
SMALL = "SMALL_BOUNDING_BOX"


def embed_faces(image: Image.Image) -> list[EmbeddedFace]:
    """The faces of an RGB image with their embeddings, left to right (too small ones without)."""
    if not _dlib.available():
        # Fails with the install hint (dlib, or the model files).
        require("dlib", "face embeddings")
        _dlib.model_path(_dlib.RECOGNIZER_FILE)
    rgb, found = find_faces(image)
    faces = []
    for face in found:
        if min(face.rect[2], face.rect[3]) < MIN_FACE_SIDE or face.shape is None:
            faces.append(EmbeddedFace(face.detail, None, SMALL))
            continue
        vector = _dlib.descriptor(rgb, face.shape)
        faces.append(EmbeddedFace(face.detail, vector.astype("<f4").tobytes()))
    return faces


def embed_file(path: Path) -> list[EmbeddedFace]:
    """:func:`embed_faces` of an image file (read as the face detector reads it)."""
    return embed_faces(load_image(path, DETECT_SIDE))


class DlibFaceEmbedder:
    """The :class:`~mie.operators.faces.FaceEmbedder` the composition root hands to the API."""

    face_model_version = FACE_MODEL_VERSION

    def embed_image_bytes(self, data: bytes, filename: str = "image") -> list[EmbeddedFace]:
        """The faces of an encoded image; an unreadable image is an :class:`~mie.errors.InvalidError` (400)."""
        suffix = Path(filename).suffix if len(Path(filename).suffix) <= 8 else ""
        with tempfile.TemporaryDirectory(prefix="mie-faces-") as folder:
            path = Path(folder) / f"image{suffix}"
            path.write_bytes(data)
            try:
                image = load_image(path, DETECT_SIDE)
            except OperatorError as exc:
                raise InvalidError(exc.message.replace(path.name, filename)) from exc
            return embed_faces(image)
