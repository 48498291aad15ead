"""``faceDetectionImage`` and ``faceDetection``: faces with boxes, confidence and eye landmarks, in the shapes of
Rekognition ``DetectFaces`` and ``GetFaceDetection``.

The detector is OpenCV's Haar cascades (the XML files ship in ``opencv-python-headless`` 4.x). One frontal cascade
alone fires on textures (coins, a retina scan, the moon's craters), so a frontal face is kept only where two
independently trained frontal cascades (``alt2`` and ``default``) agree; profiles come from the profile cascade,
run on the image and its mirror, with a strict threshold.

Landmarks come from dlib's 5-point predictor when dlib is installed (``eyeLeft``/``eyeRight``, the four eye
corners and ``nose``: see :func:`mie.library.vision._dlib.landmarks`); without it, the eye cascade inside each
face gives ``eyeLeft`` and ``eyeRight`` (left and right as seen in the image, as Rekognition reports them).
Measured against dlib's own HOG detector (upsampled once, ~0.1 s a photo): HOG also fires on the astronaut's
glove, the confirmed cascades do not, and a descriptor computed from either box differs by only 0.05-0.10, so the
cascades stay the one detector of faces and face embeddings (``mie.library.vision.embeddings``).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mie.library.vision import _dlib
from mie.library.vision._common import (
    EntryPages,
    Lazy,
    batches,
    box,
    image_input,
    load_image,
    require,
    rounded,
    video_frames,
    video_metadata,
)
from mie.operators import OperatorContext, OperatorError, operator
from mie.types import JSONDict

if TYPE_CHECKING:
    from PIL import Image

#: The operators' result key in the data plane (MIE stores both variants under the video operator's name).
RESULT_NAME = "faceDetection"
#: Longest image side the cascades run on (a larger image is scaled down first).
DETECT_SIDE = 1280
#: Two frontal detections are the same face when their boxes overlap this much (intersection over union).
AGREE_IOU = 0.4
#: A profile detection needs this cascade level weight (frontal ones are confirmed by agreement instead).
PROFILE_MIN_WEIGHT = 1.5
#: The profile cascade runs twice (image and mirror), so it steps through scales faster.
PROFILE_SCALE = 1.15
PAGE_SIZE = 1000
BATCH = 4

Rect = tuple[float, float, float, float]


def _load_cascades() -> dict[str, Any]:
    """The four cascades, from the XML files inside the OpenCV wheel."""
    cv2 = require("cv2", "faceDetection")
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise OperatorError(
            "faceDetection needs OpenCV 4 (OpenCV 5 dropped the Haar cascades): pip install 'opencv-python-headless<5'"
        )
    cv2.setNumThreads(1)  # operators run side by side, one per CPU: no extra pool competing with them
    cascades = {}
    for key, filename in (
        ("alt2", "haarcascade_frontalface_alt2.xml"),
        ("default", "haarcascade_frontalface_default.xml"),
        ("profile", "haarcascade_profileface.xml"),
        ("eye", "haarcascade_eye.xml"),
    ):
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + filename)
        if cascade.empty():
            raise OperatorError(f"faceDetection: OpenCV's {filename} is missing or unreadable")
        cascades[key] = cascade
    return cascades


#: The cascades, loaded once per process.
CASCADES: Lazy[dict[str, Any]] = Lazy(_load_cascades)
#: A CascadeClassifier keeps scratch buffers: one detection at a time per process (operators in threads share it).
_DETECTING = threading.Lock()


def _iou(a: Rect, b: Rect) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (aw * ah + bw * bh - inter)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _detect(
    cascade: Any, gray: Any, neighbours: int, min_side: int, *, max_side: int | None = None, scale: float = 1.1
) -> list[tuple[Rect, float]]:
    """Boxes and level weights (how far past the last stage's threshold: higher is surer)."""
    found = cascade.detectMultiScale3(
        gray,
        scaleFactor=scale,
        minNeighbors=neighbours,
        minSize=(min_side, min_side),
        maxSize=(max_side, max_side) if max_side else (0, 0),
        outputRejectLevels=True,
    )
    rects, _levels, weights = found
    return [
        (
            (float(r[0]), float(r[1]), float(r[2]), float(r[3])),
            float(w[0] if hasattr(w, "__len__") else w),
        )
        for r, w in zip(rects, weights, strict=True)
    ]


def _detect_around(cascade: Any, gray: Any, rect: Rect, min_side: int) -> list[tuple[Rect, float]]:
    """``_detect`` in the neighbourhood of ``rect`` (half its size on every side), in whole-image coordinates."""
    x, y, w, h = rect
    rows, cols = gray.shape[:2]
    left, top = max(0, int(x - w / 2)), max(0, int(y - h / 2))
    right, bottom = min(cols, int(x + 1.5 * w) + 1), min(rows, int(y + 1.5 * h) + 1)
    found = _detect(cascade, gray[top:bottom, left:right], 3, min_side)
    return [((fx + left, fy + top, fw, fh), weight) for (fx, fy, fw, fh), weight in found]


def _eyes(cascades: dict[str, Any], gray: Any, face: Rect) -> list[tuple[float, float]]:
    """Eye centres (pixels) found in the upper part of a face, at most two, left to right."""
    x, y, w, h = (round(v) for v in face)
    roi = gray[y : y + round(h * 0.6), x : x + w]
    if roi.size == 0:
        return []
    low, high = max(8, w // 8), max(9, w // 2)
    kept: list[Rect] = []
    for rect, _weight in sorted(_detect(cascades["eye"], roi, 3, low, max_side=high), key=lambda item: -item[1]):
        if all(_iou(rect, other) == 0 for other in kept):
            kept.append(rect)
        if len(kept) == 2:
            break
    centres = [(x + ex + ew / 2, y + ey + eh / 2) for ex, ey, ew, eh in kept]
    return sorted(centres)


def _landmarks(eyes: list[tuple[float, float]], face: Rect, width: int, height: int) -> list[JSONDict]:
    """``eyeLeft``/``eyeRight`` landmarks (fractions of the image); a lone eye is named by its side of the face."""
    if len(eyes) == 2:
        named = [("eyeLeft", eyes[0]), ("eyeRight", eyes[1])]
    else:
        centre = face[0] + face[2] / 2
        named = [("eyeLeft" if x < centre else "eyeRight", (x, y)) for x, y in eyes]
    return [{"Type": kind, "X": x / width, "Y": y / height} for kind, (x, y) in named]


@dataclass
class FoundFace:
    """One detected face: its box in pixels, its Rekognition ``FaceDetail``, and dlib's 5-point shape (None
    without dlib) for aligning an embedding."""

    rect: Rect
    detail: JSONDict
    shape: Any = None


def find_faces(image: Image.Image) -> tuple[Any, list[FoundFace]]:
    """The RGB pixel array of ``image`` and the faces on it, left to right."""
    cv2 = require("cv2", "faceDetection")
    numpy = require("numpy", "faceDetection")
    cascades = CASCADES.get()
    rgb = numpy.ascontiguousarray(numpy.asarray(image))
    with _DETECTING:
        gray, found = _detect_faces(cv2, cascades, rgb)
        use_dlib = bool(found) and _dlib.available()
        width, height = image.size
        faces = []
        for rect, score in found:
            detail: JSONDict = {"BoundingBox": box(rect, width, height), "Confidence": rounded(score * 100.0)}
            points = _dlib.shape(rgb, rect) if use_dlib else None
            if points is not None:
                detail["Landmarks"] = _dlib.landmarks(points, width, height)
            else:
                detail["Landmarks"] = _landmarks(_eyes(cascades, gray, rect), rect, width, height)
            faces.append(FoundFace(rect, detail, points))
    return rgb, faces


def detect_faces(image: Image.Image) -> list[JSONDict]:
    """Rekognition ``FaceDetails`` for an RGB image."""
    return [face.detail for face in find_faces(image)[1]]


def _detect_faces(cv2: Any, cascades: dict[str, Any], rgb: Any) -> tuple[Any, list[tuple[Rect, float]]]:
    """The equalised grey image and the faces' boxes (pixels) with their scores (0-1), left to right."""
    height, width = rgb.shape[:2]
    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    min_side = max(24, min(width, height) // 40)
    faces: list[tuple[Rect, float]] = []
    # Frontal: kept only where both cascades found the face; the box is the mean of the two. The second cascade
    # only confirms, so it runs around each candidate rather than over the whole picture (most frames have none).
    for rect, _ in _detect(cascades["alt2"], gray, 3, min_side):
        default = _detect_around(cascades["default"], gray, rect, min_side)
        matches = [(_iou(rect, other), other, weight) for other, weight in default]
        overlap, other, weight = max(matches, default=(0.0, rect, 0.0))
        if overlap >= AGREE_IOU and all(_iou(other, taken) < 0.3 for taken, _ in faces):
            merged = (
                (rect[0] + other[0]) / 2,
                (rect[1] + other[1]) / 2,
                (rect[2] + other[2]) / 2,
                (rect[3] + other[3]) / 2,
            )
            faces.append((merged, _sigmoid(weight - 1.0)))
    # Profiles facing either way (the cascade knows one side: run it on the mirror image for the other).
    flipped = cv2.flip(gray, 1)
    profiles = _detect(cascades["profile"], gray, 6, min_side, scale=PROFILE_SCALE)
    mirrored = _detect(cascades["profile"], flipped, 6, min_side, scale=PROFILE_SCALE)
    profiles += [((width - x - w, y, w, h), weight) for (x, y, w, h), weight in mirrored]
    for rect, weight in sorted(profiles, key=lambda item: -item[1]):
        if weight >= PROFILE_MIN_WEIGHT and all(_iou(rect, other) < 0.3 for other, _ in faces):
            faces.append((rect, _sigmoid(weight - 1.0)))
    return gray, sorted(faces, key=lambda item: (item[0][0], item[0][1]))


@operator(
    "faceDetectionImage",
    media_type="Image",
    description="Faces in an image (boxes, confidence, eye and nose landmarks), as Rekognition DetectFaces.",
    isolation="process",
    timeout=300,
)
def face_detection_image(ctx: OperatorContext) -> None:
    """Find faces in the input image and store ``{"FaceDetails": [...]}`` under ``faceDetection``."""
    image = load_image(image_input(ctx), DETECT_SIDE)
    ctx.save_results({"FaceDetails": detect_faces(image)}, operator_name=RESULT_NAME)


@operator(
    "faceDetection",
    media_type="Video",
    description="Faces per sampled video frame with timestamps, as Rekognition GetFaceDetection pages.",
    configuration={"FrameRate": 1.0},
    isolation="process",
)
def face_detection(ctx: OperatorContext) -> None:
    """Find faces in every sampled frame; store ``{"Faces": [{"Timestamp", "Face"}]}`` pages under
    ``faceDetection``."""
    frames = video_frames(ctx)
    header: JSONDict = {"JobStatus": "SUCCEEDED", "VideoMetadata": video_metadata(frames)}
    with ctx.result_pages(operator_name=RESULT_NAME) as pages:
        entries = EntryPages(pages, "Faces", header, PAGE_SIZE)
        for batch in batches(ctx, frames, BATCH, "finding faces"):
            for frame in batch:
                for face in detect_faces(load_image(frame.path, DETECT_SIDE)):
                    entries.add({"Timestamp": frame.timestamp, "Face": face})
        entries.finish()
