"""``technicalCueDetection``: technical cues in Rekognition ``GetSegmentDetection`` shape (``Type: TECHNICAL_CUE``).

One ffmpeg pass runs three detection filters on the proxy (or the video):

* ``BlackFrames`` (Rekognition's type) from ``blackdetect``: frames whose pixels are nearly all black;
* ``Silence`` (**our addition**) from ``silencedetect``: audio below ``SilenceThresholdDb`` for at least
  ``SilenceMinSeconds`` (not looked for when the video has no audio track);
* ``FreezeFrames`` (**our addition**) from ``freezedetect``: the picture does not change for at least
  ``FreezeMinSeconds`` (a still, a frozen feed; a black segment is also frozen).

Rekognition's other cue types (ColorBars, OpeningCredits, EndCredits, StudioLogo, Slate, Content) are not detected.
``CueTypes`` selects the types to look for. These are threshold detectors with no score of their own, so every cue
has ``Confidence`` 100.

Where they are stored: ``technicalCueDetection`` holds Rekognition's own types only, so it is a valid
``GetSegmentDetection`` response that a strict client (one that rejects an unknown ``TechnicalCueType``) reads.
The additions go to a sibling result, ``technicalCueDetectionExtra``, in the same shape (same segment fields, the
``Type`` being ``Silence`` or ``FreezeFrames``), stored whenever one of them was looked for.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from mie.errors import OperatorError
from mie.library.media import segments
from mie.library.media.tools import Probe, Reporter, check_complete, probe, run_ffmpeg
from mie.operators import OperatorContext, operator

BLACK, SILENCE, FREEZE = "BlackFrames", "Silence", "FreezeFrames"
CUE_TYPES = (BLACK, SILENCE, FREEZE)
#: Rekognition's ``TechnicalCueType`` enum (botocore's model): the only types stored under the operator's name.
REKOGNITION_CUE_TYPES = ("ColorBars", "EndCredits", "BlackFrames", "OpeningCredits", "StudioLogo", "Slate", "Content")
#: The result that holds our additions (``Silence``, ``FreezeFrames``), beside ``technicalCueDetection``.
EXTRA_RESULT = "technicalCueDetectionExtra"
DEFAULTS: dict[str, Any] = {
    "CueTypes": list(CUE_TYPES),
    "BlackMinSeconds": 0.5,
    "BlackPixelThreshold": 0.10,
    "BlackCoveragePercentage": 98.0,
    "SilenceThresholdDb": -50.0,
    "SilenceMinSeconds": 1.0,
    "FreezeNoiseDb": -60.0,
    "FreezeMinSeconds": 2.0,
}
_NUMBER = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
_PATTERNS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    BLACK: (re.compile(rf"black_start:\s*{_NUMBER}"), re.compile(rf"black_end:\s*{_NUMBER}")),
    SILENCE: (re.compile(rf"silence_start:\s*{_NUMBER}"), re.compile(rf"silence_end:\s*{_NUMBER}")),
    FREEZE: (re.compile(rf"freeze_start:\s*{_NUMBER}"), re.compile(rf"freeze_end:\s*{_NUMBER}")),
}
#: Width the video is scaled to before the picture detectors (never changes timing).
ANALYSIS_WIDTH = 320
_FILTERS = {BLACK: "blackdetect", SILENCE: "silencedetect", FREEZE: "freezedetect"}


def _settings(ctx: OperatorContext) -> tuple[list[str], dict[str, float]]:
    types = ctx.config("CueTypes", DEFAULTS["CueTypes"])
    if isinstance(types, str):
        types = [t.strip() for t in types.split(",") if t.strip()]
    if not isinstance(types, list) or not types or any(t not in CUE_TYPES for t in types):
        raise OperatorError(f"{ctx.name}: CueTypes must be a non-empty list of {', '.join(CUE_TYPES)}, not {types!r}")
    numbers: dict[str, float] = {}
    for key, default in DEFAULTS.items():
        if key == "CueTypes":
            continue
        try:
            numbers[key] = float(ctx.config(key, default))
        except (TypeError, ValueError) as exc:
            raise OperatorError(f"{ctx.name}: configuration {key} must be a number") from exc
    for key in ("BlackMinSeconds", "SilenceMinSeconds", "FreezeMinSeconds"):
        if numbers[key] <= 0:
            raise OperatorError(f"{ctx.name}: configuration {key} must be positive")
    if not (0 <= numbers["BlackPixelThreshold"] <= 1 and 0 < numbers["BlackCoveragePercentage"] <= 100):
        raise OperatorError(f"{ctx.name}: BlackPixelThreshold must be 0-1 and BlackCoveragePercentage 0-100")
    return [str(t) for t in types], numbers


def filter_args(info: Probe, types: list[str], s: dict[str, float]) -> list[str]:
    """The ffmpeg arguments that run every requested detector in one pass."""
    video = []
    if BLACK in types:
        coverage = s["BlackCoveragePercentage"] / 100
        video.append(f"blackdetect=d={s['BlackMinSeconds']:g}:pix_th={s['BlackPixelThreshold']:g}:pic_th={coverage:g}")
    if FREEZE in types:
        video.append(f"freezedetect=n={s['FreezeNoiseDb']:g}dB:d={s['FreezeMinSeconds']:g}")
    args = ["-v", "info", "-i", str(info.path)]
    if video:
        # The detectors look at average levels and differences: a small picture gives the same cues, much faster.
        video.insert(0, f"scale='min({ANALYSIS_WIDTH},iw)':-2:flags=area")
        assert info.video is not None
        args += ["-map", f"0:{info.video['index']}", "-vf", ",".join(video)]
    if SILENCE in types and info.audio is not None:
        args += ["-map", f"0:{info.audio['index']}", "-af",
                 f"silencedetect=n={s['SilenceThresholdDb']:g}dB:d={s['SilenceMinSeconds']:g}"]  # fmt: skip
    return [*args, "-sn", "-dn", "-f", "null", "-"]


def parse_log(log: str, duration: float) -> list[tuple[str, float, float]]:
    """``(cue type, start s, end s)`` from the filters' log lines; a cue still open at the end closes there."""
    found: list[tuple[str, float, float]] = []
    open_at: dict[str, float] = {}
    for line in log.splitlines():
        for cue, (start_re, end_re) in _PATTERNS.items():
            if f"[{_FILTERS[cue]} @" not in line:
                continue
            start = start_re.search(line)
            if start:
                open_at[cue] = float(start.group(1))
            end = end_re.search(line)
            if end:
                begin = open_at.pop(cue, None)
                if begin is None and cue == BLACK and start:
                    begin = float(start.group(1))
                if begin is not None:
                    found.append((cue, begin, float(end.group(1))))
    found.extend((cue, begin, duration) for cue, begin in open_at.items() if duration > begin)
    return found


def cue_segments(found: list[tuple[str, float, float]], fps: Fraction, frames: int) -> list[dict[str, Any]]:
    """Rekognition TECHNICAL_CUE segments, in time order."""
    result = []
    for cue, start, end in sorted(found, key=lambda c: (c[1], c[0])):
        first = min(segments.frame_at(start, fps), frames)
        last = min(max(segments.frame_at(end, fps), first), frames)
        if last > first:
            result.append(segments.segment("TECHNICAL_CUE", first, last, fps, {"Type": cue, "Confidence": 100.0}))
    return result


@operator(
    "technicalCueDetection",
    media_type="Video",
    configuration=DEFAULTS,
    timeout=6 * 3600,
    description="Technical cues (black frames; silence and freeze frames as additions) in Rekognition "
    "GetSegmentDetection shape.",
)
def technical_cue_detection(ctx: OperatorContext) -> dict[str, Any]:
    """Find black, silent and frozen segments in one ffmpeg pass and store them as TECHNICAL_CUE segments:
    Rekognition's types under ``technicalCueDetection``, ours under ``technicalCueDetectionExtra``."""
    types, numbers = _settings(ctx)
    name, path = segments.analysed_video(ctx)
    ctx.progress(1, f"probing {name}")
    info = probe(path, ctx.name)
    info.require_video(ctx.name)
    run = run_ffmpeg(
        ctx,
        filter_args(info, types, numbers),
        what=f"{ctx.name}: analysing {name}",
        reporter=Reporter(ctx, "detecting technical cues", info.duration, start=5, end=95),
        log_path=ctx.scratch / "ffmpeg-cues.log",
    )
    check_complete(ctx.name, name, run.out_time, info.duration, run.damage())
    frames = segments.total_frames(info)
    found = cue_segments(parse_log(run.log, info.duration), info.fps, frames)
    aws = [s for s in found if s["TechnicalCueSegment"]["Type"] in REKOGNITION_CUE_TYPES]
    extra = [s for s in found if s["TechnicalCueSegment"]["Type"] not in REKOGNITION_CUE_TYPES]
    ctx.save_results(segments.response(info, aws, ["TECHNICAL_CUE"]))
    if any(t not in REKOGNITION_CUE_TYPES for t in types):
        ctx.save_results(segments.response(info, extra, ["TECHNICAL_CUE"]), operator_name=EXTRA_RESULT)
    counts = {cue: sum(1 for s in found if s["TechnicalCueSegment"]["Type"] == cue) for cue in types}
    meta: dict[str, Any] = {f"technicalCueDetection_num_{cue}": str(n) for cue, n in counts.items()}
    if SILENCE in types and info.audio is None:
        meta["technicalCueDetection_Silence"] = "skipped: the video has no audio track"
    return {**meta, "AssetId": ctx.asset_id, "WorkflowExecutionId": ctx.workflow_execution_id}
