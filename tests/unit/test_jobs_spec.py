"""Job settings: the MediaConvert subset is checked with errors naming the setting, destinations are rewritten as the
watch-folder sample does, and the bundled default job compiles to ONE ffmpeg command (one decode)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mie.errors import InvalidError
from mie.jobs.compile import compile_job
from mie.jobs.defaults import default_job
from mie.jobs.probe import InputInfo
from mie.jobs.spec import count_outputs, parse_job, rewrite_destinations, set_input, split_request


def info(has_audio: bool = True) -> InputInfo:
    return InputInfo(details={}, frame_count=250, duration=10.0, fps=25.0, has_audio=has_audio, codec="AVC")


def test_the_default_job_is_the_samples_ladder() -> None:
    settings = rewrite_destinations(set_input(default_job(), "s3://dataplane/in/test.mp4"), "media", "test", "Default")
    spec = parse_job(settings)
    assert count_outputs(settings) == 5
    hls, mp4, thumbs = spec.groups
    assert (hls.kind, hls.segment_length, hls.bucket, hls.prefix) == ("HLS", 10.0, "media", "test/Default/HLS/")
    assert [(o.video.width, o.video.height, o.video.bitrate) for o in hls.outputs if o.video] == [
        (640, 360, 1_000_000),
        (960, 540, 2_000_000),
        (1280, 720, 3_000_000),
    ]
    assert mp4.prefix == "test/Default/MP4/"
    assert mp4.outputs[0].container == "MP4"
    assert thumbs.outputs[0].video is not None
    assert thumbs.outputs[0].video.framerate == (1, 5)


def test_one_ffmpeg_command_decodes_once(tmp_path: Path) -> None:
    spec = parse_job(set_input(default_job(), "s3://dataplane/in/x.mp4"))
    plan = compile_job(spec, info(), tmp_path / "in.mp4", tmp_path / "out", "my clip %1")
    args = plan.args
    assert args.count("-i") == 1
    graph = args[args.index("-filter_complex") + 1]
    assert graph.startswith("[0:v:0]split=5")
    # HLS renditions get key frames forced on the 10 s segment boundaries; the MP4 does not.
    assert args.count("expr:gte(t,n_forced*10)") == 3
    assert args[args.index("-progress") + 1] == "pipe:1"
    # The first output is a full-rate H.264 rendition (ffmpeg's progress counts its frames).
    first_output = args.index("-map")
    assert args[first_output + 1] == "[v0]"
    assert "select=" in graph  # thumbnails every 5 s
    # '%' in a file name is escaped where ffmpeg reads a pattern.
    assert any(a.endswith("my clip %%1_360_%05d.ts") for a in args)
    assert [g.master_playlist for g in plan.groups if g.spec.kind == "HLS"] == ["my clip %1.m3u8"]


def test_audio_is_left_out_when_the_input_has_none(tmp_path: Path) -> None:
    spec = parse_job(set_input(default_job(), "s3://dataplane/in/x.mp4"))
    plan = compile_job(spec, info(has_audio=False), tmp_path / "in.mp4", tmp_path / "out", "x")
    assert "0:a:0" not in plan.args


def test_destinations_are_rewritten_as_the_sample_does() -> None:
    """``s3://<MEDIABUCKET>/HLS/`` -> ``s3://<dest>/<input stem>/<settings stem>/HLS/`` (the code's order)."""
    settings = rewrite_destinations(default_job(), "media", "test", "hls")
    destinations = [
        g["OutputGroupSettings"][k]["Destination"]
        for g in settings["OutputGroups"]
        for k in ("HlsGroupSettings", "FileGroupSettings")
        if k in g["OutputGroupSettings"]
    ]
    assert destinations == ["s3://media/test/hls/HLS/", "s3://media/test/hls/MP4/", "s3://media/test/hls/Thumbnails/"]
    assert default_job()["OutputGroups"][0]["OutputGroupSettings"]["HlsGroupSettings"]["Destination"].startswith(
        "s3://<MEDIABUCKET>"
    )


def test_every_input_is_set() -> None:
    settings = default_job()
    settings["Inputs"].append({"FileInput": "s3://x/y.mp4"})
    assert [i["FileInput"] for i in set_input(settings, "s3://a/b.mp4")["Inputs"]] == ["s3://a/b.mp4"] * 2


def test_a_createjob_body_and_bare_settings_are_both_accepted() -> None:
    request, settings = split_request({"Settings": default_job(), "UserMetadata": {"a": "b"}, "Role": "arn:x"})
    assert request["UserMetadata"] == {"a": "b"}
    assert "Inputs" in settings
    assert split_request(default_job())[0] == {}


def _mutated(path: str, value: object) -> dict[str, object]:
    settings = set_input(default_job(), "s3://dataplane/in/x.mp4")
    node: object = settings
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
    node[parts[-1]] = value  # type: ignore[index]
    return copy.deepcopy(settings)


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("OutputGroups.0.OutputGroupSettings.Type", "DASH_ISO_GROUP_SETTINGS", "OutputGroupSettings.Type"),
        ("OutputGroups.1.Outputs.0.ContainerSettings.Container", "MOV", "ContainerSettings.Container"),
        ("OutputGroups.1.Outputs.0.VideoDescription.CodecSettings.Codec", "H_265", "CodecSettings.Codec"),
        ("OutputGroups.1.Outputs.0.VideoDescription.Width", 641, "VideoDescription.Width"),
        ("OutputGroups.1.Outputs.0.VideoDescription.Crop", {"X": 0}, "VideoDescription.Crop"),
        ("OutputGroups.0.OutputGroupSettings.HlsGroupSettings.SegmentControl", "SINGLE_FILE", "SegmentControl"),
        ("Inputs.0.InputClippings", [{"StartTimecode": "00:00:00:00"}], "Settings.Inputs[0].InputClippings"),
        ("OutputGroups.0.Outputs.0.NameModifier", "", "NameModifier"),
        ("Inputs.0.FileInput", "/local/file.mp4", "FileInput"),
    ],
)
def test_unsupported_settings_are_named(path: str, value: object, named: str) -> None:
    with pytest.raises(InvalidError) as caught:
        parse_job(_mutated(path, value))
    assert named in caught.value.message
