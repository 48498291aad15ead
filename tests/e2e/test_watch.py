"""The watch folder on a real ``mie serve``: a clip dropped into ``inputs/`` gets the bundled default job (HLS
360p/540p/720p, MP4, thumbnails) whose outputs play; a corrupt file ends ERROR with a message; a file still being
written is not taken early; a kill -9 in the middle of a job leaves it resumed or ERROR, never PROGRESSING, and no
file is processed twice."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import FAST_ENV, MieServer
from tests.unit.test_jobs_api import check_metrics, make_clip, probe, segment_durations, small_settings

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")]

WATCH_ENV = {
    **FAST_ENV,
    "MIE_JOB_STATUS_INTERVAL": "0.2",
    "MIE_WATCH_INTERVAL": "0.2",
    "MIE_WATCH_SETTLE_SECONDS": "0.5",
}
TERMINAL = {"COMPLETE", "ERROR", "CANCELED"}


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return dict(WATCH_ENV)


def drop(server: MieServer, source: Path, name: str) -> Path:
    """Copy a file into inputs/ the way a careful copier does (hidden name, then rename)."""
    inputs = server.data_dir / "watch" / "inputs"
    hidden = inputs / f".{name}.partial"
    shutil.copyfile(source, hidden)
    target = inputs / name
    hidden.rename(target)
    return target


def watch_record(client: httpx.Client, path: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = client.get("/api/watch").json()["Files"]
        found = [f for f in files if f["Path"] == path and f["Status"] != "Processing"]
        if found:
            assert len(found) == 1, found
            record: dict[str, Any] = found[0]
            return record
        time.sleep(0.1)
    raise AssertionError(f"{path} was not taken by the watch folder")


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if doc["status"] in TERMINAL:
            return doc
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end")


def local(server: MieServer, uri: str) -> Path:
    return server.data_dir / "objects" / uri[5:]


def test_a_dropped_clip_gets_the_default_job(server: MieServer, client: httpx.Client, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "src.mp4", seconds=6, size="160x120", rate=5)
    name = "my clip é.mp4"  # spaces and unicode are kept as given
    drop(server, clip, name)
    record = watch_record(client, f"inputs/{name}")
    assert record["Status"] == "Submitted", record
    assert record["AssetId"]
    assert len(record["JobIds"]) == 1
    doc = wait_job(client, record["JobIds"][0])
    assert doc["status"] == "COMPLETE", doc.get("errorMessage")
    assert doc["userMetadata"]["settings"] == "Default"
    assert doc["userMetadata"]["assetID"] == record["AssetId"]
    check_metrics(doc, client.get(f"/api/jobs/{doc['id']}/events").json())
    hls, mp4, thumbs = doc["outputGroupDetails"]
    master = hls["playlistFilePaths"][0]
    assert master == "s3://media/my clip é/Default/HLS/my clip é.m3u8"
    for detail, (w, h) in zip(hls["outputDetails"], [(640, 360), (960, 540), (1280, 720)], strict=True):
        playlist = local(server, detail["outputFilePaths"][0])
        video = next(s for s in probe(playlist)["streams"] if s["codec_type"] == "video")
        assert (video["width"], video["height"]) == (w, h)
        assert segment_durations(playlist) == pytest.approx([6.0], abs=0.25)  # one 10 s segment at most
    movie = probe(local(server, mp4["outputDetails"][0]["outputFilePaths"][0]))
    assert abs(float(movie["format"]["duration"]) - 6) < 0.3
    assert [p.rsplit("/", 1)[1] for p in thumbs["outputDetails"][0]["outputFilePaths"]] == [
        "my clip é_thumb.0000000.jpg",
        "my clip é_thumb.0000001.jpg",
    ]
    url = client.post("/api/dataplane/download", json={"S3Bucket": "media", "S3Key": master[len("s3://media/") :]})
    assert url.status_code == 200, url.text
    assert httpx.get(url.json()).text.startswith("#EXTM3U")


def test_a_corrupt_file_ends_error_with_a_message(server: MieServer, client: httpx.Client, tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(bytes(range(256)) * 40)
    drop(server, bad, "broken.mp4")
    record = watch_record(client, "inputs/broken.mp4")
    assert record["AssetId"] is None  # not recognisable media: no asset, but the job says why
    doc = wait_job(client, record["JobIds"][0])
    assert doc["status"] == "ERROR"
    assert doc["errorCode"] == 1010
    assert "cannot read the input" in doc["errorMessage"]
    assert doc["id"] in [j["id"] for j in client.get("/api/jobs/ERROR").json()]


def test_a_file_being_written_is_not_taken_early(server: MieServer, client: httpx.Client, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "src.mp4", seconds=2, size="160x120", rate=5)
    data = clip.read_bytes()
    target = server.data_dir / "watch" / "inputs" / "slow copy.mp4"
    with target.open("wb") as fh:
        for start in range(0, len(data), len(data) // 8 + 1):
            fh.write(data[start : start + len(data) // 8 + 1])
            fh.flush()
            time.sleep(0.3)  # shorter than the settle time: the file keeps changing
            files = client.get("/api/watch").json()["Files"]
            assert "inputs/slow copy.mp4" not in [f["Path"] for f in files]
    record = watch_record(client, "inputs/slow copy.mp4")
    assert record["Size"] == len(data)
    assert wait_job(client, record["JobIds"][0])["status"] == "COMPLETE"


@pytest.mark.timeout(240)
def test_kill_9_mid_job_then_restart(launch: Callable[..., MieServer], tmp_path: Path) -> None:
    srv = launch(**{k: v for k, v in WATCH_ENV.items() if k not in FAST_ENV})
    client = srv.client
    # A settings file in jobs/ replaces the default job (a quicker ladder, 2 s segments).
    (srv.data_dir / "watch" / "jobs" / "small.json").write_text(json.dumps(small_settings("s3://<MEDIABUCKET>/")))
    clip = make_clip(tmp_path / "src.mp4", seconds=60, size="160x120", rate=10)
    drop(srv, clip, "long.mp4")
    record = watch_record(client, "inputs/long.mp4")
    job_id = record["JobIds"][0]
    deadline = time.monotonic() + 60
    while client.get(f"/api/jobs/{job_id}").json().get("progressMetrics", {}).get("currentPhase") != "TRANSCODING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    srv.kill()
    srv.start()
    doc = wait_job(client, job_id, timeout=180)
    assert doc["status"] in ("COMPLETE", "ERROR")
    assert doc["userMetadata"]["settings"] == "jobs/small.json"
    if doc["status"] == "COMPLETE":
        assert doc["progressMetrics"]["percentJobComplete"] == 100
    assert client.get("/api/jobs/PROGRESSING").json() == []
    # The same file is not processed again after the restart.
    time.sleep(1.0)
    files = [f for f in client.get("/api/watch").json()["Files"] if f["Path"] == "inputs/long.mp4"]
    assert len(files) == 1
    assert len(client.get("/api/jobs").json()) == 1
