"""Memory bounds of image decoding: a PNG that is tiny on disk but huge in pixels is refused before it is decoded,
and the process's memory does not grow with it."""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import pytest

pytest.importorskip("PIL.Image")

from PIL import Image

from mie.errors import OperatorError
from mie.library.vision import _common

SIDE = 13_000  # 169 megapixels: under the pixel limit, far over the decoding budget


def palette_png(path: Path, width: int, height: int) -> None:
    """A valid palette PNG of ``width`` x ``height`` (a two-colour stripe pattern), written row by row so the test
    itself never holds the pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    rows = [b"\x00" + bytes([(x // 64) % 2 for x in range(width)]), b"\x00" + bytes(width)]
    data = bytearray()
    for y in range(height):
        data += compressor.compress(rows[(y // 64) % 2])
    data += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    palette = bytes([30, 60, 200, 250, 240, 20])
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", palette)
        + chunk(b"IDAT", bytes(data))
        + chunk(b"IEND", b"")
    )


def test_a_huge_palette_png_is_refused_naming_its_size_and_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge-palette.png"
    palette_png(path, SIDE, SIDE)
    assert path.stat().st_size < 1_000_000
    with warnings.catch_warnings():  # Pillow warns about images over 89 megapixels
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(path)  # a real image: Pillow reads its header as 13000 x 13000, mode P
    with image:
        assert (image.size, image.mode) == ((SIDE, SIDE), "P")
    with pytest.raises(OperatorError) as caught:
        _common.load_image(path, 1024)
    message = str(caught.value)
    assert f"{SIDE}x{SIDE}" in message
    assert f"{_common.MAX_DECODE_BYTES // 2**20} MiB" in message
    assert "mode P" in message


def test_refusing_it_does_not_raise_the_memory_of_the_process(tmp_path: Path) -> None:
    """Peak RSS of a fresh interpreter, before and after trying to load the image (ru_maxrss is a high-water mark,
    so the measurement is taken in a process of its own)."""
    path = tmp_path / "huge-palette.png"
    palette_png(path, SIDE, SIDE)
    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from mie.errors import OperatorError\n"
        "from mie.library.vision import _common\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    _common.load_image(Path(sys.argv[1]), 1024)\n"
        "except OperatorError:\n"
        "    pass\n"
        "print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    before, after = (int(v) for v in done.stdout.split())
    rise_mib = (after - before) / 1024  # ru_maxrss is in KiB on Linux
    assert rise_mib < 64, f"loading the refused image raised the peak memory by {rise_mib:.0f} MiB"


def test_a_palette_png_within_the_budget_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "palette.png"
    palette_png(path, 4096, 3072)
    image = _common.load_image(path, 1024)
    assert (image.mode, image.size) == ("RGB", (1024, 768))
    assert len(image.getcolors(maxcolors=2**16) or []) >= 2  # both colours of the stripes survive the reduction


def test_decode_cost_counts_the_conversion_of_modes_reduce_cannot_take() -> None:
    assert _common.decode_cost("RGB", (1000, 1000), reduce=True) == 4_000_000
    assert _common.decode_cost("P", (1000, 1000), reduce=False) == 1_000_000
    assert _common.decode_cost("P", (1000, 1000), reduce=True) == 9_000_000
    assert _common.decode_cost("I;16", (1000, 1000), reduce=True) == 6_000_000
