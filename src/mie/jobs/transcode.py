"""Run one job: PROBING (ffprobe), TRANSCODING (one ffmpeg process, progress read from ``-progress pipe:1``),
UPLOADING (every written file into the object store). Progress and input facts go to a :class:`JobSink`; the result
is MediaConvert's ``outputGroupDetails``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mie.errors import InvalidError
from mie.jobs.compile import PHASE_WEIGHTS, Plan, PlannedGroup, compile_job, master_playlist
from mie.jobs.probe import InputInfo, ProbeError, describe_input, ffprobe, find_tool, output_facts
from mie.jobs.spec import JobSpec, parse_s3_uri
from mie.operators.dependencies import MissingDependencyError
from mie.operators.media import MediaProcess, progress_blocks, read_lines, tail_lines
from mie.storage.objects import ObjectStore, local_file
from mie.types import JSONDict

PHASES = tuple(PHASE_WEIGHTS)

#: MediaConvert-style error codes of our jobs (docs/jobs.md).
ERROR_INPUT = 1010
ERROR_SETTINGS = 1030
ERROR_TRANSCODE = 1040
ERROR_UPLOAD = 1050
ERROR_INTERRUPTED = 1999


class JobFailedError(Exception):
    """The job ends ERROR with ``code`` and ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class JobCancelledError(Exception):
    """The job was cancelled while it ran (ffmpeg was killed)."""


@dataclass
class Progress:
    """Where a running job is: the current phase and its percent, the job's percent, frames decoded."""

    phase: str
    phase_percent: float
    frames: int = 0

    @property
    def job_percent(self) -> int:
        """``jobPercentComplete``: the finished phases' weights plus the current phase's share."""
        done = sum(PHASE_WEIGHTS[p] for p in PHASES[: PHASES.index(self.phase)])
        return min(100, int(done + PHASE_WEIGHTS[self.phase] * self.phase_percent / 100.0))

    def job_progress(self, retry_count: int = 0) -> JSONDict:
        """MediaConvert's ``jobProgress`` object."""
        current = PHASES.index(self.phase)
        phases: JSONDict = {}
        for i, name in enumerate(PHASES):
            if i < current:
                phases[name] = {"status": "COMPLETE", "percentComplete": 100}
            elif i == current:
                phases[name] = {"status": "PROGRESSING", "percentComplete": int(self.phase_percent)}
            else:
                phases[name] = {"status": "PENDING", "percentComplete": 0}
        return {
            "phaseProgress": phases,
            "jobPercentComplete": self.job_percent,
            "currentPhase": self.phase,
            "retryCount": retry_count,
        }


class JobSink(Protocol):
    """Where a running job reports."""

    def input_information(self, info: InputInfo) -> None:
        """The input was probed (INPUT_INFORMATION)."""

    def progress(self, progress: Progress) -> None:
        """Progress changed (the sink decides when to emit STATUS_UPDATE)."""

    def cancelled(self) -> bool:
        """True once the job should stop."""


def _local_input(objects: ObjectStore, bucket: str, key: str, scratch: Path) -> Path:
    path = local_file(objects, bucket, key, scratch / "input")
    if path is None:
        raise JobFailedError(ERROR_INPUT, f"input s3://{bucket}/{key} does not exist")
    return path.resolve()


def run_ffmpeg(args: list[str], *, duration: float, fps: float, sink: JobSink, log_path: Path, tool: str) -> None:
    """Run ffmpeg, feeding TRANSCODING progress to ``sink``; kill it when the sink says the job is cancelled."""

    def check() -> None:
        # Called while ffmpeg is silent too: cancellation must not wait for the next progress line (ffmpeg may
        # be stuck on a slow input).
        if sink.cancelled():
            raise JobCancelledError("the job was cancelled")

    with MediaProcess([tool, *args], log_path=log_path, check=check) as proc:
        for block in proc.items(lambda stream: progress_blocks(read_lines(stream))):
            check()
            out_time = _seconds(block.get("out_time_us") or block.get("out_time_ms"))
            frames = int(block["frame"]) if block.get("frame", "").isdigit() else round(out_time * fps)
            percent = 100.0 if block.get("progress") == "end" else min(99.0, 100.0 * out_time / duration)
            sink.progress(Progress("TRANSCODING", max(0.0, percent), frames))
        code = proc.wait()
    if code != 0:
        detail = "; ".join(tail_lines(proc.log(), 3)) or f"exit status {code}"
        raise JobFailedError(ERROR_TRANSCODE, f"ffmpeg failed: {detail}")


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, int(value or 0) / 1e6)
    except ValueError:  # "N/A" before the first frame
        return 0.0


def run_job(
    spec: JobSpec,
    *,
    objects: ObjectStore,
    scratch: Path,
    sink: JobSink,
    ffmpeg: str = "ffmpeg",
    ffprobe_tool: str = "ffprobe",
) -> list[JSONDict]:
    """Run ``spec`` to the end; its ``outputGroupDetails``. Raises :class:`JobFailedError` or
    :class:`JobCancelledError`."""
    try:
        ffmpeg_path, ffprobe_path = find_tool(ffmpeg), find_tool(ffprobe_tool)
    except MissingDependencyError as exc:
        raise JobFailedError(ERROR_TRANSCODE, str(exc)) from exc
    sink.progress(Progress("PROBING", 0))
    bucket, key = parse_s3_uri(spec.input_uri, "FileInput")
    try:
        input_path = _local_input(objects, bucket, key, scratch)
        info = describe_input(ffprobe(ffprobe_path, input_path), spec.input_uri)
    except ProbeError as exc:
        raise JobFailedError(ERROR_INPUT, f"cannot read the input {spec.input_uri}: {exc}") from exc
    except InvalidError as exc:
        raise JobFailedError(ERROR_INPUT, f"bad input location {spec.input_uri}: {exc.message}") from exc
    sink.input_information(info)
    if sink.cancelled():
        raise JobCancelledError("the job was cancelled")
    stem = Path(key).stem
    try:
        plan = compile_job(spec, info, input_path, scratch / "out", stem)
    except InvalidError as exc:
        raise JobFailedError(ERROR_SETTINGS, exc.message) from exc
    sink.progress(Progress("TRANSCODING", 0))
    log_path = scratch / "ffmpeg.log"
    run_ffmpeg(plan.args, duration=info.duration, fps=info.fps, sink=sink, log_path=log_path, tool=ffmpeg_path)
    sink.progress(Progress("UPLOADING", 0, info.frame_count))
    return _upload(plan, objects, ffprobe_path, sink, info.frame_count)


def _upload(plan: Plan, objects: ObjectStore, ffprobe_path: str, sink: JobSink, frames: int) -> list[JSONDict]:
    details: list[JSONDict] = []
    files = [(g, f) for g in plan.groups for f in sorted(g.folder.iterdir())]
    facts_by_group: list[dict[str, JSONDict]] = []
    for group in plan.groups:
        facts: dict[str, JSONDict] = {}
        for out in group.outputs:
            path = group.folder / out.main_file
            if not path.is_file():
                raise JobFailedError(ERROR_TRANSCODE, f"ffmpeg wrote no {out.main_file} (the input may be too short)")
            try:
                facts[out.main_file] = output_facts(ffprobe_path, path)
            except ProbeError as exc:
                raise JobFailedError(ERROR_TRANSCODE, f"output {out.main_file} is not readable: {exc}") from exc
        if group.spec.kind == "HLS":
            master = group.folder / group.master_playlist
            master.write_text(master_playlist(group, facts))
            files.append((group, master))
        facts_by_group.append(facts)
    for done, (group, path) in enumerate(files):
        if sink.cancelled():
            raise JobCancelledError("the job was cancelled")
        key = group.spec.prefix + path.name
        try:
            with path.open("rb") as fh:
                objects.put_stream(group.spec.bucket, key, fh)
        except (OSError, InvalidError) as exc:
            raise JobFailedError(ERROR_UPLOAD, f"cannot store s3://{group.spec.bucket}/{key}: {exc}") from exc
        sink.progress(Progress("UPLOADING", 100.0 * (done + 1) / len(files), frames))
    for group, facts in zip(plan.groups, facts_by_group, strict=True):
        details.append(_group_details(group, facts))
    return details


def _uri(group: PlannedGroup, name: str) -> str:
    return f"s3://{group.spec.bucket}/{group.spec.prefix}{name}"


def _group_details(group: PlannedGroup, facts: dict[str, JSONDict]) -> JSONDict:
    outputs = []
    for out in group.outputs:
        fact = {k: v for k, v in facts[out.main_file].items() if not k.startswith("_")}
        if out.spec.container == "RAW":
            names = sorted(p.name for p in group.folder.iterdir() if p.name.startswith(out.stem + "."))
            paths = [_uri(group, n) for n in names]
        else:
            paths = [_uri(group, out.main_file)]
        outputs.append({"outputFilePaths": paths, **fact})
    detail: JSONDict = {"type": f"{group.spec.kind}_GROUP", "outputDetails": outputs}
    if group.spec.kind == "HLS":
        detail["playlistFilePaths"] = [_uri(group, group.master_playlist)]
    return detail
