"""Media-preparation benchmark: each media operator on a generated clip, timed against the clip's duration.

Usage::

    .venv/bin/python bench/bench_media.py [--seconds 60] [--size 1280x720] [--fps 30] [--json PATH]

Generates a clip with ffmpeg lavfi (``testsrc2`` cut every 10 s to a solid colour, a 440 Hz tone with pauses),
then runs ``Mediainfo``, ``Thumbnail``, ``shotDetection`` and ``technicalCueDetection`` with :func:`mie.testing.
run_operator`, the last two on the proxy ``Thumbnail`` made (as in ``CasVideoWorkflow``). Prints wall time per
operator and as a fraction of the media's duration; ``Thumbnail`` is the one decoding pass of the source.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mie.library.media.cues import technical_cue_detection
from mie.library.media.mediainfo import mediainfo
from mie.library.media.shots import shot_detection
from mie.library.media.thumbnail import thumbnail
from mie.testing import run_operator


def make_clip(path: Path, seconds: int, size: str, fps: int) -> Path:
    """A clip alternating 9 s of testsrc2 and 1 s of a solid colour (a cut every 10 s), with a tone and pauses."""
    parts = max(1, seconds // 10)
    inputs: list[str] = []
    for index in range(parts):
        inputs += ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d=9"]
        inputs += ["-f", "lavfi", "-i", f"color=c={('red', 'blue', 'black')[index % 3]}:s={size}:r={fps}:d=1"]
    video = "".join(f"[{i}:v]" for i in range(2 * parts)) + f"concat=n={2 * parts}:v=1:a=0[v]"
    audio = f"sine=f=440:d={parts * 10},volume='if(lt(mod(t,10),8),1,0)':eval=frame[a]"
    cmd = ["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", f"{video};{audio}", "-map", "[v]",
           "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
           str(path)]  # fmt: skip
    subprocess.run(cmd, check=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="mie-bench-media-"))
    began = time.monotonic()
    clip = make_clip(root / "clip.mp4", args.seconds, args.size, args.fps)
    print(f"generated {args.seconds} s {args.size}@{args.fps} in {time.monotonic() - began:.1f} s ({clip})")
    duration = float(args.seconds)
    rows: list[dict[str, object]] = []

    def timed(name: str, run: object) -> None:
        started = time.monotonic()
        result = run() if callable(run) else None
        wall = time.monotonic() - started
        rows.append({"operator": name, "seconds": round(wall, 2), "fraction_of_duration": round(wall / duration, 3)})
        print(f"{name:24s} {wall:7.2f} s  {wall / duration:6.3f} x duration  {getattr(result, 'status', '')}")

    timed("Mediainfo", lambda: run_operator(mediainfo, clip))
    thumb = {}

    def run_thumbnail() -> object:
        result = run_operator(thumbnail, clip, workdir=root / "thumb")
        thumb.update(result.media_files)
        return result

    timed("Thumbnail", run_thumbnail)
    inputs = {"Video": clip, "ProxyEncode": thumb["ProxyEncode"]}
    timed("shotDetection", lambda: run_operator(shot_detection, inputs))
    timed("technicalCueDetection", lambda: run_operator(technical_cue_detection, inputs))
    total = sum(float(str(r["seconds"])) for r in rows)
    print(f"{'total (sequential)':24s} {total:7.2f} s  {total / duration:6.3f} x duration")
    if args.json:
        args.json.write_text(json.dumps({"clip": vars(args) | {"json": None}, "operators": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
