"""ffprobe: the input's streams as MediaConvert's ``inputDetails``, its frame count, and facts about outputs."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from mie.operators import media
from mie.operators.media import ProbeFailedError
from mie.types import JSONDict

_CODECS = {"h264": "H_264", "hevc": "H_265", "mpeg2video": "MPEG2", "vp9": "VP9", "av1": "AV1", "prores": "PRORES"}
_AUDIO = {"aac": "AAC", "mp3": "MP3", "ac3": "AC3", "eac3": "EAC3", "opus": "OPUS", "pcm_s16le": "PCM"}
#: mediainfo's names (the sample's ``analysis.codec``).
_FORMATS = {"h264": "AVC", "hevc": "HEVC", "mpeg2video": "MPEG Video", "vp9": "VP9", "av1": "AV1"}


#: ffprobe failed or found nothing to transcode (the SDK's error, under the name the jobs use).
ProbeError = ProbeFailedError
#: What a job's error says to do when ffmpeg or ffprobe is missing.
INSTALL = "apt-get install ffmpeg (or set MIE_FFMPEG / MIE_FFPROBE)"


def find_tool(name: str) -> str:
    """The path of ``name`` (ffmpeg / ffprobe); :class:`~mie.operators.MissingDependencyError` naming the package
    when missing."""
    return media.find_tool(name, INSTALL)


def ffprobe(tool: str, path: Path, timeout: float = 60.0) -> JSONDict:
    """ffprobe's JSON for ``path`` (streams and format)."""
    return media.ffprobe_json(tool, path, timeout)


def _rate(text: Any) -> float:
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(value) if value > 0 else 0.0


@dataclass(frozen=True)
class InputInfo:
    """What the job needs to know about its input."""

    details: JSONDict
    frame_count: int
    duration: float
    fps: float
    has_audio: bool
    codec: str


def describe_input(probe: JSONDict, uri: str) -> InputInfo:
    """MediaConvert's ``inputDetails`` entry for one input (plus our ``frameCount`` and ``durationInMs``)."""
    streams = probe.get("streams") or []
    video = [
        s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not video:
        raise ProbeError("the input has no video stream")
    v = video[0]
    fps = _rate(v.get("avg_frame_rate")) or _rate(v.get("r_frame_rate"))
    duration = float(v.get("duration") or (probe.get("format") or {}).get("duration") or 0.0)
    if duration <= 0:
        raise ProbeError("the input's duration is unknown (truncated or not a media file)")
    frames = int(v["nb_frames"]) if str(v.get("nb_frames", "")).isdigit() else round(duration * fps)
    details: JSONDict = {
        "id": 1,
        "uri": uri,
        "video": [
            {
                "streamId": int(s.get("index", 0)) + 1,
                "codec": _CODECS.get(str(s.get("codec_name")), str(s.get("codec_name", "")).upper()),
                "width": int(s.get("width") or 0),
                "height": int(s.get("height") or 0),
                "frameRate": round(_rate(s.get("avg_frame_rate")), 3),
                "sar": str(s.get("sample_aspect_ratio") or "1:1"),
                "bitDepth": int(s.get("bits_per_raw_sample") or 8),
                "interlaceMode": "PROGRESSIVE"
                if s.get("field_order", "progressive") == "progressive"
                else "INTERLACED",
                "colorFormat": "YUV_420" if "420" in str(s.get("pix_fmt", "")) else str(s.get("pix_fmt", "")).upper(),
                "standard": "UNSPECIFIED",
                "fourCC": str(s.get("codec_tag_string") or ""),
            }
            for s in video
        ],
        "audio": [
            {
                "streamId": int(s.get("index", 0)) + 1,
                "codec": _AUDIO.get(str(s.get("codec_name")), str(s.get("codec_name", "")).upper()),
                "channels": int(s.get("channels") or 0),
                "sampleRate": int(s.get("sample_rate") or 0),
                "language": str((s.get("tags") or {}).get("language", "und")).upper(),
            }
            for s in audio
        ],
        "data": None,
        "frameCount": frames,
        "durationInMs": round(duration * 1000),
    }
    codec = _FORMATS.get(str(v.get("codec_name")), str(v.get("codec_name", "")).upper())
    return InputInfo(details, frames, duration, fps or 25.0, bool(audio), codec)


def output_facts(tool: str, path: Path) -> JSONDict:
    """``{durationInMs, videoDetails{widthInPx, heightInPx}}`` of a written output, plus its H.264 profile/level."""
    probe = ffprobe(tool, path)
    streams = probe.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    duration = float((probe.get("format") or {}).get("duration") or (video or {}).get("duration") or 0.0)
    facts: JSONDict = {
        "durationInMs": round(duration * 1000),
        "_audio": any(s.get("codec_type") == "audio" for s in streams),
    }
    if video is not None:
        facts["videoDetails"] = {"widthInPx": int(video.get("width") or 0), "heightInPx": int(video.get("height") or 0)}
        facts["_profile"] = str(video.get("profile") or "")
        facts["_level"] = int(video.get("level") or 0)
    return facts
