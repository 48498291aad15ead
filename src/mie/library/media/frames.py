"""Sampled video frames shared by every vision operator, so that a video is decoded once per execution.

``Thumbnail`` decodes the source once and stores, besides its proxy and audio, a ``Frames`` media object: an
uncompressed tar of JPEG frames sampled at a fixed rate plus ``manifest.json``. Vision operators read it with
:meth:`FrameSet.open` instead of decoding the video again.

Manifest (version 1)::

    {"version": 1, "fps": 1.0, "width": 640, "height": 360, "source_width": 1280, "source_height": 720,
     "duration": 14.0, "frames": [{"index": 0, "timestamp": 0, "file": "000000.jpg"}, ...]}

``timestamp`` is milliseconds from the start of the media (Rekognition's unit). ``index`` counts sampled frames.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mie.errors import OperatorError
from mie.operators.media import find_tool, last_line

#: The ``Media`` kind under which ``Thumbnail`` stores the frame archive.
FRAMES_KIND = "Frames"
#: The ``Media`` kind under which ``Thumbnail`` stores the audio as 16 kHz mono PCM s16le WAV (what speech models read).
AUDIO16K_KIND = "Audio16k"
MANIFEST = "manifest.json"
#: Default sampling rate (frames per second) and longest side of a sampled frame.
DEFAULT_FPS = 1.0
DEFAULT_MAX_SIDE = 720


@dataclass(frozen=True)
class Frame:
    """One sampled frame: its position and its JPEG file on local disk."""

    index: int
    #: Milliseconds from the start of the media.
    timestamp: int
    path: Path


@dataclass(frozen=True)
class FrameSet:
    """Sampled frames on local disk, in time order."""

    root: Path
    fps: float
    width: int
    height: int
    source_width: int
    source_height: int
    duration: float
    frames: tuple[Frame, ...]

    def __iter__(self) -> Iterator[Frame]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def manifest(self) -> dict[str, Any]:
        """The manifest describing these frames (file names relative to the archive)."""
        return {
            "version": 1,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "source_width": self.source_width,
            "source_height": self.source_height,
            "duration": self.duration,
            "frames": [{"index": f.index, "timestamp": f.timestamp, "file": f.path.name} for f in self.frames],
        }

    def pack(self, archive: Path) -> Path:
        """Write the frames and the manifest into an uncompressed tar (JPEGs do not compress further)."""
        archive.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "w") as tar:
            data = json.dumps(self.manifest()).encode()
            manifest = self.root / MANIFEST
            manifest.write_bytes(data)
            tar.add(manifest, arcname=MANIFEST)
            for frame in self.frames:
                tar.add(frame.path, arcname=frame.path.name)
        return archive

    @classmethod
    def open(cls, archive: Path, into: Path) -> FrameSet:
        """Unpack a frame archive made by :meth:`pack` into the folder ``into`` and describe it."""
        into.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(archive, "r") as tar:
                tar.extractall(into, filter="data")
            manifest = json.loads((into / MANIFEST).read_text())
            frames = tuple(
                Frame(index=int(f["index"]), timestamp=int(f["timestamp"]), path=into / str(f["file"]))
                for f in manifest["frames"]
            )
            return cls(
                root=into,
                fps=float(manifest["fps"]),
                width=int(manifest["width"]),
                height=int(manifest["height"]),
                source_width=int(manifest["source_width"]),
                source_height=int(manifest["source_height"]),
                duration=float(manifest["duration"]),
                frames=frames,
            )
        except (OSError, tarfile.TarError, ValueError, KeyError, TypeError) as exc:
            raise OperatorError(f"the sampled-frames archive {archive.name} is unreadable: {exc}") from exc


def frame_filter(fps: float, max_side: int) -> str:
    """The ffmpeg filter chain that samples ``fps`` frames per second, scaled so the longest side is at most
    ``max_side`` (never upscaled; even sizes for the encoders)."""
    scale = (
        f"scale='if(gt(iw,ih),min({max_side},iw),-2)':'if(gt(iw,ih),-2,min({max_side},ih))'" if max_side > 0 else "null"
    )
    return f"fps={fps:g}:round=up,{scale}"


def collect(out_dir: Path, *, fps: float, source_width: int, source_height: int, duration: float) -> FrameSet:
    """Describe the JPEGs an ffmpeg ``frame_filter`` output wrote as ``%06d.jpg`` (numbered from 0)."""
    files = sorted(out_dir.glob("*.jpg"))
    frames = tuple(Frame(index=i, timestamp=round(i * 1000 / fps), path=path) for i, path in enumerate(files))
    width = height = 0
    if files:
        width, height = _jpeg_size(files[0])
    return FrameSet(
        root=out_dir,
        fps=fps,
        width=width,
        height=height,
        source_width=source_width,
        source_height=source_height,
        duration=duration,
        frames=frames,
    )


def extract(
    video: Path,
    out_dir: Path,
    *,
    fps: float = DEFAULT_FPS,
    max_side: int = DEFAULT_MAX_SIDE,
    source_width: int = 0,
    source_height: int = 0,
    duration: float = 0.0,
    ffmpeg: str = "ffmpeg",
) -> FrameSet:
    """Sample frames from ``video`` in one ffmpeg pass (for tests and operators that have no ``Frames`` input;
    ``Thumbnail`` produces them in its own single decoding pass)."""
    tool = find_tool(ffmpeg)
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        tool, "-nostdin", "-v", "error", "-i", str(video), "-an", "-sn", "-dn",
        "-vf", frame_filter(fps, max_side), "-q:v", "3", "-start_number", "0", str(out_dir / "%06d.jpg"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise OperatorError(f"could not decode frames from {video.name}: {last_line(proc.stderr, proc.returncode)}")
    return collect(out_dir, fps=fps, source_width=source_width, source_height=source_height, duration=duration)


def _jpeg_size(path: Path) -> tuple[int, int]:
    """Width and height from a JPEG's SOF marker (no imaging library needed)."""
    data = path.read_bytes()
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + length
    return 0, 0
