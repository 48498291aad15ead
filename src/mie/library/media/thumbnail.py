"""``Thumbnail``: everything later operators need from a video, made in ONE ffmpeg decoding pass.

MIE ran a MediaConvert job with three outputs (a JPEG frame capture, an AAC audio MP4 and an H.264 proxy). This
operator runs one ffmpeg command whose decoded frames and samples feed five outputs at once:

============  ==============================================================  ==========================
Media kind    What                                                            File
============  ==============================================================  ==========================
Thumbnail     JPEG at ``ThumbnailPosition`` seconds (clamped into the video)   ``<name>_thumbnail.jpg``
ProxyEncode   browser-playable H.264/AAC MP4 (yuv420p, +faststart, <=720p)     ``<name>_proxy.mp4``
Audio         the first audio track as AAC in MP4                              ``<name>_audio.mp4``
Audio16k      16 kHz mono PCM s16le WAV, what the speech operators read       ``<name>_audio16k.wav``
Frames        JPEG frames sampled at ``FrameRate`` (see :mod:`.frames`)        ``<name>_frames.tar``
============  ==============================================================  ==========================

A video without audio gets no ``Audio``/``Audio16k`` output (so audio operators later are skipped) and says so in
its MetaData.

Upright pictures: ffmpeg applies a video's rotation (display matrix) when it decodes, so every output is upright, and
the frames' ``source_width``/``source_height`` are the upright size too. Given an ``Image`` instead of a ``Video``
(with ``MediaType: Image`` in its configuration), it makes only the ``Thumbnail``, with Pillow, after applying the
photo's EXIF orientation (ffmpeg 5 ignores EXIF, so a phone photo would come out on its side).
"""

from __future__ import annotations

import importlib
import math
import re
import shutil
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

from mie.errors import OperatorError
from mie.library.media.frames import AUDIO16K_KIND, FRAMES_KIND, collect, frame_filter
from mie.library.media.tools import Probe, Reporter, check_complete, probe, run_ffmpeg
from mie.operators import OperatorContext, operator
from mie.operators.dependencies import MissingDependencyError
from mie.types import MediaType

#: MIE's default position of the thumbnail (seconds).
DEFAULT_POSITION = 7.0
DEFAULTS: dict[str, Any] = {
    "ThumbnailPosition": DEFAULT_POSITION,
    "ThumbnailMaxSide": 1280,
    "ProxyMaxHeight": 720,
    "ProxyCrf": 23,
    # ultrafast: about 3x faster than veryfast at the same CRF (visually similar, files about 3x larger); the proxy
    # encode dominates a video workflow's run time, and MIE's proxy was 5 Mb/s anyway.
    "ProxyPreset": "ultrafast",
    "FrameRate": 1.0,
    "FrameMaxSide": 720,
}
_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
#: Packets ffmpeg may queue per output stream while another output waits (several outputs, sparse streams).
_MUX_QUEUE = ["-max_muxing_queue_size", "4096"]


def _number(ctx: OperatorContext, key: str, *, minimum: float, maximum: float) -> float:
    value = ctx.config(key, DEFAULTS[key])
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (minimum <= number <= maximum):
        raise OperatorError(f"{ctx.name}: configuration {key} must be a number from {minimum:g} to {maximum:g}, "
                            f"not {value!r}")  # fmt: skip
    return number


def thumbnail_position(requested: float, duration: float, fps: float) -> float:
    """The requested position clamped into the video: at most one frame before its end (0 for an unknown length)."""
    if duration <= 0:
        return 0.0
    last = max(0.0, duration - max(1.0 / fps, 0.04) * 1.5)
    return round(min(max(0.0, requested), last), 3)


def _fit(max_side: int) -> str:
    """Scale so the longest side is at most ``max_side`` (never up)."""
    return f"scale='if(gt(iw,ih),min({max_side},iw),-2)':'if(gt(iw,ih),-2,min({max_side},ih))'"


def proxy_scale(max_height: int) -> str:
    """Scale so the shorter side is at most ``max_height`` ("720p" for landscape and portrait), even sizes."""
    short = f"trunc(min({max_height},%s)/2)*2"
    return f"scale='if(gte(iw,ih),-2,{short % 'iw'})':'if(gte(iw,ih),{short % 'ih'},-2)'"


def upright_size(info: Probe) -> tuple[int, int]:
    """The video's width and height as shown: swapped when its rotation is a quarter turn."""
    rotation = 0.0
    stream = info.video or {}
    for side in stream.get("side_data_list") or []:
        if isinstance(side, dict) and "rotation" in side:
            rotation = float(side.get("rotation") or 0)
    tags = stream.get("tags") or {}
    if not rotation and isinstance(tags, dict) and tags.get("rotate"):
        try:
            rotation = float(tags["rotate"])
        except (TypeError, ValueError):
            rotation = 0.0
    if round(rotation) % 180 == 90:
        return info.height, info.width
    return info.width, info.height


def _image_thumbnail(ctx: OperatorContext, max_side: int) -> dict[str, Any]:
    """The ``Thumbnail`` of a photo: upright (EXIF orientation applied), at most ``max_side`` pixels, JPEG."""
    try:
        image_module = importlib.import_module("PIL.Image")
        ops = importlib.import_module("PIL.ImageOps")
    except ImportError as exc:
        raise MissingDependencyError(
            "Pillow", "pip install pillow", needed_by=f"{ctx.name}: a thumbnail of an image", cause=exc
        ) from exc
    src = ctx.input_file("Image")
    _, key = ctx.media_location("Image")
    name = PurePosixPath(key).name
    if src.stat().st_size == 0:
        raise OperatorError(f"{ctx.name}: the input image {name} is empty (0 bytes)")
    stem = re.sub(r"[^\w.-]+", "_", PurePosixPath(key).stem).strip("._") or "image"
    out = ctx.scratch / f"{stem}_thumbnail.jpg"
    try:
        with src.open("rb") as handle, warnings.catch_warnings():
            # Pillow's own hard limit (about 179 megapixels) raises below; its warning short of that is no error.
            warnings.simplefilter("ignore", image_module.DecompressionBombWarning)
            image = image_module.open(handle)
            if image.format == "JPEG":
                image.draft("RGB", (max_side, max_side))  # decode at reduced scale, never below max_side
            image.load()
            image = ops.exif_transpose(image)
            image.thumbnail((max_side, max_side), image_module.Resampling.LANCZOS)
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                background = image_module.new("RGB", rgba.size, (255, 255, 255))
                background.paste(rgba, mask=rgba.getchannel("A"))
                image = background
            image.convert("RGB").save(out, "JPEG", quality=90)
    except image_module.DecompressionBombError as exc:
        raise OperatorError(f"{ctx.name}: the input image {name} is too large: {exc}") from exc
    except image_module.UnidentifiedImageError as exc:
        raise OperatorError(f"{ctx.name}: the input file {name} is not a readable image") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise OperatorError(f"{ctx.name}: the input image {name} is corrupt or truncated: {exc}") from exc
    ctx.add_media("Thumbnail", out)
    return {"ThumbnailPosition": "0", "AssetId": ctx.asset_id, "WorkflowExecutionId": ctx.workflow_execution_id}


def _command(info: Probe, src: Path, out: dict[str, Path], *, position: float, settings: dict[str, Any]) -> list[str]:
    video = f"0:{info.video['index']}" if info.video else "0:v:0"
    audio = f"0:{info.audio['index']}" if info.audio else None
    channels = str(min(2, int(info.audio.get("channels") or 2))) if info.audio else "2"
    args = ["-v", "error", "-y", "-i", str(src)]
    # Thumbnail: select passes the first frame at or after the position and nothing else, so this branch of the
    # single decoding pass costs nothing before or after that frame.
    pick = f"select='gte(t,{position:.3f})*eq(selected_n,0)',{_fit(int(settings['ThumbnailMaxSide']))}"
    args += ["-map", video, "-an", "-sn", "-dn", "-vf", pick, "-frames:v", "1", "-update", "1", "-q:v", "2",
             str(out["Thumbnail"])]  # fmt: skip
    args += ["-map", video]
    if audio is not None:
        args += ["-map", audio, "-c:a", "aac", "-b:a", "128k", "-ac", channels]
    args += ["-sn", "-dn", "-vf", f"{proxy_scale(int(settings['ProxyMaxHeight']))},format=yuv420p",
             "-c:v", "libx264", "-preset", str(settings["ProxyPreset"]), "-crf", f"{settings['ProxyCrf']:g}",
             "-movflags", "+faststart", *_MUX_QUEUE, str(out["ProxyEncode"])]  # fmt: skip
    if audio is not None:
        args += ["-map", audio, "-vn", "-sn", "-dn", "-c:a", "aac", "-b:a", "128k", "-ac", channels,
                 *_MUX_QUEUE, str(out["Audio"])]  # fmt: skip
        args += ["-map", audio, "-vn", "-sn", "-dn", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le",
                 *_MUX_QUEUE, str(out[AUDIO16K_KIND])]  # fmt: skip
    sample = frame_filter(float(settings["FrameRate"]), int(settings["FrameMaxSide"]))
    args += ["-map", video, "-an", "-sn", "-dn", "-vf", sample, "-q:v", "3", "-start_number", "0",
             str(out[FRAMES_KIND] / "%06d.jpg")]  # fmt: skip
    return args


@operator(
    "Thumbnail",
    media_type="Video",
    configuration=DEFAULTS,
    timeout=6 * 3600,
    description="Thumbnail, H.264/AAC proxy, audio track, 16 kHz mono audio and sampled frames, in one decoding pass.",
)
def thumbnail(ctx: OperatorContext) -> dict[str, Any]:
    """Decode the video once into a thumbnail, a proxy, its audio (AAC and 16 kHz WAV) and sampled frames."""
    settings: dict[str, Any] = {
        "ThumbnailMaxSide": _number(ctx, "ThumbnailMaxSide", minimum=16, maximum=8192),
        "ProxyMaxHeight": _number(ctx, "ProxyMaxHeight", minimum=64, maximum=4320),
        "ProxyCrf": _number(ctx, "ProxyCrf", minimum=0, maximum=51),
        "ProxyPreset": str(ctx.config("ProxyPreset", DEFAULTS["ProxyPreset"])),
        "FrameRate": _number(ctx, "FrameRate", minimum=0.01, maximum=60),
        "FrameMaxSide": _number(ctx, "FrameMaxSide", minimum=16, maximum=8192),
    }
    if settings["ProxyPreset"] not in _PRESETS:
        raise OperatorError(f"{ctx.name}: ProxyPreset must be one of {', '.join(_PRESETS)}")
    requested = _number(ctx, "ThumbnailPosition", minimum=0, maximum=1e7)
    if MediaType.VIDEO not in ctx.input_media and MediaType.IMAGE in ctx.input_media:
        return _image_thumbnail(ctx, int(settings["ThumbnailMaxSide"]))

    src = ctx.input_file("Video")
    _, key = ctx.media_location("Video")
    # Output names come from the upload's name; keep them plain (ffmpeg's image muxer reads "%" as a pattern).
    stem = re.sub(r"[^\w.-]+", "_", PurePosixPath(key).stem).strip("._") or "video"
    ctx.progress(1, "probing the video")
    info = probe(src, ctx.name)
    info.require_video(ctx.name)
    position = thumbnail_position(requested, info.duration, float(info.fps))

    work = ctx.scratch / "out"
    out = {
        "Thumbnail": work / f"{stem}_thumbnail.jpg",
        "ProxyEncode": work / f"{stem}_proxy.mp4",
        "Audio": work / f"{stem}_audio.mp4",
        AUDIO16K_KIND: work / f"{stem}_audio16k.wav",
        FRAMES_KIND: work / "frames",
    }
    out[FRAMES_KIND].mkdir(parents=True, exist_ok=True)
    run = run_ffmpeg(
        ctx,
        _command(info, src, out, position=position, settings=settings),
        what=f"{ctx.name}: encoding {PurePosixPath(key).name}",
        reporter=Reporter(ctx, "encoding", info.duration, start=2, end=90),
        log_path=ctx.scratch / "ffmpeg.log",
    )
    width, height = upright_size(info)
    frames = collect(
        out[FRAMES_KIND],
        fps=settings["FrameRate"],
        source_width=width,
        source_height=height,
        duration=info.duration,
    )
    if not frames.frames:
        raise OperatorError(f"{ctx.name}: no video frame of {PurePosixPath(key).name} could be decoded")
    check_complete(ctx.name, PurePosixPath(key).name, run.out_time, info.duration, run.damage())
    if not _nonempty(out["Thumbnail"]):
        # The position fell past the last decodable frame: use the sampled frame nearest to it (no new decoding).
        nearest = min(frames.frames, key=lambda f: abs(f.timestamp - position * 1000))
        shutil.copyfile(nearest.path, out["Thumbnail"])
        position = nearest.timestamp / 1000
    for kind in ("ProxyEncode", *((("Audio", AUDIO16K_KIND)) if info.audio else ())):
        if not _nonempty(out[kind]):
            raise OperatorError(f"{ctx.name}: ffmpeg wrote no {kind} output for {PurePosixPath(key).name}")
    ctx.check_cancelled()

    ctx.progress(92, "storing outputs")
    archive = frames.pack(ctx.scratch / f"{stem}_frames.tar")
    ctx.add_media("Thumbnail", out["Thumbnail"])
    ctx.add_media("ProxyEncode", out["ProxyEncode"])
    if info.audio:
        ctx.add_media("Audio", out["Audio"])
        ctx.add_media(AUDIO16K_KIND, out[AUDIO16K_KIND])
    ctx.add_media(FRAMES_KIND, archive)
    ctx.progress(100, "done")
    return {
        "ThumbnailPosition": f"{position:g}",
        "ThumbnailFrames": str(len(frames)),
        "ThumbnailFrameRate": f"{settings['FrameRate']:g}",
        "ThumbnailAudio": (
            f"extracted: Audio and {AUDIO16K_KIND}"
            if info.audio
            else f"skipped: the video has no audio track (no Audio or {AUDIO16K_KIND} output)"
        ),
        "AssetId": ctx.asset_id,
        "WorkflowExecutionId": ctx.workflow_execution_id,
    }


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0
