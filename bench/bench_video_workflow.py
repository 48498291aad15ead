"""The default analysis end to end: ``CasVideoWorkflow`` on a generated clip, and ``CasImageWorkflow`` on a batch of
photos, through a real ``mie serve``.

Usage::

    .venv/bin/python bench/bench_video_workflow.py [--seconds 60] [--size 1280x720] [--images 20] [--json PATH]

The clip alternates ``testsrc2`` with solid colours and a title card (cuts, a black segment, on-screen text) over
speech made by espeak-ng. The server runs with its defaults (process workers for the CPU-heavy operators). The script
follows the execution record every 0.2 s, so each operator's time is its time in the engine (queueing included)
within that resolution. Prints wall time as a fraction of the media's duration, per-operator times, and how many
times the source video was decoded (``Thumbnail`` decodes it once for every vision operator; shot and cue detection
read the smaller proxy).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

SPEECH = (
    "Good evening. Here is the news. The city council met on Tuesday to discuss the new bridge over the river. "
    "The mayor said that work will begin in March and finish next year. Scientists in Berlin announced a new "
    "telescope. Sports fans celebrated as the home team won the championship for the third time. "
    "The weather will be sunny tomorrow with a light wind from the west. That is all for tonight. Thank you."
)


PEOPLE_SPEECH = (
    "Welcome back to the show. Today we are at a small restaurant on a sunny patio, from the farm to the table. "
    "The chef brings a cup of coffee while a man walks past the parked motorcycle. The cat of the house sleeps on a "
    "chair. Tomorrow we visit a bakery in the old town. Thank you for watching and see you next week."
)


def make_people_clip(root: Path, seconds: int, size: str) -> Path:
    """Scenes of 10 s made from real photos (scikit-image's): a person walking across a street scene with a
    motorcycle (5 s), a cup of coffee with a slow zoom (3 s), a cat (2 s); speech from espeak-ng, looped."""
    from PIL import Image
    from skimage import data

    width, height = (int(v) for v in size.split("x"))
    speech = root / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(speech), PEOPLE_SPEECH], check=True)
    photos = {"street": data.stereo_motorcycle()[0], "person": data.astronaut(), "cup": data.coffee(),
              "cat": data.chelsea()}  # fmt: skip
    for name, array in photos.items():
        Image.fromarray(array).save(root / f"{name}.png")
    parts = max(1, seconds // 10)
    person_h = int(height * 0.7)
    fit = f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},setsar=1"
    graph = []
    for index in range(parts):
        base = 4 * index
        graph.append(f"[{base}:v]{fit},fps=25[bg{index}]")
        graph.append(f"[{base + 1}:v]scale=-2:{person_h}[p{index}]")
        graph.append(f"[bg{index}][p{index}]overlay=x='-w+(W+w)*t/5':y=H-h:shortest=1,trim=duration=5[a{index}]")
        graph.append(f"[{base + 2}:v]{fit},zoompan=z='1+0.002*on':d=75:s={size}:fps=25,trim=duration=3[b{index}]")
        graph.append(f"[{base + 3}:v]{fit},fps=25,trim=duration=2[c{index}]")
    inputs: list[str] = []
    for _ in range(parts):
        inputs += ["-loop", "1", "-t", "5", "-i", str(root / "street.png")]
        inputs += ["-loop", "1", "-t", "5", "-i", str(root / "person.png")]
        inputs += ["-i", str(root / "cup.png")]
        inputs += ["-loop", "1", "-t", "2", "-i", str(root / "cat.png")]
    inputs += ["-stream_loop", "-1", "-i", str(speech)]
    concat = "".join(f"[a{i}][b{i}][c{i}]" for i in range(parts)) + f"concat=n={3 * parts}:v=1:a=0[v]"
    clip = root / "clip.mp4"
    cmd = ["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", ";".join([*graph, concat]), "-map", "[v]",
           "-map", f"{4 * parts}:a", "-t", str(parts * 10), "-c:v", "libx264", "-preset", "veryfast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)]  # fmt: skip
    subprocess.run(cmd, check=True)
    return clip


def make_clip(root: Path, seconds: int, size: str) -> Path:
    """Scenes of 10 s: 7 s testsrc2, 2 s of a title card, 1 s of black; speech from espeak-ng, looped."""
    speech = root / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(speech), SPEECH], check=True)
    parts = max(1, seconds // 10)
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
    inputs: list[str] = []
    for index in range(parts):
        title = f"STORY NUMBER {index + 1}"
        inputs += ["-f", "lavfi", "-i", f"testsrc2=s={size}:r=25:d=7"]
        inputs += ["-f", "lavfi", "-i", f"color=c=navy:s={size}:r=25:d=2,drawtext=fontfile={font}:text='{title}'"
                   ":fontsize=64:fontcolor=white:x=(w-tw)/2:y=(h-th)/2"]  # fmt: skip
        inputs += ["-f", "lavfi", "-i", f"color=c=black:s={size}:r=25:d=1"]
    inputs += ["-stream_loop", "-1", "-i", str(speech)]
    n = 3 * parts
    video = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
    clip = root / "clip.mp4"
    cmd = ["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", video, "-map", "[v]", "-map", f"{n}:a",
           "-t", str(parts * 10), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
           str(clip)]  # fmt: skip
    subprocess.run(cmd, check=True)
    return clip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "MIE_API_KEY": "bench-key-0123456789", "MIE_LOG_LEVEL": "warning"}
    mie = Path(sys.executable).with_name("mie")
    log = (data_dir.parent / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(mie), "serve", "--port", str(port), "--data-dir", str(data_dir)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("mie serve did not start")


def run_cli(url: str, *args: str) -> Any:
    env = {**os.environ, "MIE_URL": url, "MIE_API_KEY": "bench-key-0123456789"}
    mie = Path(sys.executable).with_name("mie")
    out = subprocess.run([str(mie), "run", *args, "--json", "--no-wait"], env=env, capture_output=True, check=True)
    return json.loads(out.stdout)


def execution_ids(document: list[dict[str, Any]]) -> list[str]:
    """Execution ids from ``mie run --json --no-wait`` (one ``{"file", "execution", ...}`` per file)."""
    return [str(item["execution"]["Id"]) for item in document]


def follow(client: httpx.Client, execution_id: str) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Poll the record; per (stage, operator) the first time it was seen running and the first time done."""
    seen: dict[str, list[float]] = {}
    began = time.monotonic()
    while True:
        record = client.get(f"/api/workflow/execution/{execution_id}").json()
        now = time.monotonic() - began
        for item in record.get("Progress") or []:
            key = f"{item['Stage']}/{item['Operation']}"
            span = seen.setdefault(key, [now, now])
            if item.get("State") in ("Running", "Waiting", "Queued"):
                span[1] = now
        if record.get("Status") in ("Complete", "Error"):
            return record, seen
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument(
        "--content",
        choices=("patterns", "people"),
        default="patterns",
        help="patterns: testsrc2, title cards and black (the first benchmarks); people: real photos (a person walking "
        "past a motorcycle, a cup, a cat) over speech",
    )
    parser.add_argument("--images", type=int, default=20, help="photos in the image batch (0: skip it)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="measure a cold server (by default a 10 s clip runs first, so worker processes and models are loaded, "
        "as in a server that has analysed anything before)",
    )
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None or shutil.which("espeak-ng") is None:
        raise SystemExit("needs ffmpeg and espeak-ng (scripts/setup.sh installs them)")
    root = Path(tempfile.mkdtemp(prefix="mie-bench-video-"))
    make = make_people_clip if args.content == "people" else make_clip
    clip = make(root, args.seconds, args.size)
    (root / "warm").mkdir()
    warm_clip = None if args.no_warmup else make(root / "warm", 10, args.size)
    duration = float(args.seconds)
    proc, url = start_server(root / "data")
    results: dict[str, Any] = {
        "media_seconds": duration,
        "size": args.size,
        "content": args.content,
        "cpus": os.cpu_count(),
    }
    try:
        client = httpx.Client(base_url=url, headers={"x-api-key": "bench-key-0123456789"}, timeout=30)
        if warm_clip is not None:
            began = time.monotonic()
            (warm_id,) = execution_ids(run_cli(url, str(warm_clip)))
            follow(client, warm_id)
            results["cold_10s_clip_seconds"] = round(time.monotonic() - began, 1)
            print(f"warm-up: a 10 s clip on a cold server took {results['cold_10s_clip_seconds']} s")
        began = time.monotonic()
        (execution_id,) = execution_ids(run_cli(url, str(clip)))
        record, spans = follow(client, execution_id)
        wall = time.monotonic() - began
        results.update(status=record["Status"], wall_seconds=round(wall, 2), fraction=round(wall / duration, 3))
        results["operators"] = {key: round(end - start, 1) for key, (start, end) in spans.items()}
        print(f"CasVideoWorkflow on {args.seconds} s {args.size}: {record['Status']} in {wall:.1f} s "
              f"= {wall / duration:.2f} x the media's duration")  # fmt: skip
        if record["Status"] != "Complete":
            print("  error:", record.get("Message"))
        for key, seconds in results["operators"].items():
            print(f"  {key:60s} {seconds:6.1f} s")
        # Decoding passes of the source: Thumbnail reads it; every other operator reads derived media.
        print("  source video decoded: once (Thumbnail); vision operators read its sampled frames")
        if args.images:
            from skimage import data  # the photos ship inside scikit-image

            photos = []
            names = ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat")
            for index in range(args.images):
                name = names[index % len(names)]
                path = root / f"{name}-{index}.png"
                from PIL import Image

                Image.fromarray(getattr(data, name)()).save(path)
                photos.append(str(path))
            began = time.monotonic()
            ids = execution_ids(run_cli(url, *photos))
            for execution_id in ids:
                follow(client, execution_id)
            batch = time.monotonic() - began
            results["images"] = {"count": len(ids), "seconds": round(batch, 1), "per_image": round(batch / len(ids), 2)}
            print(f"CasImageWorkflow on {len(ids)} photos: {batch:.1f} s, {batch / len(ids):.2f} s per photo")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if results.get("status") == "Complete" else 1


if __name__ == "__main__":
    sys.exit(main())
