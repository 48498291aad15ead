"""Transcode jobs end to end in one process: ``/api/jobs`` routes, real ffmpeg outputs (ffprobe), MediaConvert
events in the change log, metrics, cancellation, restarts, retention and the ``Transcode`` operator."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from mie.bootstrap import Services, build
from mie.config import Settings
from mie.errors import OperatorError
from mie.jobs.component import JobsComponent
from mie.storage.sql import jobs_tables
from tests.conftest import fast_settings
from tests.helpers import API_KEY, assert_error

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (apt-get install ffmpeg)")

TERMINAL = {"COMPLETE", "ERROR", "CANCELED"}


def make_clip(path: Path, seconds: float = 5, size: str = "160x120", rate: int = 10, audio: bool = True) -> Path:
    """A small generated test clip (lavfi test pattern and a sine tone)."""
    args = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-shortest"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(args, check=True)
    return path


def rendition(width: int, height: int, bitrate: int, container: str, modifier: str) -> dict[str, Any]:
    return {
        "NameModifier": modifier,
        "ContainerSettings": {"Container": container},
        "VideoDescription": {
            "Width": width,
            "Height": height,
            "CodecSettings": {"Codec": "H_264", "H264Settings": {"Bitrate": bitrate, "RateControlMode": "CBR"}},
        },
        "AudioDescriptions": [{"CodecSettings": {"Codec": "AAC", "AacSettings": {"Bitrate": 64000}}}],
    }


def small_settings(destination: str = "s3://media/out/", segment: int = 2) -> dict[str, Any]:
    """A quick job: an HLS ladder (180p, 270p; ``segment`` s), a 180p MP4 and thumbnails every 2 s."""
    return {
        "Inputs": [{"FileInput": "s3://dataplane/in/clip.mp4"}],
        "OutputGroups": [
            {
                "CustomName": "HLS",
                "OutputGroupSettings": {
                    "Type": "HLS_GROUP_SETTINGS",
                    "HlsGroupSettings": {"SegmentLength": segment, "Destination": destination + "HLS/"},
                },
                "Outputs": [
                    rendition(320, 180, 300_000, "M3U8", "_180"),
                    rendition(480, 270, 500_000, "M3U8", "_270"),
                ],
            },
            {
                "CustomName": "MP4",
                "OutputGroupSettings": {
                    "Type": "FILE_GROUP_SETTINGS",
                    "FileGroupSettings": {"Destination": destination + "MP4/"},
                },
                "Outputs": [rendition(320, 180, 300_000, "MP4", "_180")],
            },
            {
                "CustomName": "Thumbnails",
                "OutputGroupSettings": {
                    "Type": "FILE_GROUP_SETTINGS",
                    "FileGroupSettings": {"Destination": destination + "Thumbnails/"},
                },
                "Outputs": [
                    {
                        "NameModifier": "_thumb",
                        "ContainerSettings": {"Container": "RAW"},
                        "VideoDescription": {
                            "Width": 160,
                            "Height": 90,
                            "CodecSettings": {
                                "Codec": "FRAME_CAPTURE",
                                "FrameCaptureSettings": {"FramerateNumerator": 1, "FramerateDenominator": 2},
                            },
                        },
                    }
                ],
            },
        ],
    }


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        check=True,
    )
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def segment_durations(playlist: Path) -> list[float]:
    return [float(line[8:].rstrip(",")) for line in playlist.read_text().splitlines() if line.startswith("#EXTINF:")]


def wait_job(client: httpx.Client, job_id: str, statuses: set[str] = TERMINAL, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = client.get(f"/api/jobs/{job_id}")
        assert r.status_code == 200, r.text
        doc = r.json()
        if doc["status"] in statuses:
            return doc
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stayed {doc.get('status')}")


def check_outputs(objects_dir: Path, doc: dict[str, Any], clip_seconds: float, segment: float) -> None:
    """The COMPLETE job's outputs exist in the object store and play with the right sizes and durations."""
    groups = {g["type"]: g for g in doc["outputGroupDetails"] if g["type"] == "HLS_GROUP"}
    files = [g for g in doc["outputGroupDetails"] if g["type"] == "FILE_GROUP"]

    def local(uri: str) -> Path:
        assert uri.startswith("s3://")
        return objects_dir / uri[5:]

    hls = groups["HLS_GROUP"]
    master = local(hls["playlistFilePaths"][0])
    text = master.read_text()
    assert text.startswith("#EXTM3U")
    assert "RESOLUTION=320x180" in text
    assert "RESOLUTION=480x270" in text
    for detail, (w, h) in zip(hls["outputDetails"], [(320, 180), (480, 270)], strict=True):
        assert detail["videoDetails"] == {"widthInPx": w, "heightInPx": h}
        assert abs(detail["durationInMs"] - clip_seconds * 1000) < 300
        playlist = local(detail["outputFilePaths"][0])
        durations = segment_durations(playlist)
        assert len(durations) == int(clip_seconds // segment) + (1 if clip_seconds % segment else 0)
        assert all(abs(d - segment) < 0.11 for d in durations[:-1]), durations
        assert abs(sum(durations) - clip_seconds) < 0.3
        stream = probe(playlist)
        video = next(s for s in stream["streams"] if s["codec_type"] == "video")
        assert (video["width"], video["height"], video["codec_name"]) == (w, h, "h264")
        assert any(s["codec_type"] == "audio" for s in stream["streams"])
    mp4 = local(files[0]["outputDetails"][0]["outputFilePaths"][0])
    facts = probe(mp4)
    assert abs(float(facts["format"]["duration"]) - clip_seconds) < 0.3
    video = next(s for s in facts["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (320, 180)
    thumbs = files[1]["outputDetails"][0]["outputFilePaths"]
    assert len(thumbs) == int(clip_seconds // 2) + (1 if clip_seconds % 2 else 0)
    image = probe(local(thumbs[0]))["streams"][0]
    assert (image["codec_name"], image["width"], image["height"]) == ("mjpeg", 160, 90)


def check_metrics(doc: dict[str, Any], events: list[dict[str, Any]]) -> None:
    """100 % at COMPLETE, every frame decoded, progress never going back, events in MediaConvert's shapes."""
    m = doc["progressMetrics"]
    assert m["percentJobComplete"] == 100
    assert m["percentDecodeComplete"] == 100
    assert m["framesDecoded"] == m["frameCount"] == doc["analysis"]["frameCount"] > 0
    assert m["framesRemaining"] == 0
    assert m["statusDuration"] > 0
    assert m["decodeRate"] == pytest.approx(m["framesDecoded"] / m["statusDuration"])
    statuses = [e["detail"]["status"] for e in events]
    assert statuses[:2] == ["SUBMITTED", "PROGRESSING"]
    assert "INPUT_INFORMATION" in statuses
    assert statuses[-1] == "COMPLETE"
    updates = [e["detail"] for e in events if e["detail"]["status"] == "STATUS_UPDATE"]
    assert updates, statuses
    percents = [u["jobProgress"]["jobPercentComplete"] for u in updates]
    frames = [u["framesDecoded"] for u in updates]
    assert percents == sorted(percents)
    assert frames == sorted(frames)
    assert {u["jobProgress"]["currentPhase"] for u in updates} <= {"PROBING", "TRANSCODING", "UPLOADING"}
    for e in events:
        assert e["detail-type"] == "MediaConvert Job State Change"
        assert e["source"] == "aws.mediaconvert"
        assert e["detail"]["jobId"] == doc["id"]
        assert isinstance(e["detail"]["timestamp"], int)


def job_settings(settings: Settings, **extra: str) -> Settings:
    return settings.with_overrides(**{"job_status_interval": "0.2", "watch_enabled": "false", **extra})


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=5)


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> Iterator[Services]:
    services = build(job_settings(fast_settings(tmp_path_factory.mktemp("jobs") / "data")))
    services.start()
    with clip.open("rb") as fh:
        services.dataplane.objects.put_stream("dataplane", "in/clip.mp4", fh)
    try:
        yield services
    finally:
        services.stop()


@pytest.fixture(scope="module")
def api(svc: Services) -> Iterator[TestClient]:
    with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
        yield client


@pytest.fixture(scope="module")
def completed(api: TestClient) -> dict[str, Any]:
    r = api.post("/api/jobs", json={"Settings": small_settings(), "UserMetadata": {"application": "tests"}})
    assert r.status_code == 201, r.text
    job = r.json()["Job"]
    assert job["status"] == "SUBMITTED"
    assert job["id"].count("-") == 1
    return wait_job(api, job["id"])


def test_a_job_completes_and_its_outputs_play(svc: Services, completed: dict[str, Any], api: TestClient) -> None:
    assert completed["status"] == "COMPLETE", completed.get("errorMessage")
    check_outputs(svc.settings.objects_dir, completed, clip_seconds=5, segment=2)
    events = api.get(f"/api/jobs/{completed['id']}/events").json()
    check_metrics(completed, events)
    assert completed["userMetadata"] == {"application": "tests"}
    assert completed["analysis"]["num_outputs"] == 4
    info = next(e for e in events if e["detail"]["status"] == "INPUT_INFORMATION")["detail"]["inputDetails"][0]
    assert info["video"][0]["codec"] == "H_264"
    assert (info["video"][0]["width"], info["video"][0]["height"]) == (160, 120)


def test_events_go_to_the_change_log(svc: Services, completed: dict[str, Any]) -> None:
    stream = [
        c
        for c in svc.changes.read(0, limit=10000, source="MediaConvert")
        if c["payload"]["detail"]["jobId"] == completed["id"]
    ]
    assert [c["payload"]["detail"]["status"] for c in stream][-1] == "COMPLETE"
    assert stream[0]["payload"]["detail"]["status"] == "SUBMITTED"


def test_outputs_are_downloadable(api: TestClient, completed: dict[str, Any]) -> None:
    mp4 = completed["outputGroupDetails"][1]["outputDetails"][0]["outputFilePaths"][0]
    bucket, _, key = mp4[5:].partition("/")
    url = api.post("/api/dataplane/download", json={"S3Bucket": bucket, "S3Key": key})
    assert url.status_code == 200, url.text
    got = api.get(httpx.URL(url.json()).raw_path.decode())
    assert got.status_code == 200
    assert got.content[4:8] == b"ftyp"


def test_listing_by_status_and_aliases(api: TestClient, completed: dict[str, Any]) -> None:
    second = api.post("/api/jobs", json=small_settings("s3://media/second/")).json()["Job"]
    wait_job(api, second["id"])
    listed = api.get("/api/jobs/COMPLETE").json()
    ids = [j["id"] for j in listed]
    assert ids.index(second["id"]) < ids.index(completed["id"])  # newest first
    assert api.get("/api/progress/status/COMPLETE").json() == listed
    assert api.get("/api/jobs/PROGRESSING").json() == []
    assert api.get(f"/api/progress/job/{completed['id']}").json()["id"] == completed["id"]
    assert_error(api.get("/api/progress/status/DONE"), 400, "SUBMITTED")
    assert_error(api.get("/api/jobs/1-nosuch"), 404, "1-nosuch")
    assert_error(api.get("/api/progress/job/1-nosuch"), 404)
    assert_error(api.get("/api/jobs/1-nosuch/events"), 404)
    assert httpx.get  # the routes need the key:
    assert TestClient(api.app).get("/api/jobs/COMPLETE").status_code == 401


def test_unsupported_settings_are_refused_by_name(api: TestClient) -> None:
    settings = small_settings()
    settings["OutputGroups"][0]["OutputGroupSettings"]["Type"] = "CMAF_GROUP_SETTINGS"
    assert_error(api.post("/api/jobs", json={"Settings": settings}), 400, "OutputGroups[0].OutputGroupSettings.Type")
    settings = small_settings()
    settings["OutputGroups"][1]["Outputs"][0]["VideoDescription"]["CodecSettings"]["H264Settings"]["Foo"] = 1
    assert_error(api.post("/api/jobs", json={"Settings": settings}), 400, "H264Settings.Foo")
    assert_error(api.post("/api/jobs", json=[1]), 400)
    assert_error(api.post("/api/jobs", json={"Settings": small_settings(), "StatusUpdateInterval": "SECONDS_7"}), 400)


def test_a_missing_or_corrupt_input_ends_error(svc: Services, api: TestClient) -> None:
    svc.dataplane.objects.put_bytes("dataplane", "in/corrupt.mp4", b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    for uri in ("s3://dataplane/in/corrupt.mp4", "s3://dataplane/in/absent.mp4"):
        settings = small_settings()
        settings["Inputs"][0]["FileInput"] = uri
        job = api.post("/api/jobs", json={"Settings": settings}).json()["Job"]
        doc = wait_job(api, job["id"])
        assert doc["status"] == "ERROR"
        assert doc["errorCode"] == 1010
        assert uri in doc["errorMessage"]
        last = api.get(f"/api/jobs/{job['id']}/events").json()[-1]["detail"]
        assert (last["status"], last["errorCode"]) == ("ERROR", 1010)
        assert last["errorMessage"] == doc["errorMessage"]


def test_cancel_kills_ffmpeg(svc: Services, api: TestClient, tmp_path: Path) -> None:
    long_clip = make_clip(tmp_path / "long.mp4", seconds=120, size="320x240", rate=25, audio=False)
    with long_clip.open("rb") as fh:
        svc.dataplane.objects.put_stream("dataplane", "in/long.mp4", fh)
    settings = small_settings("s3://media/long/")
    settings["Inputs"][0]["FileInput"] = "s3://dataplane/in/long.mp4"
    job = api.post("/api/jobs", json={"Settings": settings}).json()["Job"]
    deadline = time.monotonic() + 30
    while api.get(f"/api/jobs/{job['id']}").json().get("progressMetrics", {}).get("currentPhase") != "TRANSCODING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    began = time.monotonic()
    r = api.post(f"/api/jobs/{job['id']}/cancel")
    assert r.status_code == 200, r.text
    doc = wait_job(api, job["id"], timeout=10)
    assert time.monotonic() - began < 5
    assert doc["status"] == "CANCELED"
    assert doc["progressMetrics"]["percentJobComplete"] < 100
    assert_error(api.post(f"/api/jobs/{job['id']}/cancel"), 409)
    assert_error(api.post("/api/jobs/1-nosuch/cancel"), 404)
    assert not (svc.settings.objects_dir / "media" / "long").exists()


def test_restarts_resume_or_end_jobs(tmp_path: Path, clip: Path) -> None:
    """Jobs a stopped or crashed server was running are run again; after too many restarts they end ERROR."""
    settings = job_settings(fast_settings(tmp_path / "data"))
    first = build(settings)
    with clip.open("rb") as fh:
        first.dataplane.objects.put_stream("dataplane", "in/clip.mp4", fh)
    component = first.components["jobs"]
    assert isinstance(component, JobsComponent)
    resumed = component.jobs.create(small_settings())["id"]
    crashed = component.jobs.create(small_settings("s3://media/b/"))["id"]
    given_up = component.jobs.create(small_settings("s3://media/c/"))["id"]
    jobs = jobs_tables.jobs
    with first.db.write() as conn:  # as a crash leaves them: claimed, PROGRESSING
        conn.execute(
            update(jobs)
            .where(jobs.c.id.in_([resumed, crashed]))
            .values(state="running", status="PROGRESSING", attempt=1)
        )
        conn.execute(update(jobs).where(jobs.c.id == given_up).values(state="running", status="PROGRESSING", attempt=2))
    first.stop()
    second = build(settings)
    second.start()
    try:
        with TestClient(second.app(), headers={"x-api-key": API_KEY}) as client:
            assert wait_job(client, resumed)["status"] == "COMPLETE"
            done = wait_job(client, crashed)
            assert done["status"] == "COMPLETE"
            statuses = [e["detail"]["status"] for e in client.get(f"/api/jobs/{crashed}/events").json()]
            assert statuses.count("PROGRESSING") == 1  # the crashed run left no event: SUBMITTED then the re-run
            failed = wait_job(client, given_up)
            assert failed["status"] == "ERROR"
            assert failed["errorCode"] == 1999
            assert "restart" in failed["errorMessage"]
            assert client.get("/api/jobs/PROGRESSING").json() == []
            # A graceful stop in the middle of a job puts it back in the queue; the next start finishes it.
            job = client.post("/api/jobs", json=small_settings("s3://media/d/")).json()["Job"]
            wait_job(client, job["id"], {"PROGRESSING"} | TERMINAL)
    finally:
        second.stop()
    third = build(settings)
    third.start()
    try:
        with TestClient(third.app(), headers={"x-api-key": API_KEY}) as client:
            assert wait_job(client, job["id"])["status"] == "COMPLETE"
    finally:
        third.stop()


def test_retention_purges_old_jobs(svc: Services, api: TestClient, completed: dict[str, Any]) -> None:
    component = svc.components["jobs"]
    assert isinstance(component, JobsComponent)
    old = component.jobs.create(small_settings("s3://media/old/"))["id"]
    wait_job(api, old)
    jobs = jobs_tables.jobs
    with svc.db.write() as conn:
        conn.execute(update(jobs).where(jobs.c.id == old).values(expires_at=time.time() - 1))
    assert component.jobs.purge() == 1
    assert_error(api.get(f"/api/jobs/{old}"), 404)
    assert api.get(f"/api/jobs/{completed['id']}").status_code == 200


def test_transcode_operator_without_a_server(clip: Path, tmp_path: Path) -> None:
    from mie.jobs.operator import transcode
    from mie.testing import run_operator

    settings = small_settings()
    run = run_operator(
        transcode, clip, configuration={"JobSettings": settings, "SettingsName": "small"}, workdir=tmp_path
    )
    assert run.status == "Complete", run.output
    details = run.metadata["OutputGroupDetails"]
    assert [g["type"] for g in details] == ["HLS_GROUP", "FILE_GROUP", "FILE_GROUP"]
    playlist = details[0]["playlistFilePaths"][0]
    assert "/workflows/" in playlist
    assert playlist.endswith("/Transcode/small/out/HLS/clip.m3u8")
    assert run.results["Transcode"]["outputGroupDetails"] == details
    percents = [p for p, _ in run.progress if p is not None]
    assert percents
    assert percents == sorted(percents)
    with pytest.raises(OperatorError, match="OutputGroups"):
        run_operator(transcode, clip, configuration={"JobSettings": {"Inputs": []}}, workdir=tmp_path / "bad")


def test_transcode_operator_records_its_job(svc: Services, api: TestClient) -> None:
    """In a server, a workflow's Transcode is a job like the others (listed, with events and metrics)."""
    from mie.engine import plugins
    from mie.jobs import register

    register(svc.registry)
    plugins.register(svc.registry, svc.catalog, "Transcode")
    r = api.post("/api/workflow/stage", json={"Name": "TranscodeStage", "Operations": ["Transcode"]})
    assert r.status_code == 200, r.text
    r = api.post(
        "/api/workflow",
        json={"Name": "TranscodeWf", "StartAt": "TranscodeStage", "Stages": {"TranscodeStage": {"End": True}}},
    )
    assert r.status_code == 200, r.text
    with (svc.settings.objects_dir / "dataplane" / "in" / "clip.mp4").open("rb") as fh:
        svc.dataplane.objects.put_stream("dataplane", "upload/wf.mp4", fh)
    body = {
        "Name": "TranscodeWf",
        "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/wf.mp4"}}},
        "Configuration": {"TranscodeStage": {"Transcode": {"JobSettings": small_settings()}}},
    }
    execution = api.post("/api/workflow/execution", json=body)
    assert execution.status_code == 200, execution.text
    deadline = time.monotonic() + 60
    while (record := api.get(f"/api/workflow/execution/{execution.json()['Id']}").json())["Status"] not in (
        "Complete",
        "Error",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert record["Status"] == "Complete", record.get("Message")
    jobs = [
        j for j in api.get("/api/jobs/COMPLETE").json() if j["userMetadata"].get("workflowExecutionId") == record["Id"]
    ]
    assert len(jobs) == 1
    assert jobs[0]["userMetadata"]["assetID"] == record["AssetId"]
