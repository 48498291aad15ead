"""``mie run``'s summary of an asset's results: read from the AWS shapes the operators store, shown compactly."""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console

from mie.cli import insights
from mie.cli.display import summary
from mie.cli.follow import Run


def box(left: float) -> dict[str, float]:
    return {"Width": 0.1, "Height": 0.2, "Left": left, "Top": 0.3}


def label(stamp: int, name: str, boxes: int = 0) -> dict[str, Any]:
    instances = [{"BoundingBox": box(0.1 * i), "Confidence": 90.0} for i in range(boxes)]
    return {"Timestamp": stamp, "Label": {"Name": name, "Confidence": 80.0, "Instances": instances, "Parents": []}}


def words(*timed: tuple[float, str]) -> list[dict[str, Any]]:
    items = []
    for start, word in timed:
        kind = "punctuation" if word in ".,?!" else "pronunciation"
        item: dict[str, Any] = {"type": kind, "alternatives": [{"confidence": "0.9", "content": word}]}
        if kind == "pronunciation":
            item.update(start_time=f"{start:.3f}", end_time=f"{start + 0.3:.3f}")
        items.append(item)
    return items


#: One video's results as ``fetch_results`` gathers them (``labelDetection`` in two pages).
VIDEO: dict[str, Any] = {
    "Mediainfo": {
        "tracks": [
            {"track_type": "General", "duration": 75000, "format": "MPEG-4"},
            {"track_type": "Video", "format": "AVC", "width": 640, "height": 360},
            {"track_type": "Audio", "format": "AAC"},
        ]
    },
    "labelDetection": [
        {"JobStatus": "SUCCEEDED", "Labels": [label(0, "Person", 1), label(0, "Street"), label(1000, "Person", 2)]},
        {"JobStatus": "SUCCEEDED", "Labels": [label(2000, "Person", 1), label(2000, "Cat"), label(3000, "Street")]},
    ],
    "faceDetection": {
        "Faces": [
            {"Timestamp": 0, "Face": {"BoundingBox": box(0.1), "Confidence": 99.0}},
            {"Timestamp": 1000, "Face": {"BoundingBox": box(0.1), "Confidence": 99.0}},
            {"Timestamp": 1000, "Face": {"BoundingBox": box(0.5), "Confidence": 98.0}},
        ]
    },
    "celebrityRecognition": {
        "Celebrities": [
            {"Timestamp": 1000, "Celebrity": {"Name": "Eileen Collins", "Id": "1", "Confidence": 97.0}},
            {"Timestamp": 2000, "Celebrity": {"Name": "Eileen Collins", "Id": "1", "Confidence": 96.0}},
        ]
    },
    "faceSearch": {
        "Persons": [
            {
                "Timestamp": 1000,
                "Person": {"Index": 0},
                "FaceMatches": [{"Similarity": 99.0, "Face": {"FaceId": "f1", "ExternalImageId": "chef"}}],
            },
            {"Timestamp": 1000, "Person": {"Index": 1}, "FaceMatches": []},
        ]
    },
    "personTracking": {
        "Persons": [
            {"Timestamp": 0, "Person": {"Index": 0, "BoundingBox": box(0.1)}},
            {"Timestamp": 1000, "Person": {"Index": 0, "BoundingBox": box(0.2)}},
            {"Timestamp": 1000, "Person": {"Index": 1, "BoundingBox": box(0.6)}},
        ]
    },
    "textDetection": {
        "TextDetections": [
            {"Timestamp": 0, "TextDetection": {"DetectedText": "OPEN", "Type": "LINE", "Id": 0, "Confidence": 95.0}},
            {"Timestamp": 0, "TextDetection": {"DetectedText": "OPEN", "Type": "WORD", "Id": 1, "Confidence": 95.0}},
            {"Timestamp": 1000, "TextDetection": {"DetectedText": "open", "Type": "LINE", "Id": 2, "Confidence": 93.0}},
            {"Timestamp": 65000, "TextDetection": {"DetectedText": "CAFE  DU  PORT", "Type": "LINE", "Id": 3}},
        ]
    },
    "contentModeration": {
        "ModerationLabels": [
            {"Timestamp": 2000, "ModerationLabel": {"Name": "Smoking", "Confidence": 70.0, "ParentName": "Tobacco"}},
            {"Timestamp": 3000, "ModerationLabel": {"Name": "Smoking", "Confidence": 75.0, "ParentName": "Tobacco"}},
        ]
    },
    "shotDetection": {"Segments": [{"Type": "SHOT"}, {"Type": "SHOT"}], "SelectedSegmentTypes": [{"Type": "SHOT"}]},
    "TranscribeVideo": {
        "results": {
            "language_code": "en-US",
            "transcripts": [{"transcript": "Good evening. The chef cooks."}],
            "items": words((0.5, "Good"), (0.8, "evening"), (0, "."), (62.0, "The"), (62.3, "chef"), (62.6, "cooks")),
        }
    },
    "WebCaptions_en": {
        "WebCaptions": [
            {"start": 0.5, "end": 1.1, "caption": "Good evening."},
            {"start": 62.0, "end": 63.0, "caption": "The chef cooks."},
        ]
    },
    "WebCaptions_es": {
        "WebCaptions": [{"start": 0.5, "end": 1.1, "caption": "Buenas tardes.", "sourceCaption": "Good evening."}]
    },
    "DetectSentiment": {
        "Sentiment": "POSITIVE",
        "SentimentScore": {"Positive": 0.9, "Negative": 0.0},
        "Sentences": [
            {"Text": "Good evening.", "Sentiment": "POSITIVE"},
            {"Text": "The chef.", "Sentiment": "NEUTRAL"},
        ],
    },
    "DetectSentimentSentences": {"Sentences": [{"Text": "Good evening.", "Sentiment": "POSITIVE"}]},
    "entities": {
        "LanguageCode": "en",
        "Results": [
            json.dumps(
                {
                    "Entities": [
                        {"Text": "Tuesday", "Type": "DATE"},
                        {"Text": "Berlin", "Type": "LOCATION"},
                        {"Text": "Berlin", "Type": "LOCATION"},
                    ]
                }
            )
        ],
    },
    "key_phrases": {"LanguageCode": "en", "Results": [json.dumps({"KeyPhrases": [{"Text": "the chef"}]})]},
    "CreateVTTCaptions": {
        "CaptionsCollection": [
            {
                "OperatorName": "Captions_en",
                "LanguageCode": "en",
                "Results": {"S3Bucket": "dataplane", "S3Key": "private/assets/a1/workflows/w1/Captions_en.vtt"},
            }
        ]
    },
    "AudioLoudness": {"IntegratedLoudness": -41.1, "Compliant": False},
}


def test_collect_reads_every_shape() -> None:
    found = insights.collect(VIDEO)
    person = found.labels["person"]
    assert (len(person.frames), person.boxes, person.max_boxes) == (3, 4, 2)
    assert len(found.labels["street"].frames) == 2
    assert found.label_frames == {0, 1000, 2000, 3000}
    assert (found.faces, max(found.face_frames.values()), len(found.face_frames)) == (3, 2, 2)
    assert len(found.people["eileen collins"].frames) == 2
    assert "chef" in found.people
    assert found.unrecognized_faces == 1
    assert found.tracked == {0: {0, 1000}, 1: {1000}}  # personTracking is not a face search
    assert found.sentences == {"POSITIVE": 1, "NEUTRAL": 1}  # counted once, not per result holding them
    assert set(found.text) == {"open", "cafe du port"}  # LINEs only, case and spacing folded
    assert len(found.text["open"].frames) == 2
    assert len(found.moderation["smoking"].frames) == 2
    assert found.shots == 2
    assert found.transcript == [(0.5, "Good evening."), (62.0, "The chef cooks.")]
    assert found.languages == ["en-US (speech)"]
    assert found.sentiment.startswith("POSITIVE")
    assert len(found.entities["berlin"].frames) == 2
    assert found.entities["berlin"].detail == "LOCATION"
    assert list(found.phrases) == ["the chef"]
    assert found.translations == ["es"]
    assert [c.key.rpartition("/")[2] for c in found.captions] == ["Captions_en.vtt"]
    assert list(found.other) == ["AudioLoudness"]


def test_transcript_falls_back_to_the_words_with_their_times() -> None:
    found = insights.collect({"TranscribeAudio": VIDEO["TranscribeVideo"]})
    assert found.transcript == [(0.5, "Good evening."), (62.0, "The chef cooks")]


def test_image_results_and_absent_kinds() -> None:
    found = insights.collect(
        {
            "labelDetection": {"Labels": [{"Name": "Cup", "Confidence": 91.0, "Instances": [{"BoundingBox": box(0)}]}]},
            "faceDetection": {"FaceDetails": []},
            "textDetection": {"TextDetections": [{"DetectedText": "ESPRESSO", "Type": "LINE"}]},
            "celebrityRecognition": {
                "CelebrityFaces": [{"Name": "Ada", "MatchConfidence": 99}],
                "UnrecognizedFaces": [{}],
            },
        }
    )
    assert found.labels["cup"].boxes == 1
    assert found.faces == 0
    assert found.face_results
    assert list(found.text) == ["espresso"]
    assert list(found.people) == ["ada"]
    assert found.unrecognized_faces == 1
    assert not found.transcript
    assert not found.captions
    assert not found.other


def render_text(run: Run) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(summary(run))
    return console.export_text()


def test_summary_reads_as_findings_not_key_counts() -> None:
    record = {"Id": "e1", "AssetId": "a1", "Status": "Complete", "Created": "1"}
    run = Run(label="clip.mp4", workflow="CasVideoWorkflow", record=record, file="clip.mp4", results=VIDEO)
    run.asset_url = "http://127.0.0.1:8080/assets/a1"
    text = render_text(run)
    assert "keys}" not in text
    assert "items]" not in text
    assert "Person 3 [4 boxes]" in text
    assert "3 in 2 frames, at most 2 in one frame" in text
    assert "Eileen Collins 2" in text
    assert "+1 unrecognised" in text
    assert "“OPEN” 00:00" in text
    assert "“CAFE DU PORT” 01:05" in text
    assert "00:00 Good evening." in text
    assert "01:02 The chef cooks." in text
    assert "en-US (speech)" in text
    assert "Smoking 2" in text
    assert "2 people, in 2 frames" in text
    assert "sentences: 1 neutral, 1 positive" in text
    assert "Berlin (location) 2" in text
    assert "en: Captions_en.vtt" in text
    assert "dataplane/private/assets/a1/workflows/w1/" in text
    assert "http://127.0.0.1:8080/assets/a1" in text
    assert "AudioLoudness" in text
    assert "-41.1" in text


def test_a_cancelled_execution_does_not_read_as_an_error() -> None:
    record = {"Id": "e1", "AssetId": "a1", "Status": "Error", "Message": "Cancelled by request", "Created": "1"}
    text = render_text(Run(label="clip.mp4", workflow="W", record=record, file="clip.mp4"))
    assert "Cancelled" in text
    assert "✘" not in text
    assert "Error" not in text
