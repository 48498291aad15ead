"""``shotDetection``: shot boundaries in Rekognition ``GetSegmentDetection`` shape (``Type: SHOT``).

Cuts are content-based: PySceneDetect's ContentDetector compares consecutive frames in HSV (hue, saturation and
luma), so a cut from red to green, where brightness hardly changes, is found as well as a cut to black. ffmpeg
decodes and downsizes the frames (one decoder for every format ffmpeg reads, a subprocess that can be stopped) and
pipes them to the detector.

``Confidence`` of a shot is that of the cut that starts it: 50 when the frame difference just reaches
``Threshold``, rising linearly to 100 at twice the threshold; the first shot has 100.
"""

from __future__ import annotations

import importlib
from fractions import Fraction
from pathlib import Path
from typing import Any

from mie.errors import OperatorError
from mie.library.media import segments
from mie.library.media.tools import Probe, Reporter, check_complete, probe
from mie.operators import MissingDependencyError, OperatorContext, operator
from mie.operators.media import MediaProcess, Watchdog, find_tool, last_line, read_frames

INSTALL = (
    "pip install scenedetect-headless 'opencv-python-headless<5' numpy "
    "(or the media extra: pip install 'media-insights-engine[media]')"
)
DEFAULTS: dict[str, Any] = {"Threshold": 27.0, "MinShotSeconds": 0.5, "MinSegmentConfidence": 50.0}
#: Longest side of the frames the detector compares (PySceneDetect downsizes to about this by default, too).
ANALYSIS_SIDE = 320


def _load() -> tuple[Any, Any, Any]:
    """numpy, scenedetect's ContentDetector and FrameTimecode, or an OperatorError naming what to install."""
    try:
        numpy = importlib.import_module("numpy")
        scenedetect = importlib.import_module("scenedetect")
        importlib.import_module("cv2").setNumThreads(1)  # one compute thread per operator running side by side
    except ImportError as exc:
        raise MissingDependencyError("PySceneDetect", INSTALL, needed_by="shot detection", cause=exc) from exc
    return numpy, scenedetect.ContentDetector, scenedetect.FrameTimecode


def analysis_size(width: int, height: int, side: int = ANALYSIS_SIDE) -> tuple[int, int]:
    """Even frame size with the longest side at most ``side``."""
    scale = min(1.0, side / max(width, height, 1))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def confidence(score: float, threshold: float) -> float:
    """Confidence of a cut from its frame difference score (see the module docstring)."""
    return round(min(100.0, max(50.0, 50.0 + 50.0 * (score - threshold) / threshold)), 3)


def detect_cuts(
    ctx: OperatorContext, info: Probe, path: Path, *, threshold: float, min_frames: int
) -> tuple[list[tuple[int, float]], int]:
    """``([(cut frame, score)], frames decoded)`` for the video at ``path``."""
    numpy, content_detector, frame_timecode = _load()
    fps = info.fps
    width, height = analysis_size(info.width, info.height)
    frame_bytes = width * height * 3
    cmd = [
        find_tool("ffmpeg"), "-hide_banner", "-nostdin", "-nostats", "-v", "error", "-i", str(path),
        "-map", f"0:{info.video['index'] if info.video else 'v:0'}", "-an", "-sn", "-dn",
        "-vf", f"scale={width}:{height}:flags=area", "-fps_mode", "cfr", "-r", str(fps),
        "-pix_fmt", "bgr24", "-f", "rawvideo", "pipe:1",
    ]  # fmt: skip
    detector = content_detector(threshold=threshold, min_scene_len=min_frames)
    watchdog = Watchdog(ctx, f"{ctx.name}: decoding")
    reporter = Reporter(ctx, "detecting shots", info.duration, start=5, end=95)
    scores: dict[int, float] = {}
    cuts: list[int] = []
    index = 0
    log_path = ctx.scratch / "ffmpeg-shots.log"
    with MediaProcess(cmd, log_path=log_path, check=watchdog.check) as proc:
        # At most 16 frames read ahead: decoding waits for the detector instead of filling memory.
        for data in proc.items(read_frames(frame_bytes), buffer=16):
            watchdog.alive()
            image = numpy.frombuffer(data, dtype=numpy.uint8).reshape(height, width, 3)
            found = detector.process_frame(frame_timecode(index, fps=fps), image)
            score = float(detector._frame_score or 0.0)  # the detector keeps no public per-frame score
            if score >= threshold:
                scores[index] = score
            cuts.extend(int(tc.frame_num) for tc in found)
            index += 1
            reporter.at(index / float(fps))
            if index % 50 == 0:
                watchdog.check()
        returncode = proc.wait()
    errors = proc.log()
    if returncode != 0:
        raise OperatorError(f"{ctx.name}: could not decode {path.name}: {last_line(errors, returncode)}")
    if index == 0:
        raise OperatorError(f"{ctx.name}: no video frame of {path.name} could be decoded")
    damage = "partial file" if "partial file" in errors else ""
    check_complete(ctx.name, path.name, index / float(fps), info.video_duration, damage)
    cuts.extend(int(tc.frame_num) for tc in detector.post_process(frame_timecode(index, fps=fps)))
    unique = sorted({c for c in cuts if 0 < c < index})
    return [(c, scores.get(c, max((s for f, s in scores.items() if abs(f - c) <= min_frames), default=threshold)))
            for c in unique], index  # fmt: skip


def shots(cuts: list[tuple[int, float]], frames: int, fps: Fraction, threshold: float) -> list[dict[str, Any]]:
    """Shot segments between the cuts, each with its index and confidence."""
    bounds = [(0, 100.0)] + [(frame, confidence(score, threshold)) for frame, score in cuts]
    result = []
    for index, (start, conf) in enumerate(bounds):
        end = bounds[index + 1][0] if index + 1 < len(bounds) else frames
        result.append(segments.segment("SHOT", start, end, fps, {"Index": index, "Confidence": conf}))
    return result


@operator(
    "shotDetection",
    media_type="Video",
    configuration=DEFAULTS,
    timeout=6 * 3600,
    isolation="process",
    description="Shot boundaries (content-based cut detection) in Rekognition GetSegmentDetection shape.",
)
def shot_detection(ctx: OperatorContext) -> dict[str, Any]:
    """Detect shots in the proxy (or the video) and store them as Rekognition SHOT segments."""
    try:
        threshold = float(ctx.config("Threshold", DEFAULTS["Threshold"]))
        min_seconds = float(ctx.config("MinShotSeconds", DEFAULTS["MinShotSeconds"]))
        min_confidence = float(ctx.config("MinSegmentConfidence", DEFAULTS["MinSegmentConfidence"]))
    except (TypeError, ValueError) as exc:
        raise OperatorError(f"{ctx.name}: Threshold, MinShotSeconds and MinSegmentConfidence must be numbers") from exc
    if threshold <= 0 or min_seconds < 0:
        raise OperatorError(f"{ctx.name}: Threshold must be positive and MinShotSeconds not negative")
    name, path = segments.analysed_video(ctx)
    ctx.progress(1, f"probing {name}")
    info = probe(path, ctx.name)
    info.require_video(ctx.name)
    min_frames = max(1, round(min_seconds * float(info.fps)))
    cuts, frames = detect_cuts(ctx, info, path, threshold=threshold, min_frames=min_frames)
    cuts = [(frame, score) for frame, score in cuts if confidence(score, threshold) >= min_confidence]
    found = shots(cuts, frames, info.fps, threshold)
    ctx.progress(97, f"{len(found)} shots")
    ctx.save_results(segments.response(info, found, ["SHOT"]))
    return {
        "shotDetection_num_shots": str(len(found)),
        "AssetId": ctx.asset_id,
        "WorkflowExecutionId": ctx.workflow_execution_id,
    }
