"""The bundled default job (the watch-folder sample's ``job.json``): an HLS ladder 360p/540p/720p with 10 s
segments, a 720p MP4 and 1280x720 thumbnails every 5 s. It is MediaConvert ``Settings``; destinations are
templates that the watch folder rewrites to ``<input stem>/Default/...``."""

from __future__ import annotations

import copy

from mie.types import JSONDict

#: ``UserMetadata.settings`` of jobs made from the bundled default.
DEFAULT_NAME = "Default"


def _h264(bitrate: int) -> JSONDict:
    return {
        "Codec": "H_264",
        "H264Settings": {
            "InterlaceMode": "PROGRESSIVE",
            "NumberReferenceFrames": 3,
            "GopSize": 90,
            "GopSizeUnits": "FRAMES",
            "GopBReference": "DISABLED",
            "Bitrate": bitrate,
            "FramerateControl": "INITIALIZE_FROM_SOURCE",
            "RateControlMode": "CBR",
            "CodecProfile": "MAIN",
            "CodecLevel": "AUTO",
            "SceneChangeDetect": "ENABLED",
            "QualityTuningLevel": "SINGLE_PASS",
            "NumberBFramesBetweenReferenceFrames": 2,
        },
    }


def _aac() -> list[JSONDict]:
    return [
        {
            "AudioTypeControl": "FOLLOW_INPUT",
            "LanguageCodeControl": "FOLLOW_INPUT",
            "CodecSettings": {
                "Codec": "AAC",
                "AacSettings": {
                    "Bitrate": 96000,
                    "RateControlMode": "CBR",
                    "CodecProfile": "LC",
                    "CodingMode": "CODING_MODE_2_0",
                    "SampleRate": 48000,
                },
            },
        }
    ]


def _rendition(width: int, height: int, bitrate: int, container: str) -> JSONDict:
    return {
        "ContainerSettings": {"Container": container},
        "VideoDescription": {
            "Width": width,
            "Height": height,
            "ScalingBehavior": "DEFAULT",
            "AntiAlias": "ENABLED",
            "Sharpness": 50,
            "CodecSettings": _h264(bitrate),
        },
        "AudioDescriptions": _aac(),
    }


_DEFAULT: JSONDict = {
    "AdAvailOffset": 0,
    "Inputs": [
        {
            "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}},
            "TimecodeSource": "EMBEDDED",
            "FileInput": "s3://<WATCHBUCKET>/inputs/input.mp4",
        }
    ],
    "OutputGroups": [
        {
            "Name": "Apple HLS",
            "CustomName": "HLS",
            "OutputGroupSettings": {
                "Type": "HLS_GROUP_SETTINGS",
                "HlsGroupSettings": {
                    "SegmentLength": 10,
                    "MinSegmentLength": 0,
                    "Destination": "s3://<MEDIABUCKET>/HLS/",
                    "DirectoryStructure": "SINGLE_DIRECTORY",
                    "ManifestDurationFormat": "INTEGER",
                    "SegmentControl": "SEGMENTED_FILES",
                },
            },
            "Outputs": [
                {**_rendition(640, 360, 1_000_000, "M3U8"), "NameModifier": "_360"},
                {**_rendition(960, 540, 2_000_000, "M3U8"), "NameModifier": "_540"},
                {**_rendition(1280, 720, 3_000_000, "M3U8"), "NameModifier": "_720"},
            ],
        },
        {
            "Name": "File Group",
            "CustomName": "MP4",
            "OutputGroupSettings": {
                "Type": "FILE_GROUP_SETTINGS",
                "FileGroupSettings": {"Destination": "s3://<MEDIABUCKET>/MP4/"},
            },
            "Outputs": [{**_rendition(1280, 720, 3_000_000, "MP4"), "NameModifier": "_720"}],
        },
        {
            "Name": "File Group",
            "CustomName": "Thumbnails",
            "OutputGroupSettings": {
                "Type": "FILE_GROUP_SETTINGS",
                "FileGroupSettings": {"Destination": "s3://<MEDIABUCKET>/Thumbnails/"},
            },
            "Outputs": [
                {
                    "ContainerSettings": {"Container": "RAW"},
                    "NameModifier": "_thumb",
                    "VideoDescription": {
                        "Width": 1280,
                        "Height": 720,
                        "ScalingBehavior": "DEFAULT",
                        "CodecSettings": {
                            "Codec": "FRAME_CAPTURE",
                            "FrameCaptureSettings": {
                                "FramerateNumerator": 1,
                                "FramerateDenominator": 5,
                                "MaxCaptures": 500,
                                "Quality": 80,
                            },
                        },
                    },
                }
            ],
        },
    ],
}


def default_job() -> JSONDict:
    """A fresh copy of the bundled default job settings."""
    return copy.deepcopy(_DEFAULT)
