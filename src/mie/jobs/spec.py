"""Job settings: the documented subset of MediaConvert's CreateJob JSON, checked and turned into a plan.

Every key is either *honoured* (it changes the output), *accepted* (a MediaConvert knob with no ffmpeg counterpart
worth having; documented as ignored in docs/jobs.md) or refused with an :class:`~mie.errors.InvalidError` that names
the setting by its path, e.g. ``Settings.OutputGroups[0].OutputGroupSettings.Type``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any, Literal

from mie.errors import InvalidError
from mie.types import JSONDict

GROUP_TYPES = {"FILE_GROUP_SETTINGS": "FileGroupSettings", "HLS_GROUP_SETTINGS": "HlsGroupSettings"}
#: The sample rewrites these group types too; we name them in the error for unsupported ones.
KNOWN_GROUP_TYPES = {
    **GROUP_TYPES,
    "DASH_ISO_GROUP_SETTINGS": "DashIsoGroupSettings",
    "MS_SMOOTH_GROUP_SETTINGS": "MsSmoothGroupSettings",
    "CMAF_GROUP_SETTINGS": "CmafGroupSettings",
}
STATUS_INTERVALS = {
    **{f"SECONDS_{n}": float(n) for n in (10, 12, 15, 20, 30, 60)},
    **{f"MINUTES_{n}": float(n * 60) for n in range(2, 11)},
}
PRESETS = {"SINGLE_PASS": "veryfast", "SINGLE_PASS_HQ": "medium", "MULTI_PASS_HQ": "slow"}

_REQUEST_KEYS = {"Settings", "UserMetadata", "StatusUpdateInterval"}
_REQUEST_IGNORED = {
    "Role", "Queue", "Priority", "AccelerationSettings", "BillingTagsSource", "ClientRequestToken",
    "HopDestinations", "SimulateReservedQueue", "Tags", "JobTemplate",
}  # fmt: skip
_SETTINGS_IGNORED = {"AdAvailOffset", "TimecodeConfig", "AvailBlanking", "NielsenConfiguration", "Esam"}
_INPUT_IGNORED = {
    "AudioSelectors", "VideoSelector", "TimecodeSource", "FilterEnable", "PsiControl", "FilterStrength",
    "DeblockFilter", "DenoiseFilter", "InputScanType", "AudioSelectorGroups", "CaptionSelectors", "TimecodeStart",
}  # fmt: skip
_FILE_GROUP_IGNORED = {"DestinationSettings"}
_HLS_GROUP_IGNORED = {
    "ManifestDurationFormat", "TimedMetadataId3Period", "CaptionLanguageSetting", "TimedMetadataId3Frame",
    "CodecSpecification", "OutputSelection", "ProgramDateTimePeriod", "MinSegmentLength", "DirectoryStructure",
    "ProgramDateTime", "ManifestCompression", "ClientCache", "StreamInfResolution", "DestinationSettings",
    "SegmentLengthControl", "SegmentsPerSubdirectory", "MinFinalSegmentLength", "ImageBasedTrickPlay",
    "AudioOnlyHeader", "CaptionSegmentLengthControl", "ProgressiveWriteHlsManifest", "TargetDurationCompatibilityMode",
}  # fmt: skip
_OUTPUT_IGNORED = {"OutputSettings", "Preset", "CaptionDescriptions"}
_CONTAINER_IGNORED = {"M3u8Settings", "Mp4Settings"}
_VIDEO_IGNORED = {
    "TimecodeInsertion", "AntiAlias", "Sharpness", "AfdSignaling", "DropFrameTimecode", "RespondToAfd",
    "ColorMetadata", "VideoPreprocessors", "FixedAfd", "Position",
}  # fmt: skip
_H264_IGNORED = {
    "InterlaceMode", "Syntax", "Softness", "GopClosedCadence", "Slices", "GopBReference", "SlowPal",
    "SpatialAdaptiveQuantization", "TemporalAdaptiveQuantization", "FlickerAdaptiveQuantization", "EntropyEncoding",
    "Telecine", "MinIInterval", "AdaptiveQuantization", "FieldEncoding", "SceneChangeDetect",
    "FramerateConversionAlgorithm", "UnregisteredSeiTimecode", "ParControl", "RepeatPps",
    "HrdBufferInitialFillPercentage", "HrdBufferSize", "DynamicSubGop", "ParNumerator",
    "ParDenominator", "ScanTypeConversionMode",
}  # fmt: skip
_AUDIO_IGNORED = {
    "AudioTypeControl", "LanguageCodeControl", "AudioSourceName", "AudioType", "LanguageCode", "StreamName",
    "AudioNormalizationSettings", "RemixSettings", "CustomLanguageCode",
}  # fmt: skip
_AAC_IGNORED = {"AudioDescriptionBroadcasterMix", "RateControlMode", "CodecProfile", "RawFormat", "Specification"}
_CHANNELS = {"CODING_MODE_1_0": 1, "CODING_MODE_2_0": 2}


@dataclass(frozen=True)
class VideoSpec:
    """One output's video: H.264 or frame capture (JPEG)."""

    codec: Literal["H_264", "FRAME_CAPTURE"]
    width: int | None = None
    height: int | None = None
    scaling: str = "DEFAULT"
    rate_control: str = "CBR"
    bitrate: int | None = None
    max_bitrate: int | None = None
    qvbr_level: int | None = None
    gop_size: float | None = None
    gop_units: str = "FRAMES"
    framerate: tuple[int, int] | None = None
    profile: str | None = None
    level: str | None = None
    b_frames: int | None = None
    ref_frames: int | None = None
    preset: str = "veryfast"
    max_captures: int | None = None
    quality: int = 80


@dataclass(frozen=True)
class AudioSpec:
    """One output's AAC audio."""

    bitrate: int = 96000
    sample_rate: int = 48000
    channels: int = 2


@dataclass(frozen=True)
class OutputSpec:
    """One output of a group."""

    name_modifier: str
    container: Literal["MP4", "M3U8", "RAW"]
    extension: str
    video: VideoSpec | None
    audio: AudioSpec | None


@dataclass(frozen=True)
class GroupSpec:
    """One output group: ``FILE`` (MP4 files, frame captures) or ``HLS``."""

    kind: Literal["FILE", "HLS"]
    name: str
    bucket: str
    prefix: str
    base_name: str | None
    outputs: tuple[OutputSpec, ...]
    segment_length: float = 10.0


@dataclass(frozen=True)
class JobSpec:
    """A checked job: one input and its output groups."""

    input_uri: str
    groups: tuple[GroupSpec, ...]
    status_interval: float | None = None


def parse_s3_uri(uri: Any, where: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)`` (the key may be empty)."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidError(f"{where}: {uri!r} is not an s3://bucket/key URI")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise InvalidError(f"{where}: {uri!r} names no bucket")
    return bucket, key


def split_request(body: Any) -> tuple[JSONDict, JSONDict]:
    """A CreateJob body ``{"Settings": ...}`` or bare job settings (a watch folder's ``jobs/*.json``)
    -> ``(request without Settings, Settings)``."""
    if not isinstance(body, dict):
        raise InvalidError("the job must be a JSON object (a CreateJob body or its Settings)")
    if "Settings" not in body:
        return {}, body
    settings = body["Settings"]
    if not isinstance(settings, dict):
        raise InvalidError("Settings must be an object")
    _keys(body, _REQUEST_KEYS | _REQUEST_IGNORED, "")
    request = {k: v for k, v in body.items() if k != "Settings"}
    meta = request.get("UserMetadata", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise InvalidError("UserMetadata must be an object of strings")
    return request, settings


def parse_job(settings: JSONDict, *, status_update_interval: Any = None) -> JobSpec:
    """Check ``settings`` (MediaConvert ``Settings``) and return the job it describes."""
    _keys(settings, {"Inputs", "OutputGroups"} | _SETTINGS_IGNORED, "Settings")
    inputs = settings.get("Inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidError("Settings.Inputs: one input is required")
    if len(inputs) > 1:
        raise InvalidError("Settings.Inputs: only one input per job is supported (no stitching)")
    inp = _obj(inputs[0], "Settings.Inputs[0]")
    _keys(inp, {"FileInput"} | _INPUT_IGNORED, "Settings.Inputs[0]")
    file_input = inp.get("FileInput")
    parse_s3_uri(file_input, "Settings.Inputs[0].FileInput")
    groups_raw = settings.get("OutputGroups")
    if not isinstance(groups_raw, list) or not groups_raw:
        raise InvalidError("Settings.OutputGroups: at least one output group is required")
    groups = tuple(_group(g, f"Settings.OutputGroups[{i}]") for i, g in enumerate(groups_raw))
    interval = None
    if status_update_interval is not None:
        if status_update_interval not in STATUS_INTERVALS:
            raise InvalidError(f"StatusUpdateInterval: {status_update_interval!r} is not one of SECONDS_10 ...")
        interval = STATUS_INTERVALS[status_update_interval]
    return JobSpec(input_uri=str(file_input), groups=groups, status_interval=interval)


def _obj(value: Any, where: str) -> JSONDict:
    if not isinstance(value, dict):
        raise InvalidError(f"{where} must be an object")
    return value


def _keys(obj: JSONDict, allowed: set[str], where: str) -> None:
    for key in obj:
        if key not in allowed:
            path = f"{where}.{key}" if where else key
            raise InvalidError(f"{path} is not supported by this engine (see docs/jobs.md for the supported subset)")


def _int(obj: JSONDict, key: str, where: str, *, low: int = 0, high: int = 2**31) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidError(f"{where}.{key}: {value!r} must be an integer from {low} to {high}")
    return value


def _choice(obj: JSONDict, key: str, where: str, allowed: tuple[str, ...], default: str) -> str:
    value = obj.get(key, default)
    if value not in allowed:
        raise InvalidError(f"{where}.{key}: {value!r} is not supported (supported: {', '.join(allowed)})")
    return str(value)


def _group(raw: Any, where: str) -> GroupSpec:
    group = _obj(raw, where)
    _keys(group, {"Name", "CustomName", "Outputs", "OutputGroupSettings", "AutomatedEncodingSettings"}, where)
    settings = _obj(group.get("OutputGroupSettings"), f"{where}.OutputGroupSettings")
    gtype = settings.get("Type")
    if gtype not in GROUP_TYPES:
        raise InvalidError(
            f"{where}.OutputGroupSettings.Type: {gtype!r} is not supported (supported: {', '.join(GROUP_TYPES)})"
        )
    inner_key = GROUP_TYPES[gtype]
    _keys(settings, {"Type", inner_key}, f"{where}.OutputGroupSettings")
    inner_where = f"{where}.OutputGroupSettings.{inner_key}"
    inner = _obj(settings.get(inner_key), inner_where)
    kind: Literal["FILE", "HLS"] = "HLS" if gtype == "HLS_GROUP_SETTINGS" else "FILE"
    segment_length = 10.0
    if kind == "HLS":
        _keys(inner, {"Destination", "SegmentLength", "SegmentControl"} | _HLS_GROUP_IGNORED, inner_where)
        _choice(inner, "SegmentControl", inner_where, ("SEGMENTED_FILES",), "SEGMENTED_FILES")
        segment_length = float(_int(inner, "SegmentLength", inner_where, low=1, high=3600) or 10)
    else:
        _keys(inner, {"Destination"} | _FILE_GROUP_IGNORED, inner_where)
    bucket, key = parse_s3_uri(inner.get("Destination"), f"{inner_where}.Destination")
    prefix, base = (key, None) if not key or key.endswith("/") else (posixpath.dirname(key), posixpath.basename(key))
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    outputs_raw = group.get("Outputs")
    if not isinstance(outputs_raw, list) or not outputs_raw:
        raise InvalidError(f"{where}.Outputs: at least one output is required")
    outputs = tuple(_output(o, f"{where}.Outputs[{i}]", kind) for i, o in enumerate(outputs_raw))
    if kind == "HLS" and any(not out.name_modifier for out in outputs):
        raise InvalidError(f"{where}.Outputs: every HLS output needs a NameModifier (the master playlist has none)")
    seen: set[tuple[str, str]] = set()
    for out in outputs:
        if (out.name_modifier, out.extension) in seen:
            raise InvalidError(f"{where}.Outputs: two outputs would write the same file; give them a NameModifier")
        seen.add((out.name_modifier, out.extension))
    name = group.get("CustomName") or group.get("Name") or kind
    return GroupSpec(kind, str(name), bucket, prefix, base, outputs, segment_length)


def _output(raw: Any, where: str, kind: str) -> OutputSpec:
    out = _obj(raw, where)
    _keys(
        out,
        {"NameModifier", "Extension", "ContainerSettings", "VideoDescription", "AudioDescriptions"} | _OUTPUT_IGNORED,
        where,
    )
    container_settings = _obj(out.get("ContainerSettings", {}), f"{where}.ContainerSettings")
    _keys(container_settings, {"Container"} | _CONTAINER_IGNORED, f"{where}.ContainerSettings")
    allowed = ("M3U8",) if kind == "HLS" else ("MP4", "RAW")
    container = _choice(container_settings, "Container", f"{where}.ContainerSettings", allowed, allowed[0])
    video = _video(out["VideoDescription"], f"{where}.VideoDescription") if "VideoDescription" in out else None
    audios = out.get("AudioDescriptions") or []
    if not isinstance(audios, list) or len(audios) > 1:
        raise InvalidError(f"{where}.AudioDescriptions: at most one audio description is supported")
    audio = _audio(audios[0], f"{where}.AudioDescriptions[0]") if audios else None
    if container == "RAW":
        if video is None or video.codec != "FRAME_CAPTURE" or audio is not None:
            raise InvalidError(f"{where}: a RAW output must be a FRAME_CAPTURE video without audio")
    elif video is not None and video.codec == "FRAME_CAPTURE":
        raise InvalidError(f"{where}.ContainerSettings.Container: FRAME_CAPTURE needs the RAW container")
    if video is None and audio is None:
        raise InvalidError(f"{where}: an output needs a VideoDescription or AudioDescriptions")
    default_ext = {"MP4": "mp4", "M3U8": "m3u8", "RAW": "jpg"}[container]
    extension = out.get("Extension") or default_ext
    modifier = out.get("NameModifier") or ""
    if not isinstance(extension, str) or not isinstance(modifier, str) or "/" in modifier or "/" in extension:
        raise InvalidError(f"{where}: NameModifier and Extension must be strings without '/'")
    return OutputSpec(modifier, container, extension, video, audio)  # type: ignore[arg-type]


def _video(raw: Any, where: str) -> VideoSpec:
    desc = _obj(raw, where)
    _keys(desc, {"Width", "Height", "ScalingBehavior", "CodecSettings"} | _VIDEO_IGNORED, where)
    width = _int(desc, "Width", where, low=32, high=8192)
    height = _int(desc, "Height", where, low=32, high=8192)
    for name, value in (("Width", width), ("Height", height)):
        if value is not None and value % 2:
            raise InvalidError(f"{where}.{name}: {value} must be even")
    scaling = _choice(desc, "ScalingBehavior", where, ("DEFAULT", "FIT", "STRETCH_TO_OUTPUT"), "DEFAULT")
    cwhere = f"{where}.CodecSettings"
    codec_settings = _obj(desc.get("CodecSettings"), cwhere)
    codec = _choice(codec_settings, "Codec", cwhere, ("H_264", "FRAME_CAPTURE"), "H_264")
    if codec == "FRAME_CAPTURE":
        _keys(codec_settings, {"Codec", "FrameCaptureSettings"}, cwhere)
        fwhere = f"{cwhere}.FrameCaptureSettings"
        fc = _obj(codec_settings.get("FrameCaptureSettings", {}), fwhere)
        _keys(fc, {"FramerateNumerator", "FramerateDenominator", "MaxCaptures", "Quality"}, fwhere)
        num = _int(fc, "FramerateNumerator", fwhere, low=1, high=600) or 1
        den = _int(fc, "FramerateDenominator", fwhere, low=1, high=3600) or 1
        return VideoSpec(
            codec="FRAME_CAPTURE",
            width=width,
            height=height,
            scaling=scaling,
            framerate=(num, den),
            max_captures=_int(fc, "MaxCaptures", fwhere, low=1, high=10_000_000),
            quality=_int(fc, "Quality", fwhere, low=1, high=100) or 80,
        )
    _keys(codec_settings, {"Codec", "H264Settings"}, cwhere)
    hwhere = f"{cwhere}.H264Settings"
    h264 = _obj(codec_settings.get("H264Settings", {}), hwhere)
    honoured = {
        "Bitrate", "MaxBitrate", "RateControlMode", "QvbrSettings", "GopSize", "GopSizeUnits", "FramerateControl",
        "FramerateNumerator", "FramerateDenominator", "CodecProfile", "CodecLevel",
        "NumberBFramesBetweenReferenceFrames", "NumberReferenceFrames", "QualityTuningLevel",
    }  # fmt: skip
    _keys(h264, honoured | _H264_IGNORED, hwhere)
    rate_control = _choice(h264, "RateControlMode", hwhere, ("CBR", "VBR", "QVBR"), "CBR")
    bitrate = _int(h264, "Bitrate", hwhere, low=1000, high=1_152_000_000)
    max_bitrate = _int(h264, "MaxBitrate", hwhere, low=1000, high=1_152_000_000)
    qvbr_level = None
    if rate_control == "QVBR":
        qwhere = f"{hwhere}.QvbrSettings"
        qvbr = _obj(h264.get("QvbrSettings", {}), qwhere)
        _keys(qvbr, {"QvbrQualityLevel", "QvbrQualityLevelFineTune", "MaxAverageBitrate"}, qwhere)
        qvbr_level = _int(qvbr, "QvbrQualityLevel", qwhere, low=1, high=10) or 7
        if max_bitrate is None:
            raise InvalidError(f"{hwhere}.MaxBitrate is required with RateControlMode QVBR")
    elif bitrate is None:
        raise InvalidError(f"{hwhere}.Bitrate is required with RateControlMode {rate_control}")
    gop = h264.get("GopSize")
    if gop is not None and (not isinstance(gop, int | float) or isinstance(gop, bool) or gop <= 0):
        raise InvalidError(f"{hwhere}.GopSize: {gop!r} must be a positive number")
    gop_units = _choice(h264, "GopSizeUnits", hwhere, ("FRAMES", "SECONDS"), "FRAMES")
    fr_control = _choice(
        h264, "FramerateControl", hwhere, ("INITIALIZE_FROM_SOURCE", "SPECIFIED"), "INITIALIZE_FROM_SOURCE"
    )
    framerate = None
    if fr_control == "SPECIFIED":
        fnum = _int(h264, "FramerateNumerator", hwhere, low=1, high=120000)
        fden = _int(h264, "FramerateDenominator", hwhere, low=1, high=120000)
        if fnum is None or fden is None:
            raise InvalidError(
                f"{hwhere}: FramerateControl SPECIFIED needs FramerateNumerator and FramerateDenominator"
            )
        framerate = (fnum, fden)
    profile = _choice(h264, "CodecProfile", hwhere, ("BASELINE", "MAIN", "HIGH"), "MAIN")
    level = str(h264.get("CodecLevel", "AUTO"))
    if level != "AUTO" and not (level.startswith("LEVEL_") and level[6:].replace("_", "").isdigit()):
        raise InvalidError(f"{hwhere}.CodecLevel: {level!r} is not AUTO or LEVEL_x[_y]")
    tuning = _choice(h264, "QualityTuningLevel", hwhere, tuple(PRESETS), "SINGLE_PASS")
    return VideoSpec(
        codec="H_264",
        width=width,
        height=height,
        scaling=scaling,
        rate_control=rate_control,
        bitrate=bitrate,
        max_bitrate=max_bitrate,
        qvbr_level=qvbr_level,
        gop_size=float(gop) if gop is not None else None,
        gop_units=gop_units,
        framerate=framerate,
        profile=profile.lower(),
        level=None if level == "AUTO" else level[6:].replace("_", "."),
        b_frames=_int(h264, "NumberBFramesBetweenReferenceFrames", hwhere, low=0, high=7),
        ref_frames=_int(h264, "NumberReferenceFrames", hwhere, low=1, high=6),
        preset=PRESETS[tuning],
    )


def _audio(raw: Any, where: str) -> AudioSpec:
    desc = _obj(raw, where)
    _keys(desc, {"CodecSettings"} | _AUDIO_IGNORED, where)
    cwhere = f"{where}.CodecSettings"
    codec_settings = _obj(desc.get("CodecSettings"), cwhere)
    _choice(codec_settings, "Codec", cwhere, ("AAC",), "AAC")
    _keys(codec_settings, {"Codec", "AacSettings"}, cwhere)
    awhere = f"{cwhere}.AacSettings"
    aac = _obj(codec_settings.get("AacSettings", {}), awhere)
    _keys(aac, {"Bitrate", "SampleRate", "CodingMode"} | _AAC_IGNORED, awhere)
    mode = _choice(aac, "CodingMode", awhere, tuple(_CHANNELS), "CODING_MODE_2_0")
    return AudioSpec(
        bitrate=_int(aac, "Bitrate", awhere, low=6000, high=1_024_000) or 96000,
        sample_rate=_int(aac, "SampleRate", awhere, low=8000, high=96000) or 48000,
        channels=_CHANNELS[mode],
    )


def rewrite_destinations(settings: JSONDict, bucket: str, input_stem: str, settings_stem: str) -> JSONDict:
    """The sample's watch-folder rewrite: every group's ``Destination`` becomes
    ``s3://<bucket>/<input stem>/<settings stem><template path>`` (a copy; ``settings`` is unchanged)."""
    import copy

    out = copy.deepcopy(settings)
    for group in out.get("OutputGroups") or []:
        gsettings = group.get("OutputGroupSettings") if isinstance(group, dict) else None
        if not isinstance(gsettings, dict):
            continue
        inner = gsettings.get(KNOWN_GROUP_TYPES.get(str(gsettings.get("Type")), ""))
        if isinstance(inner, dict):
            template = inner.get("Destination")
            path = "/"
            if isinstance(template, str) and template.startswith("s3://"):
                path = "/" + template[5:].partition("/")[2]
            inner["Destination"] = f"s3://{bucket}/{input_stem}/{settings_stem}{path}"
    return out


def set_input(settings: JSONDict, uri: str) -> JSONDict:
    """A copy of ``settings`` reading ``uri`` (every input, not only the first: the sample's bug 9)."""
    import copy

    out = copy.deepcopy(settings)
    inputs = out.get("Inputs")
    if not isinstance(inputs, list) or not inputs:
        out["Inputs"] = [{"FileInput": uri}]
    for inp in out["Inputs"]:
        if isinstance(inp, dict):
            inp["FileInput"] = uri
    return out


def count_outputs(settings: JSONDict) -> int:
    """Outputs across output groups (the sample's ``analysis.num_outputs``)."""
    return sum(len(g.get("Outputs") or []) for g in settings.get("OutputGroups") or [] if isinstance(g, dict))
