"""``Mediaconvert``: MIE's operator of that name, as a transcode job — the video's audio as an AAC MP4.

MIE's ``Mediaconvert`` (Async, ``Enabled: false`` by default) ran a MediaConvert job with one output, the audio as
AAC in MP4 at ``private/assets/<a>/workflows/<w>/<base>_audio.mp4``, and output ``Media.Audio`` with MetaData
``MediaconvertJobId`` and ``MediaconvertInputFile``. Here the job runs through the transcode jobs (one ffmpeg
command; listed by ``/api/jobs`` in a server), with the job settings MIE used (AAC 96 kbit/s, 48 kHz, stereo).

The start runs the job and stores its outputs; the monitor checks that they are in the object store and names them
as the output ``Media`` (as MIE's monitor did from the finished job). ``CreateProxy`` adds an H.264 proxy MP4 to the
same job (one decoding pass) as ``Media.ProxyEncode``; it is off by default because ``Thumbnail`` already makes the
proxy in MIE's workflows and the encode is the expensive part. A video without an audio track completes without
``Audio`` (so audio operators later are skipped) and says so in its MetaData.
"""

from __future__ import annotations

import time
from pathlib import PurePosixPath
from typing import Any

from mie.errors import InvalidError, OperatorError
from mie.jobs import events as ev
from mie.jobs.operator import InlineJobs, run_transcode
from mie.jobs.probe import ProbeError, ffprobe, find_tool
from mie.jobs.spec import parse_s3_uri
from mie.operators.context import OperatorContext
from mie.operators.definition import operator
from mie.types import JSONDict

NAME = "Mediaconvert"
AUDIO_MODIFIER = "_audio"
PROXY_MODIFIER = "_proxy"
DEFAULTS: JSONDict = {"CreateProxy": False, "ProxyWidth": 1280, "ProxyHeight": 720}


def _audio_output() -> JSONDict:
    # MIE's start_media_convert.py: an MP4 holding only the audio, AAC 96 kbit/s stereo at 48 kHz.
    return {
        "ContainerSettings": {"Container": "MP4"},
        "NameModifier": AUDIO_MODIFIER,
        "Extension": "mp4",
        "AudioDescriptions": [
            {
                "CodecSettings": {
                    "Codec": "AAC",
                    "AacSettings": {"Bitrate": 96000, "CodingMode": "CODING_MODE_2_0", "SampleRate": 48000},
                }
            }
        ],
    }


def _proxy_output(width: int, height: int, audio: bool) -> JSONDict:
    output: JSONDict = {
        "ContainerSettings": {"Container": "MP4"},
        "NameModifier": PROXY_MODIFIER,
        "Extension": "mp4",
        "VideoDescription": {
            "Width": width,
            "Height": height,
            "ScalingBehavior": "FIT",
            "CodecSettings": {
                "Codec": "H_264",
                "H264Settings": {
                    "RateControlMode": "QVBR",
                    "QvbrSettings": {"QvbrQualityLevel": 7},
                    "MaxBitrate": 5_000_000,
                    "CodecProfile": "MAIN",
                    "QualityTuningLevel": "SINGLE_PASS",
                },
            },
        },
    }
    if audio:
        output["AudioDescriptions"] = _audio_output()["AudioDescriptions"]
    return output


def job_settings(input_uri: str, bucket: str, prefix: str, *, audio: bool, proxy: tuple[int, int] | None) -> JSONDict:
    """MediaConvert ``Settings`` of the job: one file group writing ``<base>_audio.mp4`` (and ``<base>_proxy.mp4``)
    under ``s3://bucket/prefix``."""
    outputs = [_audio_output()] if audio else []
    if proxy is not None:
        outputs.append(_proxy_output(*proxy, audio))
    return {
        "Inputs": [{"FileInput": input_uri}],
        "OutputGroups": [
            {
                "Name": "File Group",
                "OutputGroupSettings": {
                    "Type": "FILE_GROUP_SETTINGS",
                    "FileGroupSettings": {"Destination": f"s3://{bucket}/{prefix}"},
                },
                "Outputs": outputs,
            }
        ],
    }


def _has_audio(ctx: OperatorContext) -> bool:
    """Whether the input has an audio track (``Mediainfo``'s count when an earlier stage gave it, else ffprobe)."""
    counted = ctx.input_metadata.get("Mediainfo_num_audio_tracks")
    if isinstance(counted, str) and counted.isdigit():
        return int(counted) > 0
    try:
        probe = ffprobe(find_tool("ffprobe"), ctx.input_file("Video"))
    except ProbeError as exc:
        raise OperatorError(f"{NAME}: cannot read the input video: {exc}") from exc
    return any(s.get("codec_type") == "audio" for s in probe.get("streams") or [] if isinstance(s, dict))


def _dimension(ctx: OperatorContext, key: str) -> int:
    value = ctx.config(key, DEFAULTS[key])
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise OperatorError(f"{NAME}: configuration {key} must be an even number of pixels, not {value!r}")
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number != float(value) or not 32 <= number <= 8192 or number % 2:
        raise OperatorError(f"{NAME}: configuration {key} must be an even number of pixels from 32 to 8192")
    return number


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))


def _outputs(ctx: OperatorContext, input_uri: str) -> tuple[str, str, str]:
    """``(bucket, audio key, proxy key)`` of the job's outputs for this execution and input."""
    _, key = parse_s3_uri(input_uri, "MediaconvertInputFile")
    location = ctx.dataplane.media_path(ctx.asset_id, ctx.workflow_execution_id)
    base = PurePosixPath(key).stem
    prefix = location["S3Key"]
    return location["S3Bucket"], f"{prefix}{base}{AUDIO_MODIFIER}.mp4", f"{prefix}{base}{PROXY_MODIFIER}.mp4"


@operator(
    NAME,
    media_type="Video",
    configuration=DEFAULTS,
    timeout=6 * 3600,
    description="The video's audio as an AAC MP4 (and optionally an H.264 proxy), through a transcode job, "
    "as MIE's Mediaconvert.",
)
def mediaconvert(ctx: OperatorContext, jobs: InlineJobs | None = None) -> JSONDict:
    """Run the job: ``<base>_audio.mp4`` (and ``<base>_proxy.mp4``) under the execution's media path."""
    bucket, key = ctx.media_location("Video")
    input_uri = f"s3://{bucket}/{key}"
    proxy = (
        (_dimension(ctx, "ProxyWidth"), _dimension(ctx, "ProxyHeight")) if _flag(ctx.config("CreateProxy")) else None
    )
    audio = _has_audio(ctx)
    meta: JSONDict = {
        "MediaconvertInputFile": input_uri,
        "AssetId": ctx.asset_id,
        "WorkflowExecutionId": ctx.workflow_execution_id,
    }
    if not audio:
        meta["MediaconvertAudio"] = "skipped: the video has no audio track (no Audio output)"
    if not audio and proxy is None:
        return meta
    out_bucket, audio_key, _ = _outputs(ctx, input_uri)
    prefix = audio_key.rpartition("/")[0] + "/"
    settings = job_settings(input_uri, out_bucket, prefix, audio=audio, proxy=proxy)
    user = {"assetID": ctx.asset_id, "workflowExecutionId": ctx.workflow_execution_id, "settings": NAME}
    job_id, details = run_transcode(ctx, {"Settings": settings, "UserMetadata": user}, user, NAME, jobs)
    # Without a job service in this process the job is not recorded; it still gets an id of MediaConvert's form.
    meta["MediaconvertJobId"] = job_id or ev.new_job_id(time.time())
    meta["MediaconvertOutputs"] = [path for group in details for out in group.get("outputDetails") or []
                                   for path in out.get("outputFilePaths") or []]  # fmt: skip
    return meta


@mediaconvert.monitor
def mediaconvert_monitor(ctx: OperatorContext) -> None:
    """Check the job's outputs are stored and name them as the output ``Media`` (``Audio``, ``ProxyEncode``)."""
    input_uri = ctx.metadata.get("MediaconvertInputFile")
    if not isinstance(input_uri, str):
        raise OperatorError(f"{NAME}: the start left no MediaconvertInputFile in the MetaData")
    try:
        bucket, audio_key, proxy_key = _outputs(ctx, input_uri)
    except InvalidError as exc:
        raise OperatorError(f"{NAME}: bad MediaconvertInputFile {input_uri!r}: {exc.message}") from exc
    written = {str(p) for p in ctx.metadata.pop("MediaconvertOutputs", None) or []}
    for kind, key in (("Audio", audio_key), ("ProxyEncode", proxy_key)):
        uri = f"s3://{bucket}/{key}"
        if uri in written:
            if not ctx.dataplane.object_exists(bucket, key):
                raise OperatorError(f"{NAME}: job {ctx.metadata.get('MediaconvertJobId')} reported {uri}, "
                                    "but it is not in the object store")  # fmt: skip
            ctx.media[kind] = {"S3Bucket": bucket, "S3Key": key}
