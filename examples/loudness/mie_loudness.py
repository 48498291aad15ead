"""AudioLoudness: an example mie operator that measures loudness as broadcasters do (EBU R 128 / ITU-R BS.1770).

It is the worked example of ``docs/operators.md``: a native operator that does real work with a media tool
(ffmpeg's ``ebur128`` filter), reports progress while it runs, honours cancellation, stores a result document and
a small metadata summary, and fails with a clear message on a bad file. Install it next to mie with
``pip install -e examples/loudness``; its entry point registers it, ``mie operator register AudioLoudness``
creates the operation, and it can then be added to any workflow stage.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mie.operators import OperatorContext, OperatorError, OperatorRegistry, operator

#: One line per 100 ms of audio: ``t: 1.2  TARGET:-23 LUFS  M: -41.1 S: -41.1  I: -41.1 LUFS  LRA: 0.0 LU ...``.
_LINE = re.compile(r"\bt:\s*(?P<t>[\d.]+)\s.*?\bM:\s*(?P<m>-?[\d.]+|-inf)\s+S:\s*(?P<s>-?[\d.]+|-inf)")
#: The summary ffmpeg prints at the end.
_SUMMARY = {
    "IntegratedLoudness": re.compile(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf) LUFS"),
    "LoudnessRange": re.compile(r"Loudness range:\s*LRA:\s*(-?[\d.]+) LU"),
    "TruePeak": re.compile(r"True peak:\s*Peak:\s*(-?[\d.]+|-inf) dBFS"),
}
_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):([\d.]+)")


def _number(text: str) -> float | None:
    return None if text == "-inf" else float(text)


def _lines(stream: Any) -> Iterator[str]:
    # ffmpeg ends its progress lines with \r or \n; read either so progress arrives as the audio is measured.
    buffer = ""
    while chunk := stream.read(4096):
        buffer += chunk
        *complete, buffer = re.split(r"[\r\n]", buffer)
        yield from complete
    if buffer:
        yield buffer


@operator(
    "AudioLoudness",
    media_type="Audio",
    description="Integrated loudness, loudness range and true peak (EBU R 128), with a per-second timeline",
    version="1.0.0",
    configuration={"TargetLoudness": -23.0, "Tolerance": 1.0},
    timeout=1800,
)
def audio_loudness(ctx: OperatorContext) -> dict[str, Any]:
    """Measure the input's loudness; compare it with ``TargetLoudness`` (LUFS) within ``Tolerance`` (LU)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise OperatorError("AudioLoudness needs ffmpeg: apt-get install ffmpeg")
    source: Path = ctx.input_file()  # the first input media (Audio, or the Video it comes from)
    command = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-i", str(source), "-vn", "-sn", "-dn",
               "-af", "ebur128=peak=true", "-f", "null", "-"]  # fmt: skip
    duration = 0.0
    timeline: list[dict[str, Any]] = []
    log: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        try:
            for line in _lines(proc.stderr):
                log.append(line)
                if not duration and (found := _DURATION.search(line)):
                    hours, minutes, seconds = found.groups()
                    duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
                match = _LINE.search(line)
                if match is None:
                    continue
                t = float(match["t"])
                # Keep one point per second: enough for a chart, and flat in memory for long programmes.
                if not timeline or t - timeline[-1]["Timestamp"] / 1000 >= 1.0:
                    timeline.append(
                        {
                            "Timestamp": round(t * 1000),
                            "Momentary": _number(match["m"]),
                            "ShortTerm": _number(match["s"]),
                        }
                    )
                    if duration:
                        ctx.progress(100 * t / duration, f"measured {t:.0f} of {duration:.0f} s")
                    else:
                        ctx.check_cancelled()
        finally:
            if proc.poll() is None:  # cancelled or failed while reading: do not leave ffmpeg running
                proc.kill()
    text = "\n".join(log[-40:])
    if proc.returncode != 0:
        last = next((line for line in reversed(log) if line.strip()), f"exit code {proc.returncode}")
        raise OperatorError(
            f"AudioLoudness could not measure {source.name}: {last.replace(str(source), '').strip(': ')}"
        )
    summary = {name: pattern.search(text) for name, pattern in _SUMMARY.items()}
    if summary["IntegratedLoudness"] is None:
        raise OperatorError(f"AudioLoudness found no audio to measure in {source.name}")
    values = {name: (_number(m.group(1)) if m else None) for name, m in summary.items()}
    integrated = values["IntegratedLoudness"]
    target = float(ctx.config("TargetLoudness"))
    tolerance = float(ctx.config("Tolerance"))
    compliant = integrated is not None and abs(integrated - target) <= tolerance
    ctx.save_results({**values, "TargetLoudness": target, "Compliant": compliant, "Timeline": timeline})
    return {"AudioLoudness_LUFS": integrated, "AudioLoudness_Compliant": compliant}


def register(registry: OperatorRegistry) -> None:
    """Entry point (``mie.operators``): make AudioLoudness known to mie."""
    registry.register(audio_loudness)
