"""Transcode speed: a job through the engine (queue, probing, one ffmpeg command, uploads, events) against the
plain ffmpeg command with the same settings. Run by hand: ``.venv/bin/python bench/bench_transcode.py [SECONDS]``.

The overhead reported is (job wall time - plain ffmpeg wall time) / plain ffmpeg wall time; the median of 3 runs
of each is used. Results go to BENCHMARKS.md by hand.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mie.bootstrap import build
from mie.config import load_settings
from mie.jobs.compile import compile_job
from mie.jobs.component import JobsComponent
from mie.jobs.defaults import default_job
from mie.jobs.probe import describe_input, ffprobe
from mie.jobs.spec import parse_job, rewrite_destinations, set_input


def make_clip(path: Path, seconds: int) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
         "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = root / "clip.mp4"
        make_clip(clip, seconds)
        settings = rewrite_destinations(
            set_input(default_job(), "s3://dataplane/in/clip.mp4"), "media", "clip", "Default"
        )
        spec = parse_job(settings)
        info = describe_input(ffprobe("ffprobe", clip), "s3://dataplane/in/clip.mp4")
        plain = []
        for n in range(3):
            plan = compile_job(spec, info, clip, root / f"plain{n}", "clip")
            began = time.perf_counter()
            subprocess.run(["ffmpeg", *plan.args], check=True, stdout=subprocess.DEVNULL)
            plain.append(time.perf_counter() - began)
        base = load_settings(environ={}, data_dir=root / "data", api_key="bench-key-0123456789")
        svc = build(base.with_overrides(watch_enabled=False, job_status_interval=1.0))
        svc.start()
        try:
            with clip.open("rb") as fh:
                svc.dataplane.objects.put_stream("dataplane", "in/clip.mp4", fh)
            component = svc.components["jobs"]
            assert isinstance(component, JobsComponent)
            ours = []
            for _ in range(3):
                began = time.perf_counter()
                job = component.jobs.create({"Settings": settings})
                while (doc := component.jobs.get(job["id"]))["status"] not in ("COMPLETE", "ERROR"):
                    time.sleep(0.02)
                assert doc["status"] == "COMPLETE", doc.get("errorMessage")
                ours.append(time.perf_counter() - began)
        finally:
            svc.stop()
    p, o = statistics.median(plain), statistics.median(ours)
    print(f"default job (HLS 360/540/720p, MP4 720p, thumbnails/5 s) on a {seconds} s 1280x720 25 fps clip")
    print(f"plain ffmpeg: {p:.2f} s   mie job: {o:.2f} s   overhead: {100 * (o - p) / p:+.1f} %")
    print(f"runs plain: {[round(x, 2) for x in plain]}  mie: {[round(x, 2) for x in ours]}")


if __name__ == "__main__":
    main()
