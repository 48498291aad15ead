"""Real face photos available offline: scikit-image's astronaut (Eileen Collins) and matplotlib's sample photo of
Grace Hopper; transformed copies of the astronaut stand in for "another photo of the same person" (there is only
one astronaut photo offline)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageEnhance


def astronaut() -> Image.Image:
    """The astronaut photo (512 x 512)."""
    from skimage import data

    return Image.fromarray(data.astronaut())


def grace_hopper_path() -> Path | None:
    """matplotlib's sample photo of Grace Hopper (another person), when matplotlib is installed."""
    spec = importlib.util.find_spec("matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "mpl-data" / "sample_data" / "grace_hopper.jpg"
        if path.is_file():
            return path
    return None


#: Other photos of the astronaut: cropped, scaled, brighter, darker, mirrored.
TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "crop": lambda im: im.crop((90, 10, 390, 330)),
    "half size": lambda im: im.resize((256, 256), Image.Resampling.LANCZOS),
    "double size": lambda im: im.resize((1024, 1024), Image.Resampling.BICUBIC),
    "brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.4),
    "darker": lambda im: ImageEnhance.Brightness(im).enhance(0.6),
    "mirrored": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
}
