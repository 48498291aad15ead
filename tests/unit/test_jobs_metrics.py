"""The progress-metrics collector: the sample's formulas (reference B.4) on hand-made MediaConvert events, events out
of order, zero durations and the fixed defects (B.8)."""

from __future__ import annotations

from typing import Any

import pytest

from mie.jobs.events import job_event
from mie.jobs.metrics import apply_event
from mie.types import JSONDict

JOB = "1557269195888-jfv1i5"
META = {"application": "emc-watchfolder", "settings": "Default"}


def event(status: str, at: float, **detail: Any) -> JSONDict:
    return job_event(JOB, status, META, when=at, **detail)


def update(at: float, frames: int, percent: int, phase: str = "TRANSCODING", phase_percent: int = 56) -> JSONDict:
    phases = {
        "PROBING": {"status": "COMPLETE", "percentComplete": 100},
        "TRANSCODING": {"status": "PROGRESSING", "percentComplete": phase_percent if phase == "TRANSCODING" else 100},
        "UPLOADING": {"status": "PENDING", "percentComplete": phase_percent if phase == "UPLOADING" else 0},
    }
    progress = {"phaseProgress": phases, "jobPercentComplete": percent, "currentPhase": phase, "retryCount": 0}
    return event("STATUS_UPDATE", at, framesDecoded=frames, jobProgress=progress)


def submitted(at: float) -> JSONDict:
    settings = {
        "Inputs": [{"FileInput": "s3://b/inputs/test.mp4"}],
        "OutputGroups": [{"Outputs": [{}] * 3}, {"Outputs": [{}, {}]}],
    }
    return event("SUBMITTED", at, job={"id": JOB, "createdAt": at, "settings": settings})


def input_info(at: float, frames: int = 19036) -> JSONDict:
    details = [
        {"id": 1, "uri": "s3://b/inputs/test.mp4", "video": [{"codec": "H_264"}], "audio": [], "frameCount": frames}
    ]
    return event("INPUT_INFORMATION", at, inputDetails=details)


def collect(events: list[JSONDict]) -> JSONDict:
    doc: JSONDict | None = None
    for e in events:
        doc = apply_event(doc, e, ttl_seconds=86400)
    assert doc is not None
    return doc


def test_the_readme_example_gives_the_readme_metrics() -> None:
    """Job 1557269195888-jfv1i5 of the sample's README: statusDuration 154, decodeRate 10685/154, remaining 8351 ..."""
    doc = collect(
        [
            submitted(1557269195),
            event("PROGRESSING", 1557269195),
            input_info(1557269196),
            event("PROGRESSING", 1557269199),
            update(1557269349, 10685, 53),
        ]
    )
    m = doc["progressMetrics"]
    assert doc["status"] == "PROGRESSING"
    assert doc["analysis"] == {"num_inputs": 1, "num_outputs": 5, "frameCount": 19036, "codec": "AVC"}
    assert m["framesDecoded"] == 10685
    assert m["frameCount"] == 19036
    assert m["framesRemaining"] == 8351
    assert m["statusDuration"] == 154
    assert m["decodeRate"] == pytest.approx(10685 / 154)
    assert m["estDecodeTimeRemaining"] == pytest.approx(8351 / (10685 / 154))
    assert round(m["estDecodeTimeRemaining"], 2) == 120.36
    assert m["progressingDuration"] == 4  # fixed: repeated PROGRESSING events advance lastProgressingTime
    assert m["queuedDuration"] == 0
    assert m["percentJobComplete"] == 53
    assert m["currentPhase"] == "TRANSCODING"
    assert m["currentPhasePercentComplete"] == 56
    assert m["percentDecodeComplete"] == 56
    assert "decodeDuration" not in m
    assert doc["filters"]["queueName"] == "Default"
    assert doc["filters"]["application"] == "emc-watchfolder"
    assert doc["timestampTTL"] == doc["eventTimes"]["lastTime"] + 86400


def test_complete_sets_100_percent_and_every_frame() -> None:
    doc = collect(
        [
            submitted(100),
            event("PROGRESSING", 102),
            input_info(103, frames=300),
            update(110, 250, 80, phase_percent=100),
            event("COMPLETE", 112, outputGroupDetails=[{"type": "FILE_GROUP"}], warnings=[]),
        ]
    )
    m = doc["progressMetrics"]
    assert doc["status"] == doc["eventStatus"] == "COMPLETE"
    assert m["percentJobComplete"] == 100
    assert m["percentDecodeComplete"] == 100
    assert "currentPhase" not in m
    assert m["framesDecoded"] == m["frameCount"] == 300
    assert m["framesRemaining"] == 0
    assert m["statusDuration"] == 10  # completeTime - firstProgressingTime, no +1 s any more
    assert m["decodeRate"] == 30
    assert m["decodeDuration"] == 8  # TRANSCODING reached 100 % at 110
    assert m["queuedDuration"] == 2
    assert doc["eventTimes"]["completeTime"] == 112
    assert doc["outputGroupDetails"] == [{"type": "FILE_GROUP"}]  # kept on the job (fix)


def test_events_in_any_order_give_the_same_document() -> None:
    ordered = [
        submitted(100),
        event("PROGRESSING", 101),
        input_info(101.5, frames=200),
        update(105, 50, 30),
        update(109, 150, 70),
        event("COMPLETE", 111),
    ]
    expected = collect(ordered)
    for shuffled in (list(reversed(ordered)), [ordered[i] for i in (3, 5, 0, 4, 2, 1)]):
        doc = collect(shuffled)
        assert doc["status"] == "COMPLETE"
        assert doc["progressMetrics"] == expected["progressMetrics"]
        assert doc["eventTimes"] == expected["eventTimes"]
        assert doc["createdAt"] == 100


def test_a_late_status_update_never_moves_progress_back() -> None:
    doc = collect([submitted(1), event("PROGRESSING", 2), update(9, 90, 70), update(5, 40, 30)])
    assert doc["progressMetrics"]["percentJobComplete"] == 70
    assert doc["progressMetrics"]["framesDecoded"] == 90
    assert doc["eventTimes"]["lastStatusTime"] == 9
    late = apply_event(collect([submitted(1), event("PROGRESSING", 2), event("COMPLETE", 9)]), update(5, 40, 30))
    assert late["status"] == "COMPLETE"
    assert late["progressMetrics"]["percentJobComplete"] == 100


def test_status_update_as_first_event_and_zero_durations() -> None:
    """Defects 1 and 2: no KeyError on a first STATUS_UPDATE, no ZeroDivisionError when statusDuration is 0."""
    doc = collect([update(50, 10, 5)])
    m = doc["progressMetrics"]
    assert doc["status"] == "PROGRESSING"
    assert m["statusDuration"] == 0
    assert "decodeRate" not in m
    assert "estDecodeTimeRemaining" not in m
    assert m["framesDecoded"] == 10
    assert m["percentJobComplete"] == 5
    # A SUBMITTED arriving later (CreateJob out of order) keeps the metrics (defect 6).
    doc = apply_event(doc, submitted(49))
    assert doc["progressMetrics"]["percentJobComplete"] == 5
    assert doc["progressMetrics"]["queuedDuration"] == 1
    assert doc["status"] == "PROGRESSING"


def test_error_keeps_progress_and_the_error() -> None:
    doc = collect(
        [
            submitted(10),
            event("PROGRESSING", 11),
            update(15, 20, 40),
            event("ERROR", 16, errorCode=1040, errorMessage="ffmpeg failed"),
            event("PROGRESSING", 12),  # older, arrives late: the job stays ERROR
        ]
    )
    assert doc["status"] == "ERROR"
    assert doc["errorCode"] == 1040
    assert doc["errorMessage"] == "ffmpeg failed"
    assert doc["progressMetrics"]["percentJobComplete"] == 40  # not forced to 0 (defect 5)
    assert doc["eventTimes"]["errorTime"] == 16
    assert doc["eventTimes"]["lastTime"] == 16  # not overwritten by an older event (defect 4)
    # The first terminal status wins.
    assert apply_event(doc, event("COMPLETE", 20))["status"] == "ERROR"


def test_canceled_keeps_the_last_metrics() -> None:
    doc = collect([submitted(1), event("PROGRESSING", 2), update(4, 30, 25), event("CANCELED", 5)])
    assert doc["status"] == "CANCELED"
    assert doc["progressMetrics"]["percentJobComplete"] == 25
    assert doc["progressMetrics"]["currentPhase"] == "TRANSCODING"


def test_negative_durations_are_clamped() -> None:
    """Clocks of different machines: PROGRESSING stamped before the creation time gives 0, not a negative queue."""
    doc = collect([submitted(100), event("PROGRESSING", 99), update(99, 5, 3)])
    assert doc["progressMetrics"]["queuedDuration"] == 0
    assert doc["progressMetrics"]["statusDuration"] == 0


def test_event_time_falls_back_to_the_envelope() -> None:
    e = event("PROGRESSING", 1557269195.5)
    del e["detail"]["timestamp"]
    doc = apply_event(None, e)
    assert doc["eventTimes"]["firstProgressingTime"] == 1557269195  # "time" has second resolution
    assert e["time"].endswith("Z")
