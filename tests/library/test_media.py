"""The media-preparation operators on generated media: real ffmpeg, libmediainfo and PySceneDetect, no stubs."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.errors import OperatorCancelledError, OperatorError, OperatorTimeoutError
from mie.library.media import OPERATORS, register
from mie.library.media.cues import technical_cue_detection
from mie.library.media.frames import AUDIO16K_KIND, FRAMES_KIND, FrameSet
from mie.library.media.lookup import generic_data_lookup
from mie.library.media.mediainfo import mediainfo, mediainfo_image
from mie.library.media.segments import smpte
from mie.library.media.shots import shot_detection
from mie.library.media.thumbnail import thumbnail, thumbnail_position
from mie.library.media.tools import run_ffmpeg
from mie.operators import OperatorContext, OperatorRegistry, Runtime, Target
from mie.operators.invoke import invoke
from mie.testing import OperatorRun, harness, run_operator
from tests.aws_shapes import violations
from tests.helpers import make_workflow, upload, wait_for
from tests.library import media_fixtures as mf

pytestmark = pytest.mark.skipif(not mf.have_ffmpeg(), reason="ffmpeg/ffprobe are not installed")

SEGMENT_KEYS = {
    "Type", "StartTimestampMillis", "EndTimestampMillis", "DurationMillis", "StartTimecodeSMPTE", "EndTimecodeSMPTE",
    "DurationSMPTE", "StartFrameNumber", "EndFrameNumber", "DurationFrames",
}  # fmt: skip


# Fixtures ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    scenes = mf.make_scenes(root / "scenes.mp4")
    files = {
        "scenes": scenes,
        "silent": mf.make_silent_video(root / "silent.mp4"),
        "corrupt": mf.make_corrupt(root / "corrupt.mp4"),
        "truncated": mf.make_truncated(scenes, root / "truncated.mp4"),
        "truncated_indexed": mf.make_truncated_indexed(scenes, root / "cut.mp4"),
        "zero": root / "zero.mp4",
        "text": root / "notes.mp4",
    }
    files["zero"].write_bytes(b"")
    files["text"].write_text("just some words, not a video\n" * 20)
    return files


@pytest.fixture(scope="module")
def png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image_module = pytest.importorskip("PIL.Image")
    draw_module = pytest.importorskip("PIL.ImageDraw")
    path = tmp_path_factory.mktemp("image") / "picture.png"
    image = image_module.new("RGB", (320, 200), (30, 120, 200))
    draw_module.Draw(image).rectangle((40, 40, 200, 160), fill=(250, 200, 20))
    image.save(path)
    return path


@pytest.fixture(scope="module")
def thumb(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> OperatorRun:
    """One Thumbnail run on the scene clip with its outputs kept on disk."""
    return run_operator(thumbnail, media["scenes"], workdir=tmp_path_factory.mktemp("thumb"))


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def streams(path: Path, kind: str) -> list[dict[str, Any]]:
    return [s for s in ffprobe(path)["streams"] if s["codec_type"] == kind]


def mean_rgb(path: Path) -> tuple[float, float, float]:
    image_module = pytest.importorskip("PIL.Image")
    stat_module = pytest.importorskip("PIL.ImageStat")
    with image_module.open(path) as image:
        r, g, b = stat_module.Stat(image.convert("RGB")).mean
    return r, g, b


def scene_colour(seconds: float) -> tuple[int, int, int] | None:
    return next(colour for start, end, colour in mf.SCENES if start <= seconds < end)


def assert_colour(path: Path, expected: tuple[int, int, int] | None) -> None:
    r, g, b = mean_rgb(path)
    if expected is None:  # the test pattern: bars of many colours, no single one dominates
        assert max(abs(r - g), abs(g - b), abs(r - b)) < 120, (path, r, g, b)
        assert 40 < (r + g + b) / 3 < 220, (path, r, g, b)
        return
    assert all(abs(a - e) < 30 for a, e in zip((r, g, b), expected, strict=True)), (path, (r, g, b), expected)


# Mediainfo -----------------------------------------------------------------------------------------------------


def test_mediainfo_reports_tracks_in_mie_shape(media: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("pymediainfo")
    run = run_operator(mediainfo, media["scenes"], workdir=tmp_path)
    assert run.status == "Complete"
    assert run.metadata["Mediainfo_num_audio_tracks"] == "1"
    assert run.metadata["AssetId"]
    assert run.metadata["WorkflowExecutionId"]
    tracks = run.results["Mediainfo"]["tracks"]
    assert [t["track_type"] for t in tracks] == ["General", "Video", "Audio"]
    general, video, audio = tracks
    assert general["format"] == "MPEG-4"
    assert abs(int(general["duration"]) - 14000) <= 50
    assert (video["format"], video["width"], video["height"], video["frame_rate"]) == ("AVC", 640, 360, "25.000")
    assert audio["format"] == "AAC"
    assert int(audio["sampling_rate"]) == 44100
    assert general["complete_name"].startswith("s3://")
    assert general["complete_name"].endswith("/scenes.mp4")
    assert str(tmp_path) not in json.dumps(run.results), "a server path leaked into the stored result"


def test_mediainfo_counts_zero_audio_tracks(media: dict[str, Path]) -> None:
    pytest.importorskip("pymediainfo")
    run = run_operator(mediainfo, media["silent"])
    assert run.metadata["Mediainfo_num_audio_tracks"] == "0"
    assert [t["track_type"] for t in run.results["Mediainfo"]["tracks"]] == ["General", "Video"]


def test_mediainfo_fails_clearly_on_a_file_with_no_media_track_and_keeps_it(
    media: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("pymediainfo")
    with harness(tmp_path) as h, pytest.raises(OperatorError, match="no video, audio, image or text track"):
        h.run(mediainfo, media["text"])
    assert list((tmp_path / "objects").rglob("notes.mp4")), "the input object was deleted"
    with pytest.raises(OperatorError, match=r"empty \(0 bytes\)"):
        run_operator(mediainfo, media["zero"])


def test_mediainfo_image_describes_a_png(png: Path) -> None:
    pytest.importorskip("pymediainfo")
    run = run_operator(mediainfo_image, png)
    assert run.status == "Complete"
    assert run.metadata["Mediainfo_num_audio_tracks"] == "0"
    tracks = run.results["MediainfoImage"]["tracks"]
    image = next(t for t in tracks if t["track_type"] == "Image")
    assert (image["format"], image["width"], image["height"]) == ("PNG", 320, 200)


# Thumbnail --------------------------------------------------------------------------------------------------------


def test_thumbnail_makes_every_output_in_one_pass(thumb: OperatorRun) -> None:
    assert thumb.status == "Complete"
    assert set(thumb.media_files) == {"Thumbnail", "ProxyEncode", "Audio", AUDIO16K_KIND, FRAMES_KIND}
    assert thumb.metadata["ThumbnailPosition"] == "7"
    assert thumb.metadata["ThumbnailAudio"].startswith("extracted")
    assert thumb.metadata["ThumbnailFrames"] == "14"
    # Progress: reported in order while encoding, ending at 100.
    percents = [p for p, _ in thumb.progress if p is not None]
    assert percents == sorted(percents)
    assert percents[-1] == 100
    assert any(message and message.startswith("encoding") for _, message in thumb.progress)


def test_the_proxy_is_browser_playable_h264_aac(thumb: OperatorRun) -> None:
    proxy = thumb.media_files["ProxyEncode"]
    info = ffprobe(proxy)
    (video,) = [s for s in info["streams"] if s["codec_type"] == "video"]
    (audio,) = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert (video["codec_name"], video["pix_fmt"], video["width"], video["height"]) == ("h264", "yuv420p", 640, 360)
    assert audio["codec_name"] == "aac"
    assert abs(float(info["format"]["duration"]) - mf.DURATION) < 0.2
    data = proxy.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "the proxy is not +faststart (index after the data)"
    decode = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(proxy), "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert decode.returncode == 0, decode.stderr
    assert not decode.stderr.strip(), decode.stderr


def test_thumbnail_audio_outputs(thumb: OperatorRun) -> None:
    (aac,) = streams(thumb.media_files["Audio"], "audio")
    assert aac["codec_name"] == "aac"
    assert not streams(thumb.media_files["Audio"], "video")
    wav = ffprobe(thumb.media_files[AUDIO16K_KIND])
    (pcm,) = wav["streams"]
    assert (pcm["codec_name"], pcm["sample_rate"], pcm["channels"]) == ("pcm_s16le", "16000", 1)
    assert abs(float(wav["format"]["duration"]) - mf.DURATION) < 0.1


def test_thumbnail_is_a_jpeg_of_the_frame_at_its_position(thumb: OperatorRun) -> None:
    path = thumb.media_files["Thumbnail"]
    assert path.read_bytes()[:3] == b"\xff\xd8\xff"
    assert streams(path, "video")[0]["codec_name"] == "mjpeg"
    assert_colour(path, scene_colour(7.0))


def test_sampled_frames_have_the_right_timestamps(thumb: OperatorRun, tmp_path: Path) -> None:
    frames = FrameSet.open(thumb.media_files[FRAMES_KIND], tmp_path / "frames")
    assert len(frames) == 14
    assert [f.timestamp for f in frames] == [i * 1000 for i in range(14)]
    assert (frames.fps, frames.width, frames.height) == (1.0, 640, 360)
    assert (frames.source_width, frames.source_height) == (640, 360)
    for frame in frames:
        assert_colour(frame.path, scene_colour(frame.timestamp / 1000))


def test_thumbnail_configuration_position_sizes_and_rate(media: dict[str, Path], tmp_path: Path) -> None:
    config = {"ThumbnailPosition": 100, "ProxyMaxHeight": 180, "FrameRate": 0.5, "FrameMaxSide": 160}
    run = run_operator(thumbnail, media["scenes"], configuration=config, workdir=tmp_path)
    assert run.status == "Complete"
    position = float(run.metadata["ThumbnailPosition"])
    assert 13 <= position < 14, "the position was not clamped into the video"
    assert_colour(run.media_files["Thumbnail"], None)
    (video,) = streams(run.media_files["ProxyEncode"], "video")
    assert (video["width"], video["height"]) == (320, 180)
    frames = FrameSet.open(run.media_files[FRAMES_KIND], tmp_path / "frames")
    assert [f.timestamp for f in frames] == [i * 2000 for i in range(7)]
    assert (frames.width, frames.height) == (160, 90)
    with pytest.raises(OperatorError, match="FrameRate"):
        run_operator(thumbnail, media["scenes"], configuration={"FrameRate": 0})


def test_thumbnail_position_is_clamped() -> None:
    assert thumbnail_position(7, 14.0, 25) == 7
    assert thumbnail_position(7, 4.0, 25) == pytest.approx(3.94)
    assert thumbnail_position(-3, 4.0, 25) == 0
    assert thumbnail_position(7, 0.0, 25) == 0


def test_a_position_past_the_last_frame_falls_back_to_the_nearest_sampled_frame(
    media: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A header can declare more time than there are frames: no frame reaches the position.
    module = importlib.import_module("mie.library.media.thumbnail")  # the package's `thumbnail` is the operator
    monkeypatch.setattr(module, "thumbnail_position", lambda *args: 100.0)
    run = run_operator(thumbnail, media["silent"], workdir=tmp_path)
    assert run.status == "Complete"
    assert run.metadata["ThumbnailPosition"] == "3"
    assert run.media_files["Thumbnail"].read_bytes()[:3] == b"\xff\xd8\xff"


def test_a_video_without_audio_skips_the_audio_outputs(media: dict[str, Path], tmp_path: Path) -> None:
    run = run_operator(thumbnail, media["silent"], workdir=tmp_path)
    assert run.status == "Complete"
    assert set(run.output["Media"]) == {"Thumbnail", "ProxyEncode", FRAMES_KIND}
    assert run.metadata["ThumbnailAudio"].startswith("skipped: the video has no audio track")
    assert not streams(run.media_files["ProxyEncode"], "audio")


# Segments ---------------------------------------------------------------------------------------------------------


def test_smpte_timecodes() -> None:
    assert smpte(75, Fraction(25)) == "00:00:03:00"
    assert smpte(90_061, Fraction(25)) == "01:00:02:11"
    ntsc = Fraction(30000, 1001)
    assert smpte(1799, ntsc) == "00:00:59;29"
    assert smpte(1800, ntsc) == "00:01:00;02"
    assert smpte(17_982, ntsc) == "00:10:00;00"


@pytest.mark.parametrize("source", ["ProxyEncode", "Video"])
def test_every_shot_cut_is_found_within_one_frame(media: dict[str, Path], thumb: OperatorRun, source: str) -> None:
    pytest.importorskip("scenedetect")
    files = {"Video": media["scenes"]}
    if source == "ProxyEncode":
        files["ProxyEncode"] = thumb.media_files["ProxyEncode"]
    run = run_operator(shot_detection, files)
    assert run.status == "Complete"
    result = run.results["shotDetection"]
    assert result["JobStatus"] == "SUCCEEDED"
    assert result["SelectedSegmentTypes"][0]["Type"] == "SHOT"
    assert result["VideoMetadata"][0]["FrameRate"] == 25.0
    shots = result["Segments"]
    starts = [s["StartFrameNumber"] for s in shots]
    assert len(starts) == len(mf.CUT_FRAMES) + 1, starts
    assert starts[0] == 0
    for found, cut in zip(starts[1:], mf.CUT_FRAMES, strict=True):
        assert abs(found - cut) <= 1, (starts, mf.CUT_FRAMES)
    for index, shot in enumerate(shots):
        assert set(shot) >= SEGMENT_KEYS
        assert shot["Type"] == "SHOT"
        assert shot["ShotSegment"]["Index"] == index
        assert 50 <= shot["ShotSegment"]["Confidence"] <= 100
        assert shot["DurationFrames"] == shot["EndFrameNumber"] - shot["StartFrameNumber"]
        assert shot["DurationMillis"] == shot["EndTimestampMillis"] - shot["StartTimestampMillis"]
        assert shot["StartTimestampMillis"] == shot["StartFrameNumber"] * 40
    assert shots[1]["StartTimecodeSMPTE"] in ("00:00:02:24", "00:00:03:00", "00:00:03:01")
    assert shots[-1]["EndFrameNumber"] == 350
    assert run.metadata["shotDetection_num_shots"] == "5"


def _cues(run: OperatorRun, kind: str) -> list[tuple[int, int]]:
    result = "technicalCueDetection" if kind == "BlackFrames" else "technicalCueDetectionExtra"
    return [
        (s["StartTimestampMillis"], s["EndTimestampMillis"])
        for s in run.results[result]["Segments"]
        if s["TechnicalCueSegment"]["Type"] == kind
    ]


def test_technical_cues_black_silence_and_freeze(media: dict[str, Path], thumb: OperatorRun) -> None:
    run = run_operator(
        technical_cue_detection, {"Video": media["scenes"], "ProxyEncode": thumb.media_files["ProxyEncode"]}
    )
    assert run.status == "Complete"
    result = run.results["technicalCueDetection"]
    assert result["SelectedSegmentTypes"][0]["Type"] == "TECHNICAL_CUE"
    extra = run.results["technicalCueDetectionExtra"]
    for segment in result["Segments"] + extra["Segments"]:
        assert set(segment) >= SEGMENT_KEYS
        assert segment["Type"] == "TECHNICAL_CUE"
    # Only Rekognition's own cue types where a strict client reads them; ours beside, in the same shape.
    assert {s["TechnicalCueSegment"]["Type"] for s in result["Segments"]} == {"BlackFrames"}
    assert {s["TechnicalCueSegment"]["Type"] for s in extra["Segments"]} == {"Silence", "FreezeFrames"}
    assert violations("rekognition", "GetSegmentDetection", result) == []
    assert set(extra) == set(result)
    ((black_start, black_end),) = _cues(run, "BlackFrames")
    assert abs(black_start - 9000) <= 40
    assert abs(black_end - 11000) <= 40
    silences = _cues(run, "Silence")
    assert len(silences) == len(mf.SILENCES), silences
    for (start, end), (want_start, want_end) in zip(silences, mf.SILENCES, strict=True):
        assert abs(start - want_start * 1000) <= 40, silences
        assert abs(end - want_end * 1000) <= 40, silences
    freezes = _cues(run, "FreezeFrames")
    assert (0, 3000) in freezes, freezes
    assert all(end <= 11040 for _, end in freezes), "the moving test pattern was reported frozen"
    assert run.metadata["technicalCueDetection_num_BlackFrames"] == "1"


def test_technical_cues_aws_types_only_and_no_audio(media: dict[str, Path]) -> None:
    only_black = run_operator(technical_cue_detection, media["scenes"], configuration={"CueTypes": ["BlackFrames"]})
    kinds = {s["TechnicalCueSegment"]["Type"] for s in only_black.results["technicalCueDetection"]["Segments"]}
    assert kinds == {"BlackFrames"}
    assert "technicalCueDetectionExtra" not in only_black.results  # nothing of ours was looked for
    silent = run_operator(technical_cue_detection, media["silent"])
    assert silent.status == "Complete"
    assert silent.results["technicalCueDetection"]["Segments"] == []
    assert silent.results["technicalCueDetectionExtra"]["Segments"] == []
    assert silent.metadata["technicalCueDetection_Silence"].startswith("skipped")
    with pytest.raises(OperatorError, match="CueTypes"):
        run_operator(technical_cue_detection, media["scenes"], configuration={"CueTypes": ["Credits"]})


# Broken input ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("zero", r"empty \(0 bytes\)"),
        ("corrupt", "not a readable media file"),
        ("truncated", "not a readable media file"),
        ("truncated_indexed", "truncated or damaged"),
        ("text", "not a readable media file"),
    ],
)
@pytest.mark.parametrize("operator_name", ["Thumbnail", "shotDetection", "technicalCueDetection"])
def test_broken_files_fail_with_a_clear_message(
    media: dict[str, Path], name: str, needle: str, operator_name: str
) -> None:
    if operator_name == "shotDetection":
        pytest.importorskip("scenedetect")
    definition = next(d for d in OPERATORS if d.name == operator_name)
    began = time.monotonic()
    with pytest.raises(OperatorError, match=needle) as caught:
        run_operator(definition, {"Video": media[name]})
    assert operator_name in str(caught.value)
    assert "/tmp" not in str(caught.value), "the message shows a server path"
    assert time.monotonic() - began < 30


def test_a_mislabelled_image_is_not_a_video(png: Path, tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(png.read_bytes())
    with pytest.raises(OperatorError, match=r"is a still image \(png\), not a video"):
        run_operator(thumbnail, {"Video": fake})


# GenericDataLookup -------------------------------------------------------------------------------------------------


def test_generic_data_lookup(media: dict[str, Path], tmp_path: Path) -> None:
    document = {"Title": "Scenes", "Tags": ["red", "green"], "Episode": 3}
    with harness(tmp_path) as h:
        h.objects.put_bytes("lookups", "docs/scenes.json", json.dumps(document).encode())
        h.objects.put_bytes("lookups", "docs/broken.json", b"{not json")
        h.objects.put_bytes("lookups", "docs/list.json", b"[1, 2]")
        run = h.run(
            generic_data_lookup, media["silent"], configuration={"Bucket": "lookups", "Key": "docs/scenes.json"}
        )
        assert run.status == "Complete"
        assert run.results["GenericDataLookup"] == document
        assert run.metadata["GenericDataLookup"] == "attached s3://lookups/docs/scenes.json"
        bare = h.run(generic_data_lookup, media["silent"])
        assert bare.status == "Complete"
        assert "GenericDataLookup" not in bare.results
        assert bare.metadata["GenericDataLookup"].startswith("skipped: no Bucket/Key configured")
        for key, needle in [
            ("docs/missing.json", "does not exist"),
            ("docs/broken.json", "not valid JSON"),
            ("docs/list.json", "must hold a JSON object"),
        ]:
            with pytest.raises(OperatorError, match=needle):
                h.run(generic_data_lookup, media["silent"], configuration={"Bucket": "lookups", "Key": key})


# Registration and a real workflow --------------------------------------------------------------------------------


def test_register_adds_every_operator() -> None:
    registry = OperatorRegistry()
    register(registry)
    names = {d.name for d in registry.definitions()}
    assert names == {"Mediainfo", "MediainfoImage", "Thumbnail", "shotDetection", "technicalCueDetection",
                     "GenericDataLookup"}  # fmt: skip
    assert registry.definition("MediainfoImage").media_type == "Image"  # type: ignore[union-attr]
    assert registry.definition("Thumbnail").operation()["Configuration"]["ThumbnailPosition"] == 7  # type: ignore[union-attr]


@pytest.fixture
def media_engine(services: Services, client: TestClient) -> TestClient:
    register(services.registry)
    for definition in OPERATORS:
        services.catalog.ensure_operation(definition.operation())
    return client


def test_the_operators_run_in_a_workflow(media_engine: TestClient, media: dict[str, Path]) -> None:
    pytest.importorskip("pymediainfo")
    pytest.importorskip("scenedetect")
    client = media_engine
    ops = {d.name: d.operation() for d in OPERATORS}
    make_workflow(
        client,
        "media-wf",
        [
            [ops["Thumbnail"], ops["Mediainfo"]],
            [ops["shotDetection"], ops["technicalCueDetection"], ops["GenericDataLookup"]],
        ],
    )
    upload(client, "lookups/scenes.json", json.dumps({"Series": "Colours"}).encode())
    upload(client, "upload/scenes.mp4", media["scenes"].read_bytes())
    r = client.post(
        "/api/workflow/execution",
        json={
            "Name": "media-wf",
            "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/scenes.mp4"}}},
            "Configuration": {"media-wf-stage1": {"GenericDataLookup": {"Key": "lookups/scenes.json"}}},
        },
    )
    assert r.status_code == 200, r.text
    done = wait_for(client, r.json()["Id"], {"Complete", "Error"}, timeout=150)
    assert done["Status"] == "Complete", done.get("Message")
    assert {"Thumbnail", "ProxyEncode", "Audio", AUDIO16K_KIND, FRAMES_KIND} <= set(done["Globals"]["Media"])
    assert done["Globals"]["MetaData"]["Mediainfo_num_audio_tracks"] == "1"
    asset = done["AssetId"]

    def stored(operator: str) -> Any:
        response = client.get(f"/api/dataplane/metadata/{asset}/{operator}")
        assert response.status_code == 200, response.text
        return response.json()["results"]

    assert [t["track_type"] for t in stored("Mediainfo")["tracks"]] == ["General", "Video", "Audio"]
    starts = [s["StartFrameNumber"] for s in stored("shotDetection")["Segments"]]
    assert len(starts) == 5
    assert all(abs(a - b) <= 1 for a, b in zip(starts[1:], mf.CUT_FRAMES, strict=True))
    cues = stored("technicalCueDetection")["Segments"]
    assert any(c["TechnicalCueSegment"]["Type"] == "BlackFrames" for c in cues)
    assert stored("GenericDataLookup") == {"Series": "Colours"}


# Cancellation, time limits and hangs -------------------------------------------------------------------------------


def _ffmpeg_children() -> list[int]:
    """Process ids of ffmpeg processes that are children of this test process (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            name = fields[0].split("(", 1)[1]
            parent = int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if name == "ffmpeg" and parent == os.getpid():
            found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize("stop", ["cancel", "deadline"])
def test_cancellation_and_time_limit_stop_ffmpeg(media: dict[str, Path], tmp_path: Path, stop: str) -> None:
    with harness(tmp_path) as h:
        asset, ref = h.add_asset(media["scenes"])
        event = {
            "Name": "Thumbnail", "AssetId": asset, "WorkflowExecutionId": "w-1", "Status": "Started",
            "Input": {"Media": {"Video": ref}, "MetaData": {}}, "Configuration": {}, "MetaData": {}, "Media": {},
        }  # fmt: skip

        def report(percent: float | None, message: str | None) -> bool:
            # Cancel once ffmpeg is encoding (its first progress report).
            return stop != "cancel" or not (message or "").startswith("encoding")

        deadline = time.monotonic() + 0.4 if stop == "deadline" else None
        runtime = Runtime(h.dataplane, report_progress=report, deadline=deadline, scratch_root=tmp_path / "work")
        began = time.monotonic()
        expected = OperatorCancelledError if stop == "cancel" else OperatorTimeoutError
        with pytest.raises(expected):
            invoke(Target("native", "Thumbnail", definition=thumbnail), event, runtime)
        assert time.monotonic() - began < 5
    assert _ffmpeg_children() == [], "ffmpeg was left running"
    assert not list((tmp_path / "work").glob("*")), "the scratch folder was not removed"


def test_a_hung_ffmpeg_is_killed_by_the_stall_watchdog(tmp_path: Path) -> None:
    fifo = tmp_path / "never-written.mp4"
    os.mkfifo(fifo)  # opening it for reading blocks forever: ffmpeg hangs without a word
    with harness(tmp_path / "h") as h:
        ctx = OperatorContext({"Name": "Hang"}, Runtime(h.dataplane, scratch_root=tmp_path / "work"))
        began = time.monotonic()
        with pytest.raises(OperatorError, match="made no progress for 1 s"):
            run_ffmpeg(ctx, ["-i", str(fifo), "-f", "null", "-"], what="Hang", stall=1.0)
        ctx.close()
    assert time.monotonic() - began < 10
    assert _ffmpeg_children() == []
