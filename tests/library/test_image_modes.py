"""``load_image`` on valid large images of every mode Pillow's ``reduce`` has no kernel for, and OCR's reasons."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("numpy")
pytest.importorskip("PIL.Image")
skimage_data = pytest.importorskip("skimage.data")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from mie.errors import OperatorError  # noqa: E402
from mie.library.vision import _common, text  # noqa: E402

#: Large enough that load_image reduces it (4x for a max side of 1024).
SIZE = (4096, 3072)


def _photo() -> Image.Image:
    """The astronaut photo, greyscale, scaled up to SIZE: the left and right halves differ in brightness."""
    return Image.fromarray(skimage_data.astronaut()).convert("L").resize(SIZE, Image.Resampling.BILINEAR)


def _sixteen_bit(big_endian: bool) -> Image.Image:
    values = np.asarray(_photo()).astype(">u2" if big_endian else "<u2") * 257
    return Image.frombytes("I;16B" if big_endian else "I;16", SIZE, values.tobytes())


MODES: dict[str, Callable[[], Image.Image]] = {
    "1": lambda: _photo().convert("1"),
    "P": lambda: Image.fromarray(skimage_data.astronaut()).resize(SIZE).convert("P"),
    "P-transparent": lambda: _photo().convert("P"),
    "I;16": lambda: _sixteen_bit(False),
    "I;16B": lambda: _sixteen_bit(True),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_large_images_of_every_mode_load(tmp_path: Path, mode: str) -> None:
    image = MODES[mode]()
    path = tmp_path / "image.png"
    image.save(path, **({"transparency": 0} if mode == "P-transparent" else {}))
    with Image.open(path) as stored:
        assert stored.mode in ("1", "P", "I;16", "I;16B", "I")
    loaded = _common.load_image(path, 1024)
    assert loaded.mode == "RGB"
    assert loaded.size == (1024, 768)
    # The picture survives: the reduced image is the original one, reduced (compared in greyscale).
    expected = np.asarray(_photo().resize(loaded.size, Image.Resampling.BOX), dtype=float)
    got = np.asarray(loaded.convert("L"), dtype=float)
    if mode == "P":
        expected = np.asarray(MODES["P"]().convert("L").resize(loaded.size, Image.Resampling.BOX), dtype=float)
    elif mode == "P-transparent":  # the transparent colour (index 0, black) is shown white, as on a page
        photo = np.asarray(_photo())
        shown = Image.fromarray(np.where(photo == 0, 255, photo).astype("uint8"))
        expected = np.asarray(shown.resize(loaded.size, Image.Resampling.BOX), dtype=float)
    tolerance = 60 if mode == "1" else 12  # dithering to two levels is coarse even after averaging
    assert np.abs(got - expected).mean() < tolerance, mode


def test_rapidocr_failures_always_say_why(tmp_path: Path) -> None:
    """rapidocr refuses a 20000 x 1 image with an exception whose message is empty: the reason names its type."""
    if not text.rapidocr_available():
        pytest.skip("rapidocr not installed")
    with pytest.raises(OperatorError) as caught:
        text.rapidocr_lines(Image.new("RGB", (20000, 1), "white"))
    message = str(caught.value)
    assert not message.endswith(": "), message
    assert message.split("rapidocr failed: ", 1)[1].strip()
