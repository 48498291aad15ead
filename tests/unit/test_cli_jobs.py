"""``mie job``: the CreateJob body it sends and how job documents read."""

from __future__ import annotations

from mie.cli.jobs import job_request, outputs_of, progress_text
from mie.jobs.spec import parse_job


def test_the_default_job_reads_the_input_and_writes_where_the_watch_folder_would() -> None:
    body = job_request("s3://dataplane/jobs/input/x/harbour tour.mp4", None, "Default", "media")
    parse_job(body["Settings"])  # what the server accepts
    inputs = body["Settings"]["Inputs"]
    assert [i["FileInput"] for i in inputs] == ["s3://dataplane/jobs/input/x/harbour tour.mp4"]
    destinations = [
        inner["Destination"]
        for group in body["Settings"]["OutputGroups"]
        for inner in group["OutputGroupSettings"].values()
        if isinstance(inner, dict)
    ]
    assert destinations == [
        "s3://media/harbour tour/Default/HLS/",
        "s3://media/harbour tour/Default/MP4/",
        "s3://media/harbour tour/Default/Thumbnails/",
    ]
    assert body["UserMetadata"] == {
        "application": "mie-cli",
        "input": "s3://dataplane/jobs/input/x/harbour tour.mp4",
        "settings": "Default",
    }


def test_a_settings_file_keeps_its_own_destinations_and_metadata() -> None:
    settings = {
        "Inputs": [{"FileInput": "s3://old/input.mp4"}],
        "OutputGroups": [
            {
                "OutputGroupSettings": {
                    "Type": "FILE_GROUP_SETTINGS",
                    "FileGroupSettings": {"Destination": "s3://archive/proxies/"},
                },
                "Outputs": [{"ContainerSettings": {"Container": "MP4"}}],
            }
        ],
    }
    body = job_request("s3://media/in.mp4", {"Settings": settings, "UserMetadata": {"team": "news"}}, "proxy", "m")
    group = body["Settings"]["OutputGroups"][0]["OutputGroupSettings"]["FileGroupSettings"]
    assert group["Destination"] == "s3://archive/proxies/"
    assert body["Settings"]["Inputs"][0]["FileInput"] == "s3://media/in.mp4"
    assert body["UserMetadata"]["team"] == "news"
    assert settings["Inputs"][0]["FileInput"] == "s3://old/input.mp4"  # the file's settings are not changed


def test_progress_and_outputs_read_from_the_job_document() -> None:
    running = {
        "status": "PROGRESSING",
        "progressMetrics": {"percentJobComplete": 42, "currentPhase": "TRANSCODING", "estDecodeTimeRemaining": 12.0},
    }
    assert progress_text(running) == "42% TRANSCODING, ~12.0 s left"
    failed = {"status": "ERROR", "errorCode": 1010, "errorMessage": "input missing"}
    assert progress_text(failed) == "error 1010: input missing"
    done = {
        "status": "COMPLETE",
        "progressMetrics": {"percentJobComplete": 100},
        "outputGroupDetails": [
            {
                "type": "HLS_GROUP",
                "playlistFilePaths": ["s3://media/a/HLS/a.m3u8"],
                "outputDetails": [
                    {"outputFilePaths": ["s3://media/a/HLS/a_360.m3u8"], "videoDetails": {"widthInPx": 640,
                                                                                           "heightInPx": 360}}
                ],
            }
        ],
    }  # fmt: skip
    assert progress_text(done) == "100%"
    assert outputs_of(done) == [("playlist", "s3://media/a/HLS/a.m3u8"), ("hls 640x360", "s3://media/a/HLS/a_360.m3u8")]
