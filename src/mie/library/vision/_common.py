"""What every vision operator shares: loading models once, reading images safely, and walking sampled video frames.

Heavy third-party modules (Pillow, numpy, torch, OpenCV, rapidocr) are imported inside functions, so the library
registers its operators even where the ``vision`` extra is not installed; running one then fails with an
:class:`~mie.errors.OperatorError` that says what to install.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from mie.errors import OperatorError
from mie.library.media import frames as media_frames
from mie.library.media.frames import FRAMES_KIND, Frame, FrameSet
from mie.operators import OperatorContext, ResultPages
from mie.operators.cache import Lazy
from mie.operators.dependencies import require_module
from mie.types import JSONDict, MediaType

if TYPE_CHECKING:
    from PIL import Image

T = TypeVar("T")

#: What to run when a Python dependency of the vision operators is missing.
PIP_HINT = "pip install 'media-insights-engine[vision]'"
#: Images with more pixels than this are refused before decoding (Pillow's own decompression-bomb limit).
MAX_PIXELS = 178_956_970
#: Most memory (bytes) decoding one image may take at full size, conversions included (see ``decode_cost``).
#: A PNG is small on disk whatever its size in pixels (a 13000x13000 palette PNG of one colour is 0.2 MB), and
#: only JPEGs can be decoded at reduced scale: beyond this the image is refused rather than decoded. 256 MiB keeps
#: RGB photos up to ~67 megapixels, palette images up to ~30 and 8-bit greyscale ones up to MAX_PIXELS.
MAX_DECODE_BYTES = 256 * 2**20
#: Bytes per pixel of Pillow's in-memory modes (every multi-band mode takes 4).
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
#: Modes ``Image.reduce`` has a kernel for (the others are converted, at full size, first).
_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "RGBa", "La", "CMYK", "I", "F")
#: Sampling rate used when a video has no ``Frames`` media from ``Thumbnail`` and frames are decoded here.
DEFAULT_FPS = media_frames.DEFAULT_FPS


__all__ = ["Lazy", "require"]  # Lazy: the SDK's, imported from here by the vision operators


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` or fail the operator, naming the install command."""
    return require_module(module, PIP_HINT, needed_by=what)


# Images -------------------------------------------------------------------------------------------------------


def load_image(path: Path, max_side: int) -> Image.Image:
    """Open an image as RGB, no larger than ``max_side`` on its longest side.

    JPEGs are decoded at reduced scale (``draft``) so a 50-megapixel photo never exists in memory at full size;
    other formats are decoded once and reduced. Zero-byte, corrupt, truncated, non-image and absurdly large files
    raise :class:`~mie.errors.OperatorError` with the reason.
    """
    image_module = require("PIL.Image", "image analysis")
    ops = require("PIL.ImageOps", "image analysis")
    if not path.is_file():
        raise OperatorError(f"the input image {path.name} does not exist")
    if path.stat().st_size == 0:
        raise OperatorError(f"the input image {path.name} is empty (0 bytes)")
    try:
        # Our file handle, not Pillow's: it is closed however decoding ends (Pillow leaves its own open on errors).
        with path.open("rb") as handle, warnings.catch_warnings():
            # Our own limit below gives the error; Pillow's warning between its two limits is not one.
            warnings.simplefilter("ignore", image_module.DecompressionBombWarning)
            image: Image.Image = image_module.open(handle)
            width, height = image.size
            if width <= 0 or height <= 0:
                raise OperatorError(f"the input image {path.name} has no pixels ({width}x{height})")
            if width * height > MAX_PIXELS:
                raise OperatorError(
                    f"the input image {path.name} is {width}x{height} ({width * height / 1e6:.0f} megapixels), "
                    f"above the limit of {MAX_PIXELS / 1e6:.0f} megapixels"
                )
            if image.format == "JPEG" and max(width, height) > max_side:
                # Decode at 1/2, 1/4 or 1/8 scale: never less than max_side, never the whole image. (draft keeps
                # both sides at least the requested ones, so ask for the scaled size, not a square.)
                scale = max_side / max(width, height)
                image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            cost = decode_cost(image.mode, image.size, reduce=max(image.size) // max_side >= 2)
            if cost > MAX_DECODE_BYTES:
                # Checked before load(): the header says how large the pixels will be, and nothing is decoded yet.
                raise OperatorError(
                    f"the input image {path.name} is {width}x{height} ({image.format or 'image'}, mode {image.mode}): "
                    f"decoding it would take about {cost / 2**20:.0f} MiB, above the limit of "
                    f"{MAX_DECODE_BYTES / 2**20:.0f} MiB per image (only JPEGs are decoded at reduced scale); "
                    "scale it down or save it as JPEG"
                )
            image.load()
            factor = max(image.size) // max_side
            if factor >= 2:
                if image.mode not in _REDUCIBLE:
                    # reduce() has no kernel for bilevel, palette or 16-bit images ("image has wrong mode"): take
                    # them to the smallest mode that keeps the picture first (greyscale stays one channel).
                    image = image.convert("L") if image.mode == "1" else _to_rgb(image)
                image = image.reduce(factor)
            image = ops.exif_transpose(image)
            if image.mode != "RGB":
                image = _to_rgb(image)
            if max(image.size) > max_side:
                image.thumbnail((max_side, max_side), image_module.Resampling.BILINEAR)
    except OperatorError:
        raise
    except image_module.DecompressionBombError as exc:
        raise OperatorError(
            f"the input image {path.name} is above the limit of {MAX_PIXELS / 1e6:.0f} megapixels: {exc}"
        ) from exc
    except image_module.UnidentifiedImageError as exc:
        raise OperatorError(f"the input file {path.name} is not a readable image (corrupt, or not an image)") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise OperatorError(f"the input image {path.name} is corrupt or truncated: {exc}") from exc
    return image


def decode_cost(mode: str, size: tuple[int, int], *, reduce: bool) -> int:
    """Bytes :func:`load_image` holds at once at full size for an image of ``mode`` and ``size``: the decoded
    pixels, plus the RGB (and RGBA) copies a mode without a ``reduce`` kernel is converted to before reducing."""
    pixels = size[0] * size[1]
    cost = pixels * _BYTES_PER_PIXEL.get(mode, 4)
    if reduce and mode not in _REDUCIBLE:
        cost += pixels * (8 if mode in ("P", "PA") else 4)  # RGB; palette images may go through RGBA first
    return cost


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB from any mode; transparent areas become white (as a viewer shows them on a page)."""
    image_module = require("PIL.Image", "image analysis")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background: Image.Image = image_module.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits rather than clipping.
        image = image.point(lambda v: v / 256).convert("L")
    return image.convert("RGB")


def image_input(ctx: OperatorContext) -> Path:
    """The operator's input image as a local file."""
    return ctx.input_file("Image")


# Video frames -------------------------------------------------------------------------------------------------


def video_frames(ctx: OperatorContext) -> FrameSet:
    """The sampled frames of the input video: the ``Frames`` media ``Thumbnail`` made when this execution has it
    (the video is then not decoded again), else one ffmpeg pass over the video here."""
    if FRAMES_KIND in ctx.input_media:
        return FrameSet.open(ctx.input_file(FRAMES_KIND), ctx.scratch / "frames")
    kind = (
        MediaType.VIDEO
        if MediaType.VIDEO in ctx.input_media
        else ("ProxyEncode" if "ProxyEncode" in ctx.input_media else None)
    )
    source = ctx.input_file(kind)
    if source.stat().st_size == 0:
        raise OperatorError(f"the input video {source.name} is empty (0 bytes)")
    fps = _positive(ctx.config("FrameRate", DEFAULT_FPS), "FrameRate")
    ctx.progress(0.0, "decoding frames")
    frames = media_frames.extract(source, ctx.scratch / "frames", fps=fps)
    if not frames.frames:
        raise OperatorError(f"the input video {source.name} has no video frames to analyse")
    return frames


def video_metadata(frames: FrameSet) -> JSONDict:
    """Rekognition's ``VideoMetadata`` for the sampled video (only what is known)."""
    meta: JSONDict = {}
    width = frames.source_width or frames.width
    height = frames.source_height or frames.height
    if width and height:
        meta["FrameWidth"] = width
        meta["FrameHeight"] = height
    if frames.duration > 0:
        meta["DurationMillis"] = round(frames.duration * 1000)
    return meta


def batches(ctx: OperatorContext, frames: FrameSet, size: int, what: str) -> Iterator[Sequence[Frame]]:
    """The frames in batches of ``size``; reports progress (percent of frames) and checks for cancellation
    between batches."""
    total = len(frames.frames)
    for start in range(0, total, size):
        ctx.progress(100.0 * start / max(total, 1), f"{what}: frame {start + 1} of {total}")
        yield frames.frames[start : start + size]
    ctx.progress(100.0, f"{what}: {total} frames done")


class EntryPages:
    """Per-frame entries of a video result, stored as Rekognition ``Get*`` pages of at most ``size`` entries:
    ``{**header, key: [entries]}``. At least one page is stored, so an empty result is still a result."""

    def __init__(self, pages: ResultPages, key: str, header: JSONDict, size: int = 1000) -> None:
        self._pages = pages
        self._key = key
        self._header = header
        self._size = size
        self._entries: list[JSONDict] = []
        self.total = 0

    def add(self, entry: JSONDict) -> None:
        """Add one entry (a page is stored whenever ``size`` are waiting)."""
        self._entries.append(entry)
        self.total += 1
        if len(self._entries) >= self._size:
            self._store()

    def finish(self) -> None:
        """Store what is left (an empty page when nothing was stored at all)."""
        if self._entries or self._pages.count == 0:
            self._store()

    def _store(self) -> None:
        self._pages.add({**self._header, self._key: self._entries})
        self._entries = []


def _positive(value: Any, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if not number > 0:
        raise OperatorError(f"configuration {key} must be a positive number, not {value!r}")
    return number


def min_confidence(ctx: OperatorContext, default: float = 50.0) -> float:
    """``MinConfidence`` (0-100)."""
    value = ctx.config("MinConfidence", default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OperatorError(f"configuration MinConfidence must be a number from 0 to 100, not {value!r}") from None
    if not 0 <= number <= 100:
        raise OperatorError(f"configuration MinConfidence must be from 0 to 100, not {value!r}")
    return number


def max_items(ctx: OperatorContext, key: str) -> int | None:
    """A positive integer limit from the configuration (None when unset)."""
    value = ctx.config(key)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise OperatorError(f"configuration {key} must be a positive integer, not {value!r}") from None
    if number <= 0 or (isinstance(value, float) and value != number):
        raise OperatorError(f"configuration {key} must be a positive integer, not {value!r}")
    return number


def box(rect: tuple[float, float, float, float], image_width: int, image_height: int) -> JSONDict:
    """Rekognition ``BoundingBox`` of ``rect`` = (left, top, width, height) in pixels: fractions of the image
    width and height, clipped to the image."""
    left, top, width, height = rect
    x0 = min(max(left, 0.0), image_width)
    y0 = min(max(top, 0.0), image_height)
    x1 = min(max(left + width, 0.0), image_width)
    y1 = min(max(top + height, 0.0), image_height)
    return {
        "Width": (x1 - x0) / image_width,
        "Height": (y1 - y0) / image_height,
        "Left": x0 / image_width,
        "Top": y0 / image_height,
    }


def rounded(value: float, digits: int = 3) -> float:
    """Confidences are stored with a few decimals, as Rekognition's."""
    return round(float(value), digits)
