"""peopleRecognition embeds the faces faceDetection already found (an earlier stage of the same execution) instead of
detecting them again: the detection pass is the costly part of both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PIL.Image")
pytest.importorskip("dlib")

from mie.library import vision
from mie.library.vision import _dlib, embeddings, people
from mie.library.vision._common import load_image
from mie.library.vision.faces import ANALYSED_KEY, DETECT_SIDE, detect_faces
from mie.testing import Harness, harness
from tests.library.face_photos import astronaut

if not _dlib.available():
    pytest.skip("dlib or face_recognition_models is not installed", allow_module_level=True)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "astronaut.png"
    astronaut().save(path)
    return path


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with harness(tmp_path / "h") as found:
        yield found


def test_embedding_stored_boxes_gives_the_same_descriptor(photo: Path) -> None:
    image = load_image(photo, DETECT_SIDE)
    (fresh,) = embeddings.embed_faces(image)
    (reused,) = embeddings.embed_detected(image, detect_faces(image))
    assert fresh.embedding is not None
    assert reused.embedding is not None
    import numpy as np

    a = np.frombuffer(fresh.embedding, dtype="<f4")
    b = np.frombuffer(reused.embedding, dtype="<f4")
    assert float(np.linalg.norm(a - b)) < 0.05
    assert (
        embeddings.embed_detected(image, [{"BoundingBox": {"Left": 0.1, "Top": 0.1, "Width": 0.01, "Height": 0.01}}])[
            0
        ].reason
        == embeddings.SMALL
    )
    assert embeddings.embed_detected(image, [{"Confidence": 90}]) == []  # no box: nothing to embed


def test_face_detection_names_what_it_analysed(h: Harness, photo: Path) -> None:
    run = h.run(vision.face_detection_image, photo)
    assert run.status == "Complete"
    assert run.output["MetaData"][ANALYSED_KEY].endswith(".png")


def test_people_recognition_uses_the_stored_boxes(h: Harness, photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = load_image(photo, DETECT_SIDE)
    stored = [{"FaceDetails": detect_faces(image)}]

    def no_second_detection(*_: Any) -> None:
        raise AssertionError("faces were detected again")

    monkeypatch.setattr(people, "embed_faces", no_second_detection)
    monkeypatch.setattr(people, "_detected", lambda ctx, kind: stored)
    run = h.run(vision.people_recognition_image, photo)
    assert run.status == "Complete", run.output
    (face,) = run.results["peopleRecognition"]["People"]
    assert face["BoundingBox"] == stored[0]["FaceDetails"][0]["BoundingBox"]


def test_without_face_detection_in_an_earlier_stage_it_detects_itself(h: Harness, photo: Path) -> None:
    run = h.run(vision.people_recognition_image, photo, metadata={ANALYSED_KEY: "some/other/image.png"})
    assert run.status == "Complete", run.output
    assert len(run.results["peopleRecognition"]["People"]) == 1
