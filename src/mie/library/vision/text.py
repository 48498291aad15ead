"""``textDetectionImage`` and ``textDetection``: on-screen text as Rekognition ``TextDetections`` (LINE and WORD
entries with confidence and relative geometry), from ``DetectText`` and ``GetTextDetection``.

Two OCR engines: the ``tesseract`` command (Debian ``tesseract-ocr``, about 0.3 s an image) reads clean text, and
rapidocr 3.x (PP-OCR ONNX models inside its wheel, 1-2 s an image) reads stylised text over pictures that tesseract
misses. With ``Engine: "auto"`` tesseract runs first and rapidocr only when tesseract found nothing or was unsure.
Video: every sampled frame is read and, as Rekognition's ``GetTextDetection``, every frame a line is seen on has
its own entries (``Timestamp`` and ``TextDetection``, nothing else, so a strict client reads them). A line that
stays on screen over consecutive frames keeps its ``Id`` (and its words theirs), so a client can tell how long it
was shown: from the ``Timestamp`` of the first entry with that ``Id`` to that of the last.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mie.errors import describe
from mie.library.vision._common import (
    PIP_HINT,
    EntryPages,
    Lazy,
    batches,
    box,
    image_input,
    load_image,
    min_confidence,
    require,
    rounded,
    video_frames,
    video_metadata,
)
from mie.operators import OperatorContext, OperatorError, operator
from mie.operators.dependencies import MissingDependencyError
from mie.types import JSONDict

if TYPE_CHECKING:
    from PIL import Image

#: The operators' result key in the data plane (MIE stores both variants under the video operator's name).
RESULT_NAME = "textDetection"
ENGINES = ("auto", "tesseract", "rapidocr")
#: In ``auto``, rapidocr is tried when tesseract's mean word confidence is below this.
FALLBACK_CONFIDENCE = 80.0
#: Longest image side read (text in larger images is still legible at this size).
OCR_SIDE = 2560
TESSERACT_TIMEOUT = 120.0
PAGE_SIZE = 1000
BATCH = 4
#: Two consecutive frames whose 128-px greyscale copies differ nowhere by this much are the same picture.
SAME_FRAME_DIFFERENCE = 12
TESSERACT_HINT = "apt-get install tesseract-ocr tesseract-ocr-eng"

Point = tuple[float, float]


@dataclass
class Word:
    """One recognised word: text, confidence (0-100) and its corner points in pixels (clockwise from top left)."""

    text: str
    confidence: float
    polygon: list[Point]


@dataclass
class Line:
    """One line of text and its words."""

    words: list[Word]
    polygon: list[Point]
    confidence: float = 0.0
    engine: str = ""
    text: str = field(init=False)

    def __post_init__(self) -> None:
        self.text = " ".join(w.text for w in self.words)


def _rect_polygon(left: float, top: float, width: float, height: float) -> list[Point]:
    return [(left, top), (left + width, top), (left + width, top + height), (left, top + height)]


def _bounds(points: list[Point]) -> tuple[float, float, float, float]:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


# Tesseract --------------------------------------------------------------------------------------------------------


def _tesseract_languages() -> tuple[str, ...]:
    """Installed tesseract languages (empty when the command is absent)."""
    command = shutil.which("tesseract")
    if command is None:
        return ()
    proc = subprocess.run([command, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    return tuple(line.strip() for line in proc.stdout.splitlines()[1:] if line.strip())


TESSERACT_LANGUAGES: Lazy[tuple[str, ...]] = Lazy(_tesseract_languages)


def tesseract_available() -> bool:
    """True when the ``tesseract`` command with English data is installed."""
    return "eng" in TESSERACT_LANGUAGES.get()


def tesseract_lines(image: Image.Image) -> list[Line]:
    """Lines read by the ``tesseract`` command (TSV output: word boxes and confidences)."""
    command = shutil.which("tesseract")
    if command is None or not tesseract_available():
        raise MissingDependencyError("tesseract with English data", TESSERACT_HINT, needed_by="textDetection")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    # One thread: operators already run side by side, and tesseract's OpenMP threads only contend with them.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        proc = subprocess.run(
            [command, "stdin", "stdout", "--psm", "11", "-l", "eng", "tsv"],
            input=buffer.getvalue(),
            capture_output=True,
            timeout=TESSERACT_TIMEOUT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise OperatorError(f"textDetection: tesseract took longer than {TESSERACT_TIMEOUT:g} s") from exc
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise OperatorError(f"textDetection: tesseract failed: {detail[-1] if detail else proc.returncode}")
    return parse_tesseract_tsv(proc.stdout.decode("utf-8", errors="replace"))


def parse_tesseract_tsv(tsv: str) -> list[Line]:
    """Group tesseract's TSV word rows (level 5) into lines by block, paragraph and line number."""
    grouped: dict[tuple[str, str, str], list[Word]] = {}
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5":
            continue
        text = cells[11].strip()
        try:
            confidence = float(cells[10])
            left, top, width, height = (float(v) for v in cells[6:10])
        except ValueError:
            continue
        if not text or confidence < 0:
            continue
        word = Word(text, confidence, _rect_polygon(left, top, width, height))
        grouped.setdefault((cells[2], cells[3], cells[4]), []).append(word)
    lines = []
    for words in grouped.values():
        points = [p for w in words for p in w.polygon]
        confidence = sum(w.confidence for w in words) / len(words)
        lines.append(Line(words, _rect_polygon(*_bounds(points)), confidence, "tesseract"))
    return lines


# rapidocr ---------------------------------------------------------------------------------------------------------


def _load_rapidocr() -> Any:
    module = require("rapidocr", "textDetection")
    # rapidocr logs every model load and call at INFO on its own console handler.
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    params = {
        # "The text detection result is empty" is a WARNING for every frame without text.
        "Global.log_level": "error",
        # Detect on the image scaled down to at most 1280 px (the default scales the short side *up* to 736 px,
        # four times the work on a video frame); recognition still reads the full-resolution crops.
        "Det.limit_type": "max",
        "Det.limit_side_len": 1280,
        # One compute thread: operators run side by side, one per CPU, and onnxruntime's default pool (every
        # core, spinning while idle) would take the CPU from the others.
        "EngineConfig.onnxruntime.intra_op_num_threads": 1,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    engine = module.RapidOCR(params=params)
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return engine


RAPIDOCR: Lazy[Any] = Lazy(_load_rapidocr)
#: rapidocr keeps per-call state on the engine (see below): one reading at a time per process.
_READING = threading.Lock()


def rapidocr_available() -> bool:
    """True when rapidocr (and onnxruntime) can be imported."""
    try:
        require("rapidocr", "textDetection")
        require("onnxruntime", "textDetection")
    except OperatorError:
        return False
    return True


def rapidocr_lines(image: Image.Image) -> list[Line]:
    """Lines read by rapidocr, with its word boxes."""
    engine = RAPIDOCR.get()
    try:
        # Every switch is passed on every call: rapidocr keeps the last call's switches as its new defaults.
        # No angle classifier: upside-down text is rare on screen and it costs a third of the time.
        with _READING:
            result = engine(image, use_det=True, use_cls=False, use_rec=True, return_word_box=True)
    except Exception as exc:  # rapidocr raises plain exceptions of its own
        raise OperatorError(f"textDetection: rapidocr failed: {describe(exc)}") from exc
    if result.txts is None or result.boxes is None:
        return []
    words_per_line = result.word_results if result.word_results else [()] * len(result.txts)
    lines = []
    for text, score, corners, word_results in zip(
        result.txts, result.scores, result.boxes, words_per_line, strict=False
    ):
        polygon = [(float(x), float(y)) for x, y in corners]
        words = [
            Word(str(w[0]).strip(), float(w[1]) * 100.0, [(float(x), float(y)) for x, y in w[2]])
            for w in word_results
            if str(w[0]).strip()
        ]
        if not words:
            # No word boxes: one word per space-separated token, sharing the line's box.
            words = [Word(token, float(score) * 100.0, polygon) for token in str(text).split()]
        if words:
            lines.append(Line(words, polygon, float(score) * 100.0, "rapidocr"))
    return lines


def rapidocr_sees_text(image: Image.Image) -> bool:
    """Whether rapidocr's text detector finds any text region (no recognition: a cheap first look)."""
    engine = RAPIDOCR.get()
    try:
        with _READING:
            result = engine(image, use_det=True, use_cls=False, use_rec=False, return_word_box=False)
    except Exception as exc:  # rapidocr raises plain exceptions of its own
        raise OperatorError(f"textDetection: rapidocr failed: {describe(exc)}") from exc
    return result.boxes is not None and len(result.boxes) > 0


# Choosing and shaping -------------------------------------------------------------------------------------------------


def _mean_confidence(lines: list[Line]) -> float:
    words = [w for line in lines for w in line.words]
    return sum(w.confidence for w in words) / len(words) if words else 0.0


def read_text(image: Image.Image, engine: str = "auto") -> list[Line]:
    """The lines of text in an image, by ``engine`` (``auto``: tesseract, then rapidocr when it is unsure)."""
    if engine not in ENGINES:
        raise OperatorError(f"configuration Engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "tesseract":
        return tesseract_lines(image)
    if engine == "rapidocr":
        if not rapidocr_available():
            raise OperatorError(f"textDetection needs rapidocr and onnxruntime: {PIP_HINT}")
        return rapidocr_lines(image)
    has_tesseract, has_rapidocr = tesseract_available(), rapidocr_available()
    if not has_tesseract and not has_rapidocr:
        raise OperatorError(f"textDetection needs an OCR engine: {TESSERACT_HINT}, or {PIP_HINT}")
    lines = tesseract_lines(image) if has_tesseract else []
    if has_rapidocr and (not lines or _mean_confidence(lines) < FALLBACK_CONFIDENCE):
        other = rapidocr_lines(image)
        if other and (not lines or _mean_confidence(other) >= _mean_confidence(lines)):
            lines = other
    return lines


def filter_words(lines: list[Line], minimum: float) -> list[Line]:
    """Drop words below ``minimum`` confidence, and lines left with no word."""
    kept = []
    for line in lines:
        words = [w for w in line.words if w.confidence >= minimum]
        if words:
            confidence = sum(w.confidence for w in words) / len(words)
            kept.append(Line(words, line.polygon, confidence, line.engine))
    return kept


def _geometry(points: list[Point], width: int, height: int) -> JSONDict:
    return {
        "BoundingBox": box(_bounds(points), width, height),
        "Polygon": [{"X": min(max(x / width, 0.0), 1.0), "Y": min(max(y / height, 0.0), 1.0)} for x, y in points],
    }


def detections(lines: list[Line], width: int, height: int, first_id: int = 0) -> list[list[JSONDict]]:
    """Rekognition ``TextDetections`` per line: ``[LINE, WORD, WORD, ...]`` (words carry the line's ``ParentId``).
    Ids count from ``first_id``: lines first, then words, as Rekognition numbers them."""
    next_word = first_id + len(lines)
    grouped = []
    for offset, line in enumerate(lines):
        line_id = first_id + offset
        group: list[JSONDict] = [
            {
                "DetectedText": line.text,
                "Type": "LINE",
                "Id": line_id,
                "Confidence": rounded(line.confidence),
                "Geometry": _geometry(line.polygon, width, height),
            }
        ]
        for word in line.words:
            group.append(
                {
                    "DetectedText": word.text,
                    "Type": "WORD",
                    "Id": next_word,
                    "ParentId": line_id,
                    "Confidence": rounded(word.confidence),
                    "Geometry": _geometry(word.polygon, width, height),
                }
            )
            next_word += 1
        grouped.append(group)
    return grouped


def _engine(ctx: OperatorContext) -> str:
    return str(ctx.config("Engine", "auto")).lower()


@operator(
    "textDetectionImage",
    media_type="Image",
    description="Text in an image (lines and words), as Rekognition DetectText.",
    configuration={"MinConfidence": 80, "Engine": "auto"},
    isolation="process",
    timeout=300,
)
def text_detection_image(ctx: OperatorContext) -> None:
    """Read the input image and store ``{"TextDetections": [...]}`` under ``textDetection``."""
    minimum = min_confidence(ctx, 80.0)
    engine = _engine(ctx)
    image = load_image(image_input(ctx), OCR_SIDE)
    lines = filter_words(read_text(image, engine), minimum)
    groups = detections(lines, image.width, image.height)
    found = [g[0] for g in groups] + [w for g in groups for w in g[1:]]
    ctx.save_results({"TextDetections": found, "TextModelVersion": _model_version(lines)}, operator_name=RESULT_NAME)


def _model_version(lines: list[Line]) -> str:
    engines = sorted({line.engine for line in lines})
    return "+".join(engines) if engines else "none"


def _signature(image: Image.Image) -> Any:
    """A small greyscale copy of a frame (box-filtered, so compression noise averages out)."""
    numpy = require("numpy", "textDetection")
    pil = require("PIL.Image", "textDetection")
    small = image.convert("L").resize((128, max(1, round(128 * image.height / image.width))), pil.Resampling.BOX)
    return numpy.asarray(small, dtype=numpy.int16)


def _same_picture(a: Any, b: Any) -> bool:
    """True when two frames show the same picture (a still, a held title card): its text is read once."""
    return bool(a.shape == b.shape and int(abs(a - b).max()) < SAME_FRAME_DIFFERENCE)


@dataclass
class _OnScreen:
    """A line seen on the previous frame: its detections (to give it the same ids on the next frame)."""

    group: list[JSONDict]
    last_frame: int


def _same_ids(group: list[JSONDict], before: list[JSONDict]) -> list[JSONDict] | None:
    """``group`` (a line and its words) numbered with the ids ``before`` had, when it has the same words."""
    if [d["DetectedText"] for d in group] != [d["DetectedText"] for d in before]:
        return None
    renumbered = []
    for detection, old in zip(group, before, strict=True):
        same = {**detection, "Id": old["Id"]}
        if "ParentId" in old:
            same["ParentId"] = old["ParentId"]
        renumbered.append(same)
    return renumbered


@operator(
    "textDetection",
    media_type="Video",
    description="On-screen text per sampled video frame, as GetTextDetection pages (a line keeps its Id while it "
    "stays on screen).",
    configuration={"MinConfidence": 80, "Engine": "auto", "FrameRate": 1.0},
    isolation="process",
)
def text_detection(ctx: OperatorContext) -> None:
    """Read every sampled frame; store ``{"TextDetections": [{"Timestamp", "TextDetection"}]}`` pages under
    ``textDetection``."""
    minimum = min_confidence(ctx, 80.0)
    engine = _engine(ctx)
    if engine not in ENGINES:
        raise OperatorError(f"configuration Engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    # Most video frames show no text. In auto, rapidocr's detector alone (0.2 s a 720p frame on one thread) says
    # whether a frame has any, before tesseract (0.4 s, and it reads noise out of busy pictures, which then sends
    # the frame to rapidocr as well) and rapidocr's recogniser are asked to read it.
    gate = engine == "auto" and rapidocr_available()
    frames = video_frames(ctx)
    entries: list[JSONDict] = []
    on_screen: dict[str, _OnScreen] = {}
    next_id = 0
    engines: set[str] = set()
    previous: tuple[Any, list[Line]] | None = None
    for batch in batches(ctx, frames, BATCH, "reading text"):
        for frame in batch:
            image = load_image(frame.path, OCR_SIDE)
            signature = _signature(image)
            if previous is None or not _same_picture(signature, previous[0]):
                found = read_text(image, engine) if not gate or rapidocr_sees_text(image) else []
                previous = (signature, filter_words(found, minimum))
            lines = previous[1]
            engines.update(line.engine for line in lines)
            seen: dict[str, _OnScreen] = {}
            for line, group in zip(lines, detections(lines, image.width, image.height, next_id), strict=True):
                key = " ".join(line.text.split())
                current = on_screen.get(key)
                kept = None
                if current is not None and current.last_frame == frame.index - 1 and key not in seen:
                    kept = _same_ids(group, current.group)
                if kept is None:
                    # A line new on screen: ids unique over the whole video; words keep pointing at their line.
                    next_id = max(next_id, max(d["Id"] for d in group) + 1)
                    kept = group
                entries.extend({"Timestamp": frame.timestamp, "TextDetection": d} for d in kept)
                seen.setdefault(key, _OnScreen(kept, frame.index))
            on_screen = seen
    header: JSONDict = {
        "JobStatus": "SUCCEEDED",
        "VideoMetadata": video_metadata(frames),
        "TextModelVersion": "+".join(sorted(engines)) if engines else "none",
    }
    with ctx.result_pages(operator_name=RESULT_NAME) as pages:
        writer = EntryPages(pages, "TextDetections", header, PAGE_SIZE)
        for entry in entries:
            writer.add(entry)
        writer.finish()
