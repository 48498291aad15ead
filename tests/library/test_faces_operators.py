"""faceSearch(Image) and celebrityRecognition(Image) on real photos and a generated clip: matches with Similarity
from a face collection, Rekognition's shapes (checked against botocore), clear errors for a missing collection,
and an empty result when nobody is enrolled."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PIL.Image")
pytest.importorskip("skimage.data")
pytest.importorskip("dlib")

from mie.errors import OperatorError
from mie.library import vision
from mie.library.vision import _dlib
from mie.library.vision.embeddings import FACE_MODEL_VERSION, embed_file
from mie.storage.faces import NewFace
from mie.testing import Harness, harness
from tests.aws_shapes import violations
from tests.library.face_photos import TRANSFORMS, astronaut, grace_hopper_path

if not _dlib.available():
    pytest.skip("dlib or face_recognition_models is not installed", allow_module_level=True)

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("faces")
    files = {"astronaut": root / "astronaut.png", "other": root / "other.jpg", "cup": root / "cup.jpg"}
    astronaut().save(files["astronaut"])
    TRANSFORMS["darker"](TRANSFORMS["crop"](astronaut())).save(files["other"], quality=90)
    from PIL import Image
    from skimage import data

    Image.fromarray(data.coffee()).save(files["cup"], quality=90)
    hopper = grace_hopper_path()
    if hopper is not None:
        files["hopper"] = hopper
    if shutil.which("ffmpeg"):
        # 4 s at 640x480: the cup photo for 2 s, then the (darker, cropped) astronaut for 2 s.
        files["clip"] = root / "clip.mp4"
        fit = "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,setsar=1"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-nostdin", "-y",
             "-loop", "1", "-framerate", "25", "-t", "2", "-i", str(files["cup"]),
             "-loop", "1", "-framerate", "25", "-t", "2", "-i", str(files["other"]),
             "-filter_complex", f"[0]{fit}[a];[1]{fit}[b];[a][b]concat=n=2:v=1[v]", "-map", "[v]",
             "-c:v", "libx264", "-pix_fmt", "yuv420p", str(files["clip"])],
            check=True, timeout=120,
        )  # fmt: skip
    return files


def _enrol(h: Harness, collection: str, path: Path, name: str) -> str:
    h.faces.create_collection(collection, FACE_MODEL_VERSION)
    (face,) = [f for f in embed_file(path) if f.embedding is not None]
    assert face.embedding is not None
    (stored,) = h.faces.index_faces(
        collection, [NewFace(face.embedding, face.detail["BoundingBox"], face.detail["Confidence"], "img-1", name)]
    )
    return stored.face_id


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with harness(tmp_path / "h") as found:
        yield found


def _only(results: Any) -> Any:
    return results[0] if isinstance(results, list) else results


def test_face_search_image_finds_the_enrolled_face(h: Harness, photos: dict[str, Path]) -> None:
    face_id = _enrol(h, "crew", photos["astronaut"], "Eileen_Collins")
    run = h.run(vision.face_search_image, photos["other"], configuration={"CollectionId": "crew"})
    assert run.status == "Complete", run.output
    result = run.results["faceSearch"]
    assert violations("rekognition", "SearchFacesByImage", result) == []
    (match,) = result["FaceMatches"]
    assert match["Face"]["FaceId"] == face_id
    assert match["Face"]["ExternalImageId"] == "Eileen_Collins"
    assert match["Similarity"] > 95
    assert result["SearchedFaceConfidence"] > 50


def test_face_search_image_of_another_person_or_no_face(h: Harness, photos: dict[str, Path]) -> None:
    _enrol(h, "crew", photos["astronaut"], "Eileen_Collins")
    if "hopper" in photos:
        run = h.run(vision.face_search_image, photos["hopper"], configuration={"CollectionId": "crew"})
        assert run.results["faceSearch"]["FaceMatches"] == []
        assert "SearchedFaceBoundingBox" in run.results["faceSearch"]
    run = h.run(vision.face_search_image, photos["cup"], configuration={"CollectionId": "crew"})
    assert run.results["faceSearch"] == {"FaceMatches": [], "FaceModelVersion": FACE_MODEL_VERSION}


def test_face_search_needs_an_existing_collection(h: Harness, photos: dict[str, Path]) -> None:
    with pytest.raises(OperatorError, match="needs configuration CollectionId"):
        h.run(vision.face_search_image, photos["other"])
    with pytest.raises(OperatorError, match="'nobody' does not exist"):
        h.run(vision.face_search_image, photos["other"], configuration={"CollectionId": "nobody"})
    h.faces.create_collection("x", FACE_MODEL_VERSION)
    with pytest.raises(OperatorError, match="FaceMatchThreshold"):
        h.run(vision.face_search_image, photos["other"], configuration={"CollectionId": "x", "FaceMatchThreshold": 101})
    if "clip" in photos:
        with pytest.raises(OperatorError, match="'nobody' does not exist"):
            h.run(vision.face_search, photos["clip"], configuration={"CollectionId": "nobody"})


def test_an_empty_collection_matches_nothing(h: Harness, photos: dict[str, Path]) -> None:
    h.faces.create_collection("empty", FACE_MODEL_VERSION)
    run = h.run(vision.face_search_image, photos["other"], configuration={"CollectionId": "empty"})
    assert run.status == "Complete"
    assert run.results["faceSearch"]["FaceMatches"] == []


def test_celebrity_recognition_image_names_the_enrolled_person(h: Harness, photos: dict[str, Path]) -> None:
    _enrol(h, "celebrities", photos["astronaut"], "Eileen_Collins")
    run = h.run(vision.celebrity_recognition_image, photos["other"])
    result = run.results["celebrityRecognition"]
    assert violations("rekognition", "RecognizeCelebrities", result) == []
    (celebrity,) = result["CelebrityFaces"]
    assert celebrity["Name"] == "Eileen_Collins"
    assert celebrity["MatchConfidence"] > 95
    assert result["UnrecognizedFaces"] == []
    if "hopper" in photos:
        stranger = h.run(vision.celebrity_recognition_image, photos["hopper"]).results["celebrityRecognition"]
        assert stranger["CelebrityFaces"] == []
        assert len(stranger["UnrecognizedFaces"]) == 1


def test_celebrity_recognition_with_nobody_enrolled_is_empty(h: Harness, photos: dict[str, Path]) -> None:
    run = h.run(vision.celebrity_recognition_image, photos["other"])  # no 'celebrities' collection at all
    assert run.status == "Complete"
    assert run.results["celebrityRecognition"]["CelebrityFaces"] == []
    if "clip" in photos:
        run = h.run(vision.celebrity_recognition, photos["clip"])
        assert run.status == "Complete"
        assert _only(run.results["celebrityRecognition"])["Celebrities"] == []


@needs_ffmpeg
def test_video_face_search_and_celebrities(h: Harness, photos: dict[str, Path]) -> None:
    face_id = _enrol(h, "celebrities", photos["astronaut"], "Eileen_Collins")
    run = h.run(vision.face_search, photos["clip"], configuration={"CollectionId": "celebrities"})
    assert run.status == "Complete", run.output
    page = _only(run.results["faceSearch"])
    assert violations("rekognition", "GetFaceSearch", page) == []
    persons = page["Persons"]
    assert [p["Timestamp"] for p in persons] == [2000, 3000]  # the astronaut is on screen from 2 s
    assert {p["Person"]["Index"] for p in persons} == {0}  # one person across frames
    assert all(p["FaceMatches"][0]["Face"]["FaceId"] == face_id for p in persons)
    run = h.run(vision.celebrity_recognition, photos["clip"])
    page = _only(run.results["celebrityRecognition"])
    assert violations("rekognition", "GetCelebrityRecognition", page) == []
    assert [(c["Timestamp"], c["Celebrity"]["Name"]) for c in page["Celebrities"]] == [
        (2000, "Eileen_Collins"),
        (3000, "Eileen_Collins"),
    ]
