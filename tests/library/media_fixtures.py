"""Test media generated with ffmpeg lavfi (nothing is stored in git): the scene clip and a few broken files.

``scenes.mp4`` is 14 s of 640x360 at 25 fps: red 0-3 s, green 3-6 s, blue 6-9 s, black 9-11 s, testsrc 11-14 s,
with audio tone 0-3 s, silence 3-6 s, tone 6-9 s, silence 9-11 s, tone 11-14 s. Cuts fall on frames 75, 150,
225 and 275.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

FPS = 25
#: (start s, end s, colour) of each scene; None for the moving test pattern.
SCENES: list[tuple[int, int, tuple[int, int, int] | None]] = [
    (0, 3, (255, 0, 0)),
    (3, 6, (0, 128, 0)),
    (6, 9, (0, 0, 255)),
    (9, 11, (0, 0, 0)),
    (11, 14, None),
]
CUT_FRAMES = [75, 150, 225, 275]
SILENCES = [(3.0, 6.0), (9.0, 11.0)]
DURATION = 14.0


def have_ffmpeg() -> bool:
    """True when the Debian ffmpeg and ffprobe are installed."""
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True, timeout=120)


def make_scenes(path: Path) -> Path:
    """The 14 s scene clip (H.264/AAC MP4, moov at the end as ffmpeg writes it by default)."""
    colours = {(255, 0, 0): "red", (0, 128, 0): "green", (0, 0, 255): "blue", (0, 0, 0): "black"}
    inputs: list[str] = []
    for start, end, colour in SCENES:
        source = f"color=c={colours[colour]}:" if colour is not None else "testsrc="
        inputs += ["-f", "lavfi", "-i", f"{source}s=640x360:r={FPS}:d={end - start}"]
    for index, (start, end, _) in enumerate(SCENES):
        tone = index % 2 == 0
        spec = f"sine=f={440 + 110 * index}:sample_rate=44100:d={end - start}"
        silence = f"anullsrc=r=44100:cl=mono:d={end - start}"
        inputs += ["-f", "lavfi", "-i", spec if tone else silence]
    n = len(SCENES)
    video = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
    audio = "".join(f"[{n + i}:a]" for i in range(n)) + f"concat=n={n}:v=0:a=1[a]"
    _ffmpeg(
        *inputs, "-filter_complex", f"{video};{audio}", "-map", "[v]", "-map", "[a]",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path),
    )  # fmt: skip
    return path


def make_silent_video(path: Path, seconds: int = 4) -> Path:
    """A testsrc video with no audio track at all."""
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=s=320x240:r={FPS}:d={seconds}", "-c:v", "libx264", "-preset", "veryfast",
            "-pix_fmt", "yuv420p", str(path))  # fmt: skip
    return path


def make_truncated(source: Path, path: Path) -> Path:
    """The first half of ``source`` (an MP4 whose index is at the end, so the index is lost)."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_truncated_indexed(source: Path, path: Path) -> Path:
    """The first half of ``source`` remuxed with its index first: headers read fine, the data stops halfway."""
    full = path.with_name("faststart-" + path.name)
    _ffmpeg("-i", str(source), "-c", "copy", "-movflags", "+faststart", str(full))
    make_truncated(full, path)
    full.unlink()
    return path


def make_corrupt(path: Path, size: int = 4096) -> Path:
    """Random bytes named like a video."""
    path.write_bytes(os.urandom(size))
    return path
