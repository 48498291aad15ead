"""Compile a checked job into ONE ffmpeg command: the input is decoded once, split to every video output, and each
output is scaled and encoded on its own. HLS key frames are forced on segment boundaries so that ``SegmentLength``
is honoured exactly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mie.errors import InvalidError
from mie.jobs.probe import InputInfo
from mie.jobs.spec import GroupSpec, JobSpec, OutputSpec, VideoSpec

#: Phases and their share of ``jobPercentComplete``.
PHASE_WEIGHTS = {"PROBING": 2.0, "TRANSCODING": 93.0, "UPLOADING": 5.0}


@dataclass(frozen=True)
class PlannedOutput:
    """Where one output's files are written locally, and the name of its main file (playlist, MP4, first image)."""

    spec: OutputSpec
    stem: str
    main_file: str


@dataclass(frozen=True)
class PlannedGroup:
    """A group's local folder (every file in it is uploaded under the group's prefix) and its outputs."""

    spec: GroupSpec
    folder: Path
    base: str
    outputs: tuple[PlannedOutput, ...]

    @property
    def master_playlist(self) -> str:
        """The HLS master playlist's file name."""
        return f"{self.base}.m3u8"


@dataclass(frozen=True)
class Plan:
    """The ffmpeg command and what it writes."""

    args: list[str]
    groups: tuple[PlannedGroup, ...]


def _pattern(name: str) -> str:
    """A file name used as an ffmpeg pattern (``%`` is special there)."""
    return name.replace("%", "%%")


def _video_filter(video: VideoSpec) -> str:
    steps: list[str] = []
    if video.codec == "FRAME_CAPTURE" and video.framerate is not None:
        # One capture at 0 s, then the first frame at least 1/rate after the previous capture (MediaConvert's
        # captures); the fps filter would drop the last capture of a clip that ends soon after it.
        interval = video.framerate[1] / video.framerate[0]
        steps.append(f"select=isnan(prev_selected_t)+gte(t-prev_selected_t\\,{interval:g})")
    elif video.framerate is not None:
        steps.append(f"fps={video.framerate[0]}/{video.framerate[1]}")
    w, h = video.width, video.height
    if w and h and video.scaling == "STRETCH_TO_OUTPUT":
        steps.append(f"scale={w}:{h},setsar=1")
    elif w and h:
        steps.append(
            f"scale=w={w}:h={h}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1"
        )
    elif w:
        steps.append(f"scale={w}:-2,setsar=1")
    elif h:
        steps.append(f"scale=-2:{h},setsar=1")
    else:
        steps.append("scale=trunc(iw/2)*2:trunc(ih/2)*2")
    if video.codec == "H_264":
        steps.append("format=yuv420p")
    return ",".join(steps)


def _h264_args(video: VideoSpec, fps: float, segment_length: float | None) -> list[str]:
    args = ["-c:v", "libx264", "-preset", video.preset]
    if video.profile:
        args += ["-profile:v", video.profile]
    if video.level:
        args += ["-level:v", video.level]
    if video.rate_control == "QVBR":
        assert video.max_bitrate is not None
        assert video.qvbr_level is not None
        args += ["-crf", str(41 - 2 * video.qvbr_level), "-maxrate", str(video.max_bitrate)]
        args += ["-bufsize", str(2 * video.max_bitrate)]
    else:
        assert video.bitrate is not None
        peak = video.bitrate if video.rate_control == "CBR" else (video.max_bitrate or video.bitrate)
        args += ["-b:v", str(video.bitrate), "-maxrate", str(peak), "-bufsize", str(2 * peak)]
    out_fps = video.framerate[0] / video.framerate[1] if video.framerate else fps
    if video.gop_size is not None:
        gop = video.gop_size if video.gop_units == "FRAMES" else video.gop_size * out_fps
        args += ["-g", str(max(1, round(gop)))]
    if video.b_frames is not None:
        args += ["-bf", str(video.b_frames)]
    if video.ref_frames is not None:
        args += ["-refs", str(video.ref_frames)]
    if segment_length is not None:
        # A key frame exactly on every segment boundary: the HLS muxer cuts there.
        args += ["-force_key_frames:v", f"expr:gte(t,n_forced*{segment_length:g})"]
    return args


def compile_job(spec: JobSpec, info: InputInfo, input_path: Path, out_dir: Path, input_stem: str) -> Plan:
    """The ffmpeg command for ``spec`` reading ``input_path`` and writing below ``out_dir`` (one folder a group)."""
    blocks: list[tuple[bool, list[str]]] = []  # (full-rate H.264 video, output arguments)
    video_chains: list[str] = []
    groups: list[PlannedGroup] = []
    for gi, group in enumerate(spec.groups):
        folder = out_dir / f"g{gi}"
        folder.mkdir(parents=True, exist_ok=True)
        base = group.base_name or input_stem
        planned: list[PlannedOutput] = []
        for out in group.outputs:
            stem = f"{base}{out.name_modifier}"
            args: list[str] = []
            if out.video is not None:
                label = f"v{len(video_chains)}"
                video_chains.append(_video_filter(out.video))
                args += ["-map", f"[{label}]"]
            if out.audio is not None:
                if not info.has_audio and out.video is None:
                    raise InvalidError(f"output {stem}: the input has no audio stream")
                if info.has_audio:
                    args += ["-map", "0:a:0", "-c:a", "aac", "-b:a", str(out.audio.bitrate)]
                    args += ["-ar", str(out.audio.sample_rate), "-ac", str(out.audio.channels)]
            if out.video is not None and out.video.codec == "FRAME_CAPTURE":
                quality = round(2 + (100 - out.video.quality) * 29 / 99)
                args += ["-c:v", "mjpeg", "-q:v", str(quality), "-fps_mode:v", "passthrough"]
                if out.video.max_captures:
                    args += ["-frames:v", str(out.video.max_captures)]
                main = f"{stem}.{'0' * 7}.{out.extension}"
                args += [
                    "-f",
                    "image2",
                    "-start_number",
                    "0",
                    str(folder / f"{_pattern(stem)}.%07d.{_pattern(out.extension)}"),
                ]
            elif out.container == "M3U8":
                if out.video is not None:
                    args += _h264_args(out.video, info.fps, group.segment_length)
                main = f"{stem}.{out.extension}"
                args += ["-f", "hls", "-hls_time", f"{group.segment_length:g}", "-hls_playlist_type", "vod"]
                args += ["-hls_list_size", "0", "-hls_flags", "independent_segments", "-hls_segment_type", "mpegts"]
                args += ["-hls_segment_filename", str(folder / f"{_pattern(stem)}_%05d.ts"), str(folder / main)]
            else:
                if out.video is not None:
                    args += _h264_args(out.video, info.fps, None)
                main = f"{stem}.{out.extension}"
                args += ["-movflags", "+faststart", "-f", "mp4", str(folder / main)]
            full_rate = out.video is not None and out.video.codec == "H_264" and out.video.framerate is None
            blocks.append((full_rate, args))
            planned.append(PlannedOutput(out, stem, main))
        groups.append(PlannedGroup(group, folder, base, tuple(planned)))
    # ffmpeg's progress "frame=" counts the first output's frames: put a full-rate video output first.
    blocks.sort(key=lambda block: not block[0])
    args = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(input_path)]
    if video_chains:
        if len(video_chains) == 1:
            graph = f"[0:v:0]{video_chains[0]}[v0]"
        else:
            splits = "".join(f"[s{i}]" for i in range(len(video_chains)))
            graph = f"[0:v:0]split={len(video_chains)}{splits};" + ";".join(
                f"[s{i}]{chain}[v{i}]" for i, chain in enumerate(video_chains)
            )
        args += ["-filter_complex", graph]
    for _, block in blocks:
        args += block
    args += ["-progress", "pipe:1", "-nostats", "-stats_period", "0.5"]
    return Plan(args, tuple(groups))


def master_playlist(group: PlannedGroup, facts: dict[str, dict[str, object]]) -> str:
    """The HLS master playlist of ``group``; ``facts`` maps an output's main file to its probed facts."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for out in group.outputs:
        video, audio = out.spec.video, out.spec.audio
        peak = 0
        if video is not None:
            peak += (video.max_bitrate if video.rate_control != "CBR" else None) or video.bitrate or 0
        if audio is not None:
            peak += audio.bitrate
        fact = facts.get(out.main_file, {})
        attrs = [f"BANDWIDTH={peak or 1}"]
        details = fact.get("videoDetails")
        codecs = []
        if isinstance(details, dict):
            attrs.append(f"RESOLUTION={details['widthInPx']}x{details['heightInPx']}")
            codecs.append(_avc_codec(str(fact.get("_profile", "")), int(str(fact.get("_level", 0)) or 0)))
        if audio is not None and fact.get("_audio", True):
            codecs.append("mp4a.40.2")
        if codecs:
            attrs.append(f'CODECS="{",".join(codecs)}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), out.main_file]
    return "\n".join(lines) + "\n"


def _avc_codec(profile: str, level: int) -> str:
    """RFC 6381 name of an H.264 stream (``avc1.4d401f``) from ffprobe's profile and level."""
    profile_idc, constraints = {"Main": (0x4D, 0x40), "High": (0x64, 0x00)}.get(profile, (0x42, 0xE0))
    return f"avc1.{profile_idc:02x}{constraints:02x}{level or 30:02x}"
