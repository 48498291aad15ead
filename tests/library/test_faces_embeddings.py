"""Face embeddings (dlib ResNet + 5-point landmarks) on real photos: the same person under transformations is
similar, another person is not, a face too small is skipped, and the 68-point model is never referenced."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("numpy")
pytest.importorskip("PIL.Image")
pytest.importorskip("skimage.data")
pytest.importorskip("dlib")

import numpy as np
from PIL import Image

from mie.library.vision import _dlib, embeddings
from mie.library.vision.embeddings import embed_faces
from mie.operators.faces import DEFAULT_FACE_MATCH_THRESHOLD, max_distance, similarity
from tests.library.face_photos import TRANSFORMS, astronaut, grace_hopper_path

SRC = Path(__file__).resolve().parents[2] / "src" / "mie"
if not _dlib.available():
    pytest.skip("dlib or face_recognition_models is not installed", allow_module_level=True)


def _vector(image: Image.Image) -> np.ndarray:
    found = [face for face in embed_faces(image) if face.embedding is not None]
    assert len(found) == 1, f"expected one face, found {len(found)}"
    embedding = found[0].embedding
    assert embedding is not None
    assert len(embedding) == 512
    return np.frombuffer(embedding, dtype="<f4")


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return _vector(astronaut())


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_the_same_person_in_another_photo_is_similar(reference: np.ndarray, name: str) -> None:
    distance = float(np.linalg.norm(reference - _vector(TRANSFORMS[name](astronaut()))))
    assert distance < 0.4, distance
    assert similarity(distance) > 95


def test_another_person_is_not_similar(reference: np.ndarray) -> None:
    path = grace_hopper_path()
    if path is None:
        pytest.skip("matplotlib's sample photo of Grace Hopper is not installed")
    distance = float(np.linalg.norm(reference - _vector(Image.open(path).convert("RGB"))))
    assert distance > 0.6, distance
    assert similarity(distance) < DEFAULT_FACE_MATCH_THRESHOLD


def test_models_load_once_per_process(reference: np.ndarray) -> None:
    _vector(TRANSFORMS["crop"](astronaut()))
    assert _dlib.MODELS.loads == 1


def test_similarity_mapping_is_calibrated_on_dlibs_threshold() -> None:
    assert similarity(0.6) == pytest.approx(DEFAULT_FACE_MATCH_THRESHOLD)
    assert similarity(0.7) == pytest.approx(50)
    assert similarity(0.0) > 99.9
    assert similarity(10.0) == pytest.approx(0.0, abs=1e-9)
    for threshold in (1, 50, 80, 99):
        assert similarity(max_distance(threshold)) == pytest.approx(threshold)
    assert max_distance(0) == float("inf")


def test_landmarks_from_the_5_point_model_are_where_the_eyes_and_nose_are() -> None:
    (face,) = embed_faces(astronaut())
    marks = {m["Type"]: (m["X"] * 512, m["Y"] * 512) for m in face.detail["Landmarks"]}
    assert set(marks) == {
        "eyeLeft", "eyeRight", "leftEyeLeft", "leftEyeRight", "rightEyeLeft", "rightEyeRight", "nose",
    }  # fmt: skip
    # The astronaut's face (by eye): left 173, top 67, right 276, bottom 170; eyes near y 100, nose near y 135.
    for x, y in marks.values():
        assert 173 < x < 276
        assert 67 < y < 170
    assert marks["leftEyeLeft"][0] < marks["eyeLeft"][0] < marks["leftEyeRight"][0]
    assert marks["leftEyeRight"][0] < marks["rightEyeLeft"][0] < marks["eyeRight"][0] < marks["rightEyeRight"][0]
    assert marks["nose"][1] > max(marks["eyeLeft"][1], marks["eyeRight"][1]) + 15
    assert marks["eyeLeft"][0] < marks["nose"][0] < marks["eyeRight"][0]


def test_a_face_too_small_to_embed_is_skipped_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    # The astronaut's face is ~94 px wide: with the limit above that it is found but not embedded.
    monkeypatch.setattr(embeddings, "MIN_FACE_SIDE", 200)
    (face,) = embed_faces(astronaut())
    assert face.embedding is None
    assert face.reason == "SMALL_BOUNDING_BOX"
    assert face.detail["BoundingBox"]["Width"] > 0.1


def test_no_face_no_embedding() -> None:
    from skimage import data

    assert embed_faces(Image.fromarray(data.coffee())) == []


def test_the_68_point_model_is_never_referenced() -> None:
    # Its training data (iBUG 300-W) forbids commercial use: no source file may name it, and the loader refuses it.
    pattern = re.compile(r"68_face|shape_predictor_68|68[-_ ]?point_model|pose_predictor_model_location\b")
    offenders = [
        str(path.relative_to(SRC)) for path in SRC.rglob("*.py") if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert all("68" not in name for name in _dlib.MODEL_FILES)
    with pytest.raises(ValueError, match="not a model"):
        _dlib.model_path("shape_" + "predictor_" + "68_face_landmarks.dat")
