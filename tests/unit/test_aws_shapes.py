"""The AWS output-shape checker (tests/aws_shapes.py) itself: it passes real AWS responses and fails bad ones."""

from __future__ import annotations

import copy
from typing import Any

import pytest

pytest.importorskip("botocore")

from tests.aws_shapes import assert_output_shape, output_shape, violations

BOX = {"Width": 0.25, "Height": 0.5, "Left": 0.1, "Top": 0.2}
#: A DetectLabels response as Rekognition returns it (from its documentation's example, trimmed).
DETECT_LABELS: dict[str, Any] = {
    "Labels": [
        {"Name": "Person", "Confidence": 99.2, "Instances": [{"BoundingBox": BOX, "Confidence": 99.2}], "Parents": []},
        {
            "Name": "Cat",
            "Confidence": 93,  # a JSON integer is a valid float
            "Instances": [],
            "Parents": [{"Name": "Pet"}, {"Name": "Animal"}],
            "Aliases": [{"Name": "Kitty"}],
            "Categories": [{"Name": "Animals and Pets"}],
        },
    ],
    "LabelModelVersion": "3.0",
}
GET_SEGMENTS: dict[str, Any] = {
    "JobStatus": "SUCCEEDED",
    "VideoMetadata": [{"Codec": "h264", "DurationMillis": 14000, "FrameRate": 25.0, "ColorRange": "LIMITED"}],
    "Segments": [
        {
            "Type": "TECHNICAL_CUE",
            "StartTimestampMillis": 0,
            "EndTimestampMillis": 3000,
            "DurationFrames": 75,
            "StartTimecodeSMPTE": "00:00:00:00",
            "TechnicalCueSegment": {"Type": "BlackFrames", "Confidence": 100.0},
        }
    ],
    "SelectedSegmentTypes": [{"Type": "TECHNICAL_CUE", "ModelVersion": "1.0"}],
}


def _with(document: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def test_valid_responses_have_no_violations() -> None:
    assert violations("rekognition", "DetectLabels", DETECT_LABELS) == []
    assert violations("rekognition", "GetSegmentDetection", GET_SEGMENTS) == []
    assert violations("translate", "TranslateText", {"TranslatedText": "Hola", "SourceLanguageCode": "en",
                                                     "TargetLanguageCode": "es"}) == []  # fmt: skip
    assert violations("rekognition", "DetectFaces", {"FaceDetails": []}) == []
    assert_output_shape("rekognition", "DetectLabels", DETECT_LABELS)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["Labels", 1, "Confidence"], "93", "Labels[1].Confidence: expected float, got str"),
        (["Labels", 0, "Instances", 0, "BoundingBox", "Width"], "0.25",
         "Labels[0].Instances[0].BoundingBox.Width: expected float, got str"),
        (["Labels", 0, "Confidence"], True, "Labels[0].Confidence: expected float, got bool"),
        (["Labels", 0, "Confidence"], float("nan"), "Labels[0].Confidence: nan is not a finite number"),
        (["Labels", 0, "Parents"], {"Name": "Pet"}, "Labels[0].Parents: expected list, got object"),
        (["Labels", 0, "Name"], 7, "Labels[0].Name: expected string, got int"),
        (["Labels", 1, "Parents", 0], "Pet", "Labels[1].Parents[0]: expected structure Parent, got str"),
        (["Labels", 0, "Score"], 0.5, "Labels[0].Score: unknown member of Label"),
        (["LabelModelVersion"], ["3.0"], "LabelModelVersion: expected string, got list"),
    ],
)  # fmt: skip
def test_wrong_types_and_unknown_members_are_reported_with_their_path(path: list[Any], value: Any,
                                                                       expected: str) -> None:  # fmt: skip
    assert violations("rekognition", "DetectLabels", _with(DETECT_LABELS, path, value)) == [expected]


def test_integers_enums_minimums_and_maximums() -> None:
    def segment_violations(path: list[Any], value: Any) -> list[str]:
        return violations("rekognition", "GetSegmentDetection", _with(GET_SEGMENTS, ["Segments", 0, *path], value))

    assert segment_violations(["StartTimestampMillis"], 0.0) == [
        "Segments[0].StartTimestampMillis: expected long, got float"
    ]
    assert segment_violations(["DurationFrames"], "75") == ["Segments[0].DurationFrames: expected long, got str"]
    (enum,) = segment_violations(["TechnicalCueSegment", "Type"], "Silence")
    assert enum.startswith("Segments[0].TechnicalCueSegment.Type: 'Silence' is not one of TechnicalCueType's values")
    assert "'BlackFrames'" in enum
    (status,) = violations("rekognition", "GetSegmentDetection", _with(GET_SEGMENTS, ["JobStatus"], "DONE"))
    assert status.startswith("JobStatus: 'DONE' is not one of VideoJobStatus's values")
    # SegmentConfidence is a float in 50..100.
    assert segment_violations(["TechnicalCueSegment", "Confidence"], 120.5) == [
        "Segments[0].TechnicalCueSegment.Confidence: 120.5 is above the maximum 100 of SegmentConfidence"
    ]
    assert segment_violations(["TechnicalCueSegment", "Confidence"], 10) == [
        "Segments[0].TechnicalCueSegment.Confidence: 10 is below the minimum 50 of SegmentConfidence"
    ]
    # String lengths: a language code has 2 to 5 characters, a translation at most 20,000.
    translation = {"TranslatedText": "Hola", "SourceLanguageCode": "e", "TargetLanguageCode": "es"}
    assert violations("translate", "TranslateText", translation) == [
        "SourceLanguageCode: 1 characters is below the minimum 2 of LanguageCodeString"
    ]
    translation = {"TranslatedText": "a" * 20_001, "SourceLanguageCode": "en", "TargetLanguageCode": "es"}
    assert violations("translate", "TranslateText", translation) == [
        "TranslatedText: 20001 characters is above the maximum 20000 of TranslatedTextString"
    ]


def test_required_members_and_null() -> None:
    missing = violations("translate", "TranslateText", {"TranslatedText": "Hola", "SourceLanguageCode": "en"})
    assert missing == ["TargetLanguageCode: required member of TranslateTextResponse is missing"]
    nulled = violations("translate", "TranslateText", {"TranslatedText": "Hola", "SourceLanguageCode": "en",
                                                       "TargetLanguageCode": None})  # fmt: skip
    assert nulled == missing  # null is absent, as botocore's JSON parser reads it
    # An optional member may be null; a null list item may not.
    assert violations("rekognition", "DetectLabels", {"Labels": None, "LabelModelVersion": "3.0"}) == []
    assert violations("rekognition", "DetectLabels", {"Labels": [None]}) == ["Labels[0]: null item in a list"]
    assert violations("rekognition", "DetectLabels", []) == ["(document): expected structure DetectLabelsResponse, "
                                                             "got list"]  # fmt: skip


def test_every_violation_is_reported_and_assert_lists_them() -> None:
    bad = _with(DETECT_LABELS, ["Labels", 0, "Confidence"], "high")
    bad["Labels"][1]["Instances"] = [{"BoundingBox": {**BOX, "Depth": 1.0}}]
    bad["Extra"] = 1
    assert violations("rekognition", "DetectLabels", bad) == [
        "Extra: unknown member of DetectLabelsResponse",
        "Labels[0].Confidence: expected float, got str",
        "Labels[1].Instances[0].BoundingBox.Depth: unknown member of BoundingBox",
    ]
    with pytest.raises(AssertionError, match=r"stored page 2: not a valid rekognition DetectLabels output") as caught:
        assert_output_shape("rekognition", "DetectLabels", bad, "stored page 2")
    assert "Labels[0].Confidence: expected float, got str" in str(caught.value)


def test_maps_timestamps_and_blobs() -> None:
    job = {
        "TranscriptionJob": {
            "TranscriptionJobName": "transcribe-1",
            "TranscriptionJobStatus": "COMPLETED",
            "LanguageCode": "en-US",
            "CreationTime": 1700000000.5,
            "CompletionTime": "2026-12-03T09:48:10Z",
            "Tags": [{"Key": "k", "Value": "v"}],
        }
    }
    assert violations("transcribe", "GetTranscriptionJob", job) == []
    job["TranscriptionJob"]["CompletionTime"] = "yesterday"
    job["TranscriptionJob"]["LanguageCode"] = "xx-XX"
    found = violations("transcribe", "GetTranscriptionJob", job)
    assert found[0].startswith("TranscriptionJob.LanguageCode: 'xx-XX' is not one of LanguageCode's values")
    assert found[1] == "TranscriptionJob.CompletionTime: 'yesterday' is not an ISO 8601 timestamp"
    # Maps: keys and values are checked like any value, and the entries are counted.
    assert violations("rekognition", "ListTagsForResource", {"Tags": {"team": "media"}}) == []
    assert violations("rekognition", "ListTagsForResource", {"Tags": {"team": 3, "": "x"}}) == [
        "Tags['team']: expected string, got int",
        "Tags{key ''}: 0 characters is below the minimum 1 of TagKey",
    ]
    assert violations("rekognition", "ListTagsForResource", {"Tags": ["team"]}) == ["Tags: expected map, got list"]
    # Blobs are base64 strings in JSON.
    shape = output_shape("rekognition", "GetFaceLivenessSessionResults")
    assert shape.members["ReferenceImage"].members["Bytes"].type_name == "blob"
    good = {"SessionId": "0" * 36, "Status": "SUCCEEDED", "ReferenceImage": {"Bytes": "aGVsbG8="}}
    assert violations("rekognition", "GetFaceLivenessSessionResults", good) == []
    bad = {**good, "ReferenceImage": {"Bytes": "not base64!"}}
    assert violations("rekognition", "GetFaceLivenessSessionResults", bad) == ["ReferenceImage.Bytes: not valid base64"]


def test_botocore_param_validator_is_not_enough_for_outputs() -> None:
    """Why the checker walks the shapes itself: botocore's input validator misses enum values and maximums."""
    from botocore.validate import ParamValidator

    bad = {
        "JobStatus": "DONE",
        "Segments": [{"Type": "TECHNICAL_CUE", "TechnicalCueSegment": {"Type": "Silence", "Confidence": 120.0}}],
    }
    report = ParamValidator().validate(bad, output_shape("rekognition", "GetSegmentDetection"))
    assert not report.has_errors()  # three violations, none seen
    status, cue, confidence = violations("rekognition", "GetSegmentDetection", bad)
    assert status.startswith("JobStatus: 'DONE' is not one of VideoJobStatus's values")
    assert cue.startswith("Segments[0].TechnicalCueSegment.Type: 'Silence' is not one of TechnicalCueType's values")
    assert confidence == "Segments[0].TechnicalCueSegment.Confidence: 120 is above the maximum 100 of SegmentConfidence"
