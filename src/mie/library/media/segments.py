"""Rekognition ``GetSegmentDetection`` shapes shared by ``shotDetection`` and ``technicalCueDetection``.

A segment covers frames ``[StartFrameNumber, EndFrameNumber)``: ``EndFrameNumber`` is the first frame after it (the
frame where the next segment starts), so ``DurationFrames = EndFrameNumber - StartFrameNumber`` and the same holds
for milliseconds and timecodes, as in AWS's own examples. Milliseconds are rounded down, as AWS documents.
Timecodes are SMPTE ``HH:MM:SS:FF``, drop-frame ``HH:MM:SS;FF`` for 29.97 and 59.94 fps.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import PurePosixPath
from typing import Any

from mie.library.media.tools import Probe
from mie.operators import OperatorContext
from mie.types import MediaType

MODEL_VERSION = "mie-1.0"


def _is_drop_frame(fps: Fraction) -> bool:
    return any(abs(float(fps) - nominal * 1000 / 1001) < 0.01 for nominal in (30, 60))


def smpte(frame: int, fps: Fraction) -> str:
    """SMPTE timecode of a frame index (drop-frame for 29.97/59.94 fps)."""
    frame = max(0, int(frame))
    nominal = max(1, round(float(fps)))
    separator = ":"
    if _is_drop_frame(fps):
        # Drop-frame: frame numbers 0 and 1 (2 and 3 at 59.94) are skipped every minute except every tenth minute.
        separator = ";"
        drop = 2 * nominal // 30
        per_ten_minutes = nominal * 600 - drop * 9
        per_minute = nominal * 60 - drop
        tens, rest = divmod(frame, per_ten_minutes)
        frame += drop * 9 * tens + (drop * ((rest - drop) // per_minute) if rest > drop else 0)
    frames = frame % nominal
    seconds = frame // nominal
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{separator}{frames:02d}"


def millis(frame: int, fps: Fraction) -> int:
    """Milliseconds from the start to a frame, rounded down."""
    return math.floor(Fraction(frame) * 1000 / fps)


def segment(kind: str, start_frame: int, end_frame: int, fps: Fraction, detail: dict[str, Any]) -> dict[str, Any]:
    """One ``SegmentDetection`` covering frames ``[start_frame, end_frame)``; ``detail`` is the ``ShotSegment`` or
    ``TechnicalCueSegment``."""
    end_frame = max(end_frame, start_frame)
    start_ms, end_ms = millis(start_frame, fps), millis(end_frame, fps)
    body: dict[str, Any] = {
        "Type": kind,
        "StartTimestampMillis": start_ms,
        "EndTimestampMillis": end_ms,
        "DurationMillis": end_ms - start_ms,
        "StartTimecodeSMPTE": smpte(start_frame, fps),
        "EndTimecodeSMPTE": smpte(end_frame, fps),
        "DurationSMPTE": smpte(end_frame - start_frame, fps),
        "StartFrameNumber": start_frame,
        "EndFrameNumber": end_frame,
        "DurationFrames": end_frame - start_frame,
    }
    body["ShotSegment" if kind == "SHOT" else "TechnicalCueSegment"] = detail
    return body


def frame_at(seconds: float, fps: Fraction) -> int:
    """The frame index shown at ``seconds`` (nearest frame boundary: detection filters report frame start times)."""
    return max(0, round(Fraction(seconds).limit_denominator(1_000_000) * fps))


def total_frames(info: Probe) -> int:
    """Frames in the video (from the stream's count, else its duration)."""
    if info.video:
        count = str(info.video.get("nb_frames") or "")
        if count.isdigit() and int(count) > 0:
            return int(count)
    return max(1, frame_at(info.duration, info.fps))


def video_metadata(info: Probe) -> list[dict[str, Any]]:
    """Rekognition's ``VideoMetadata`` list for the analysed file."""
    if info.video is None:
        return []
    color_range = "FULL" if str(info.video.get("color_range")) in ("pc", "jpeg") else "LIMITED"
    return [
        {
            "Codec": str(info.video.get("codec_name") or ""),
            "DurationMillis": int(info.duration * 1000),
            "Format": info.format_long_name,
            "FrameRate": round(float(info.fps), 3),
            "FrameHeight": info.height,
            "FrameWidth": info.width,
            "ColorRange": color_range,
        }
    ]


def audio_metadata(info: Probe) -> list[dict[str, Any]]:
    """Rekognition's ``AudioMetadata`` list for the analysed file."""
    if info.audio is None:
        return []
    return [
        {
            "Codec": str(info.audio.get("codec_name") or ""),
            "DurationMillis": int(float(info.audio.get("duration") or info.duration) * 1000),
            "SampleRate": int(info.audio.get("sample_rate") or 0),
            "NumberOfChannels": int(info.audio.get("channels") or 0),
        }
    ]


def response(info: Probe, segments: list[dict[str, Any]], types: list[str]) -> dict[str, Any]:
    """The whole ``GetSegmentDetection`` response for one finished job."""
    return {
        "JobStatus": "SUCCEEDED",
        "VideoMetadata": video_metadata(info),
        "AudioMetadata": audio_metadata(info),
        "Segments": segments,
        "SelectedSegmentTypes": [{"Type": t, "ModelVersion": MODEL_VERSION} for t in types],
    }


def analysed_video(ctx: OperatorContext) -> tuple[str, Any]:
    """Which input to analyse: the proxy made by ``Thumbnail`` when there is one (smaller, always decodable, the
    same frames and timing), else the source video, as MIE's Rekognition operators read ``ProxyEncode``."""
    kind = "ProxyEncode" if "ProxyEncode" in ctx.input_media else MediaType.VIDEO
    path = ctx.input_file(kind)
    _, key = ctx.media_location(kind)
    return PurePosixPath(key).name, path
