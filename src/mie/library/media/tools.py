"""ffprobe and ffmpeg for the media operators: probing a file, and running one ffmpeg command with progress,
cancellation, a time limit and a stall watchdog, so a damaged file fails with a clear message instead of hanging.

The subprocess machinery itself is the SDK's (:mod:`mie.operators.media`, shared with the transcode jobs); this
module words its results for operators. Every function raises :class:`~mie.errors.OperatorError` with a message a
user can act on (which file, what is wrong, what to install).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from mie.errors import OperatorError
from mie.operators import OperatorContext
from mie.operators.media import (
    PROBE_TIMEOUT,
    STALL_TIMEOUT,
    MediaProcess,
    ProbeFailedError,
    Watchdog,
    ffprobe_json,
    find_tool,
    last_line,
    read_lines,
)

#: Container formats that hold one still picture: a video operator given one of these was handed a mislabelled file.
_STILL_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "gif_pipe", "tiff_pipe", "svg_pipe")
_DETECTORS = ("blackdetect", "silencedetect", "freezedetect")
_STILL_CODECS = ("png", "mjpeg", "bmp", "tiff", "webp", "gif", "jpeg2000", "svg")


@dataclass(frozen=True)
class Probe:
    """What ffprobe says about a file: its container and the streams the operators use."""

    path: Path
    format_name: str
    format_long_name: str
    duration: float
    bit_rate: int
    #: The first video stream that is not cover art, or None.
    video: dict[str, Any] | None
    #: The first audio stream, or None.
    audio: dict[str, Any] | None
    audio_streams: int
    raw: dict[str, Any] = field(repr=False)

    @property
    def width(self) -> int:
        """Width of the video stream in pixels (0 without video)."""
        return int(self.video.get("width") or 0) if self.video else 0

    @property
    def height(self) -> int:
        """Height of the video stream in pixels (0 without video)."""
        return int(self.video.get("height") or 0) if self.video else 0

    @property
    def fps(self) -> Fraction:
        """The video's frame rate (average rate, else the stream's base rate; 25 when neither is known)."""
        if self.video:
            for key in ("avg_frame_rate", "r_frame_rate"):
                rate = _fraction(self.video.get(key))
                if rate is not None and 0 < rate <= 1000:
                    return rate
        return Fraction(25)

    @property
    def video_duration(self) -> float:
        """Seconds of the video stream (the container's duration when the stream does not say)."""
        seconds = _float(self.video.get("duration")) if self.video else 0.0
        return seconds if seconds > 0 else self.duration

    @property
    def is_still(self) -> bool:
        """True when the "video" is one still picture (an image file given where a video was expected)."""
        if self.format_name in _STILL_FORMATS or self.format_name.endswith("_pipe"):
            return True
        if self.video is None:
            return False
        frames = str(self.video.get("nb_frames") or "")
        return str(self.video.get("codec_name")) in _STILL_CODECS and (frames in ("", "1")) and self.duration <= 0.1

    def require_video(self, what: str) -> None:
        """Fail unless the file has a real (moving) video stream."""
        if self.video is None:
            raise OperatorError(f"{what}: {self.path.name} has no video stream (container: {self.format_long_name})")
        if self.is_still:
            raise OperatorError(
                f"{what}: {self.path.name} is a still image ({self.video.get('codec_name')}), not a video"
            )


def _fraction(value: Any) -> Fraction | None:
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def probe(path: Path, what: str) -> Probe:
    """Probe ``path`` with ffprobe (headers only). A zero-byte, corrupt or unknown file fails with a clear message."""
    if not path.is_file():
        raise OperatorError(f"{what}: the input file {path.name} does not exist")
    if path.stat().st_size == 0:
        raise OperatorError(f"{what}: the input file {path.name} is empty (0 bytes)")
    try:
        raw = ffprobe_json(find_tool("ffprobe"), path, timeout=PROBE_TIMEOUT)
    except ProbeFailedError as exc:
        if exc.timed_out:
            raise OperatorError(
                f"{what}: ffprobe did not finish reading {path.name} within {PROBE_TIMEOUT:g} s"
            ) from exc
        if exc.returncode is not None:
            raise OperatorError(
                f"{what}: {path.name} is not a readable media file ({last_line(exc.stderr, exc.returncode)})"
            ) from exc
        raise OperatorError(f"{what}: {exc}") from exc
    fmt = raw.get("format") or {}
    streams = [s for s in raw.get("streams") or [] if isinstance(s, dict)]
    videos = [
        s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    duration = _float(fmt.get("duration"))
    if duration <= 0:
        duration = max((_float(s.get("duration")) for s in streams), default=0.0)
    return Probe(
        path=path,
        format_name=str(fmt.get("format_name") or ""),
        format_long_name=str(fmt.get("format_long_name") or fmt.get("format_name") or "unknown"),
        duration=duration,
        bit_rate=int(_float(fmt.get("bit_rate"))),
        video=videos[0] if videos else None,
        audio=audios[0] if audios else None,
        audio_streams=len(audios),
        raw=raw,
    )


def check_complete(what: str, name: str, decoded: float, duration: float, damage: str = "") -> None:
    """Fail when far less of the media could be decoded than its header declares (a truncated or damaged file
    that ffmpeg reads "successfully" up to where the data ends)."""
    if duration > 2 and decoded < duration * 0.9 - 1.0:
        why = f" ({damage})" if damage else ""
        raise OperatorError(
            f"{what}: {name} is truncated or damaged: only {decoded:.1f} s of its {duration:.1f} s could be "
            f"decoded{why}"
        )


class Reporter:
    """Turns a position in the media into throttled ``ctx.progress`` calls over a percent range."""

    def __init__(
        self, ctx: OperatorContext, what: str, duration: float, *, start: float = 0.0, end: float = 100.0
    ) -> None:
        self.ctx = ctx
        self.what = what
        self.duration = duration
        self.start = start
        self.end = end
        self._last = 0.0

    def at(self, seconds: float, *, force: bool = False) -> None:
        """Report that ``seconds`` of the media are done (at most about once a second)."""
        now = time.monotonic()
        if not force and now - self._last < 1.0:
            return
        self._last = now
        fraction = min(1.0, max(0.0, seconds / self.duration)) if self.duration > 0 else 0.0
        total = f" of {self.duration:.0f}" if self.duration > 0 else ""
        self.ctx.progress(self.start + (self.end - self.start) * fraction, f"{self.what}: {seconds:.0f}{total} s")


def run_ffmpeg(
    ctx: OperatorContext,
    args: Sequence[str],
    *,
    what: str,
    reporter: Reporter | None = None,
    log_path: Path | None = None,
    stall: float = STALL_TIMEOUT,
) -> FfmpegRun:
    """Run ``ffmpeg <args>`` with ``-progress pipe:1``; report progress, stop it on cancellation, time limit or stall.
    Returns ffmpeg's log (the detection filters write their findings there) and how far it got in the media."""
    log_path = log_path or ctx.scratch / f"ffmpeg-{time.monotonic_ns()}.log"
    cmd = [find_tool("ffmpeg"), "-hide_banner", "-nostdin", "-nostats", "-progress", "pipe:1", *args]
    watchdog = Watchdog(ctx, what, stall=stall)
    out_time = 0.0
    with MediaProcess(cmd, log_path=log_path, check=watchdog.check) as proc:
        for line in proc.items(read_lines):
            watchdog.alive()
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.strip().lstrip("-").isdigit():
                out_time = max(out_time, int(value) / 1e6)
                if reporter is not None:
                    reporter.at(out_time)
            watchdog.check()
        returncode = proc.wait()
    stderr = proc.log()
    if returncode != 0:
        raise OperatorError(f"{what} failed: {last_line(_errors_only(stderr), returncode)}")
    return FfmpegRun(log=stderr, out_time=out_time)


@dataclass(frozen=True)
class FfmpegRun:
    """What one ffmpeg command left: its log and the furthest output position it reached (seconds)."""

    log: str
    out_time: float

    def damage(self) -> str:
        """A short note when the log shows the input was damaged or cut short ("" otherwise)."""
        for needle in ("partial file", "Invalid data found", "corrupt", "error while decoding"):
            if needle.lower() in self.log.lower():
                return needle
        return ""


def _errors_only(stderr: str) -> str:
    """ffmpeg's log without the findings the detection filters print (to pick an error line from it)."""
    return "\n".join(line for line in stderr.splitlines() if not any(f"[{name} @" in line for name in _DETECTORS))
