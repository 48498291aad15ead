"""dlib's face models, loaded once per process: the 5-point landmark predictor and the 128-d ResNet embedder.

Both model files come from the installed ``face_recognition_models`` package (CC0-1.0; the models' author put them
in the public domain). The package's ``__init__`` imports ``pkg_resources`` (setuptools), which a modern
environment lacks, so its folder is located without importing it. Only the files named in :data:`MODEL_FILES` are
ever opened: the package also ships a 68-point predictor trained on iBUG 300-W, whose licence forbids commercial
use, and this code must never load it (a test reads this package's source to prove it).

dlib's objects keep scratch state per call, so each model is used under its own lock (operators in threads of one
process share them; worker processes each have their own).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mie.library.vision._common import Lazy, require
from mie.operators import OperatorError
from mie.operators.dependencies import MissingDependencyError
from mie.types import JSONDict

#: The package that ships the model files.
MODELS_PACKAGE = "face_recognition_models"
#: Landmarks: two corners of each eye and the base of the nose.
PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
#: 128-d face descriptor (dlib's ResNet, 99.38% on LFW per its author).
RECOGNIZER_FILE = "dlib_face_recognition_resnet_model_v1.dat"
#: Every file this module may open (nothing else in the package is ever loaded).
MODEL_FILES = (PREDICTOR_FILE, RECOGNIZER_FILE)
_INSTALL = "pip install 'media-insights-engine[vision]' (dlib-bin and face-recognition-models)"


def model_path(filename: str) -> Path:
    """The installed model file ``filename`` (one of :data:`MODEL_FILES`)."""
    if filename not in MODEL_FILES:
        raise ValueError(f"{filename} is not a model this engine uses")
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "models" / filename
        if path.is_file():
            return path
    raise MissingDependencyError(f"the model file {filename}", _INSTALL, needed_by="face embeddings")


def _dlib() -> Any:
    return require("dlib", "face embeddings")


@dataclass
class _Models:
    predictor: Any
    recognizer: Any
    predict_lock: threading.Lock
    embed_lock: threading.Lock


def _load() -> _Models:
    dlib = _dlib()
    return _Models(
        predictor=dlib.shape_predictor(str(model_path(PREDICTOR_FILE))),
        recognizer=dlib.face_recognition_model_v1(str(model_path(RECOGNIZER_FILE))),
        predict_lock=threading.Lock(),
        embed_lock=threading.Lock(),
    )


#: The two models, loaded on first use and kept for the life of the process.
MODELS: Lazy[_Models] = Lazy(_load)


def available() -> bool:
    """True when dlib and the model files are installed (nothing is loaded)."""
    try:
        _dlib()
        for filename in MODEL_FILES:
            model_path(filename)
    except OperatorError:
        return False
    return True


Rect = tuple[float, float, float, float]


def shape(rgb: Any, rect: Rect) -> Any:
    """The 5 landmarks of the face in ``rect`` = (left, top, width, height) pixels of the RGB array ``rgb``."""
    dlib = _dlib()
    models = MODELS.get()
    left, top, width, height = rect
    box = dlib.rectangle(round(left), round(top), round(left + width), round(top + height))
    with models.predict_lock:
        return models.predictor(rgb, box)


def descriptor(rgb: Any, landmarks: Any) -> Any:
    """The 128-d descriptor (float32 numpy array) of the face whose landmarks are ``landmarks``: aligned to a
    150 x 150 chip by dlib, no jitter (``num_jitters=0``: one pass, ~0.1 s)."""
    numpy = require("numpy", "face embeddings")
    models = MODELS.get()
    with models.embed_lock:
        values = models.recognizer.compute_face_descriptor(rgb, landmarks, 0)
    return numpy.asarray(values, dtype=numpy.float32)


def landmarks(points: Any, width: int, height: int) -> list[JSONDict]:
    """Rekognition ``Landmarks`` from the 5-point shape, fractions of the image.

    dlib's points: 0/1 outer/inner corner of the eye on the image's right, 2/3 outer/inner corner of the eye on the
    image's left, 4 the base of the nose. Rekognition names the eyes as seen in the image (``eyeLeft`` is the one
    on the left, with its corners ``leftEyeLeft``/``leftEyeRight``), as ``faceDetection`` always did. ``nose`` is
    the base of the nose (dlib's point), a few pixels below the tip Rekognition marks. The eye centres are the
    midpoints of their corners. Nothing else (mouth, pupils, brows) is reported: the 5-point model does not see it.
    """
    xy = [(float(points.part(i).x), float(points.part(i).y)) for i in range(5)]
    right_outer, right_inner, left_outer, left_inner, nose = xy

    def mark(kind: str, point: tuple[float, float]) -> JSONDict:
        return {"Type": kind, "X": min(max(point[0] / width, 0.0), 1.0), "Y": min(max(point[1] / height, 0.0), 1.0)}

    def middle(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
        return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)

    return [
        mark("eyeLeft", middle(left_outer, left_inner)),
        mark("eyeRight", middle(right_outer, right_inner)),
        mark("leftEyeLeft", left_outer),
        mark("leftEyeRight", left_inner),
        mark("rightEyeLeft", right_inner),
        mark("rightEyeRight", right_outer),
        mark("nose", nose),
    ]
