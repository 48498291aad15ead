"""The progress-metrics collector: merge MediaConvert job events into one job document and compute the sample's
metrics (reference part B.3/B.4) exactly, with its defects fixed (B.8):

* events may arrive in any order: times only move the right way (``first*`` = min, ``last*`` = max), the lifecycle
  ``status`` only advances (SUBMITTED < PROGRESSING < COMPLETE | ERROR | CANCELED, the first terminal one wins) and
  the newest STATUS_UPDATE (by event time) gives the percentages, so a late event never makes progress go back;
* a STATUS_UPDATE as first event works (no KeyError) and implies PROGRESSING;
* a zero or negative ``statusDuration`` gives no ``decodeRate`` (no ZeroDivisionError), durations never go negative;
* ERROR keeps the last ``percentJobComplete`` (not 0); ``errorCode``/``errorMessage`` and COMPLETE's
  ``outputGroupDetails``/``warnings`` are kept on the job;
* a late SUBMITTED (CreateJob) keeps the metrics already computed.

Times are epoch seconds taken from ``detail.timestamp`` (milliseconds), not the second-resolution ``time``, so short
jobs get meaningful durations; COMPLETE no longer adds 1 s to ``lastStatusTime`` (the zero guard makes it moot).
"""

from __future__ import annotations

import copy
from typing import Any

from mie.jobs.events import (
    CANCELED,
    COMPLETE,
    ERROR,
    INPUT_INFORMATION,
    PROGRESSING,
    STATUS_UPDATE,
    SUBMITTED,
    TERMINAL,
    event_time,
)
from mie.types import JSONDict

_RANK = {SUBMITTED: 0, PROGRESSING: 1, COMPLETE: 2, ERROR: 2, CANCELED: 2}
_FORMATS = {"H_264": "AVC", "H_265": "HEVC", "MPEG2": "MPEG Video"}


def _min(current: Any, value: float) -> float:
    return value if current is None else min(float(current), value)


def _max(current: Any, value: float) -> float:
    return value if current is None else max(float(current), value)


def _new_job(detail: JSONDict, ts: float) -> JSONDict:
    queue = str(detail.get("queue") or "")
    parts = queue.split(":")
    meta = dict(detail.get("userMetadata") or {})
    return {
        "id": detail.get("jobId"),
        # The sample's estimate until the SUBMITTED event brings the real creation time.
        "createdAt": ts - 1 if detail.get("status") not in (ERROR, CANCELED, SUBMITTED) else ts,
        "status": None,
        "eventStatus": None,
        "userMetadata": meta,
        "queue": queue,
        "queueName": queue.split("/")[1] if "/" in queue else queue,
        "filters": {
            "jobId": detail.get("jobId"),
            "account": parts[4] if len(parts) > 4 else "",
            "region": parts[3] if len(parts) > 3 else "",
            "queue": queue,
            "queueName": queue.split("/")[1] if "/" in queue else queue,
            **meta,
        },
        "eventTimes": {},
        "progressMetrics": {},
    }


def apply_event(job: JSONDict | None, event: JSONDict, *, ttl_seconds: float = 86400.0) -> JSONDict:
    """The job document after ``event`` (a new dict; ``job`` is not changed)."""
    detail: JSONDict = event.get("detail") or {}
    status = str(detail.get("status") or "")
    ts = event_time(event)
    doc = copy.deepcopy(job) if job is not None else _new_job(detail, ts)
    times: JSONDict = doc.setdefault("eventTimes", {})
    times["lastTime"] = _max(times.get("lastTime"), ts)
    frames = doc.get("progressMetrics", {}).get("framesDecoded")
    lifecycle = PROGRESSING if status in (STATUS_UPDATE, INPUT_INFORMATION) else status
    if lifecycle in _RANK:
        current = doc.get("status")
        if current is None or (_RANK[lifecycle] > _RANK[current] and current not in TERMINAL):
            doc["status"] = lifecycle
        if status != INPUT_INFORMATION and ts >= float(doc.get("eventStatusTime") or 0):
            doc["eventStatus"], doc["eventStatusTime"] = lifecycle, ts

    if status == SUBMITTED:
        doc["createdAt"] = ts
        times["createTime"] = _min(times.get("createTime"), ts)
        submitted = detail.get("job") or {}
        for key in ("arn", "settings"):
            if key in submitted:
                doc[key] = submitted[key]
        settings = submitted.get("settings") or {}
        analysis = doc.setdefault("analysis", {})
        analysis["num_inputs"] = len(settings.get("Inputs") or [])
        analysis["num_outputs"] = sum(len(g.get("Outputs") or []) for g in settings.get("OutputGroups") or [])
    elif status == PROGRESSING:
        times["firstProgressingTime"] = _min(times.get("firstProgressingTime"), ts)
        times["lastProgressingTime"] = _max(times.get("lastProgressingTime"), ts)
    elif status == INPUT_INFORMATION:
        inputs = list(detail.get("inputDetails") or [])
        doc["inputDetails"] = inputs
        analysis = doc.setdefault("analysis", {})
        counts = [i.get("frameCount") for i in inputs if isinstance(i.get("frameCount"), int)]
        if counts:
            analysis["frameCount"] = sum(counts)
        videos = [v for i in inputs for v in (i.get("video") or [])]
        if videos:
            codec = str(videos[-1].get("codec", ""))
            analysis["codec"] = _FORMATS.get(codec, codec)
    elif status == STATUS_UPDATE and doc.get("status") not in TERMINAL:
        # A STATUS_UPDATE proves the job was progressing by then, even if its PROGRESSING event is late.
        times["firstProgressingTime"] = _min(times.get("firstProgressingTime"), ts)
        times.setdefault("lastProgressingTime", ts)
        decoded = detail.get("framesDecoded")
        if isinstance(decoded, int | float) and not isinstance(decoded, bool):
            frames = max(int(frames or 0), int(decoded))
        times["lastStatusTime"] = _max(times.get("lastStatusTime"), ts)
        progress = detail.get("jobProgress")
        latest = doc.get("lastJobProgress") or {}
        if isinstance(progress, dict) and ts >= float(latest.get("time", float("-inf"))):
            doc["lastJobProgress"] = {"time": ts, "jobProgress": progress}
        transcoding = ((progress or {}).get("phaseProgress") or {}).get("TRANSCODING") or {}
        if transcoding.get("percentComplete") == 100:
            times["decodeTime"] = _min(times.get("decodeTime"), ts)
    elif status == COMPLETE:
        times["completeTime"] = _min(times.get("completeTime"), ts)
        times["lastProgressingTime"] = _max(times.get("lastProgressingTime"), ts)
        times["lastStatusTime"] = _max(times.get("lastStatusTime"), ts)
        times.setdefault("decodeTime", ts)
        for key in ("outputGroupDetails", "warnings"):
            if key in detail:
                doc[key] = detail[key]
    elif status in (ERROR, CANCELED):
        times["errorTime"] = _min(times.get("errorTime"), ts)
        for key in ("errorCode", "errorMessage"):
            if key in detail:
                doc[key] = detail[key]
    if doc.get("status") == COMPLETE:
        count = (doc.get("analysis") or {}).get("frameCount")
        if count is not None:
            frames = count
    doc["progressMetrics"] = progress_metrics(doc, frames)
    doc["timestamp"] = times["lastTime"]
    doc["timestampTTL"] = times["lastTime"] + ttl_seconds
    return doc


def progress_metrics(doc: JSONDict, frames_decoded: int | None) -> JSONDict:
    """The sample's ``calculateProgressMetrics`` (B.4) on the merged document, with the caller-set percentages."""
    times: JSONDict = doc.get("eventTimes") or {}
    metrics: JSONDict = {}
    frame_count = (doc.get("analysis") or {}).get("frameCount")
    if frames_decoded is not None:
        metrics["framesDecoded"] = frames_decoded
    if frame_count is not None:
        metrics["frameCount"] = frame_count
        if frames_decoded is not None:
            metrics["framesRemaining"] = max(0, frame_count - frames_decoded)
    first = times.get("firstProgressingTime")
    if first is not None:
        for name, start, end in (
            ("queuedDuration", times.get("createTime"), first),
            ("progressingDuration", first, times.get("lastProgressingTime")),
            ("statusDuration", first, times.get("lastStatusTime")),
            ("decodeDuration", first, times.get("decodeTime")),
        ):
            if start is not None and end is not None:
                metrics[name] = max(0.0, float(end) - float(start))
    status_duration = metrics.get("statusDuration")
    if frames_decoded is not None and status_duration:
        metrics["decodeRate"] = frames_decoded / status_duration
        if metrics["decodeRate"] > 0 and "framesRemaining" in metrics:
            metrics["estDecodeTimeRemaining"] = metrics["framesRemaining"] / metrics["decodeRate"]
    status = doc.get("status")
    progress: JSONDict = (doc.get("lastJobProgress") or {}).get("jobProgress") or {}
    phases: JSONDict = progress.get("phaseProgress") or {}
    if status == COMPLETE:
        metrics["percentJobComplete"] = 100
        metrics["percentDecodeComplete"] = 100
    elif progress:
        if "jobPercentComplete" in progress:
            metrics["percentJobComplete"] = progress["jobPercentComplete"]
        phase = progress.get("currentPhase")
        if phase:
            metrics["currentPhase"] = phase
            metrics["currentPhasePercentComplete"] = (phases.get(phase) or {}).get("percentComplete", 0)
        if "TRANSCODING" in phases:
            metrics["percentDecodeComplete"] = phases["TRANSCODING"].get("percentComplete", 0)
    return metrics


def summary(doc: JSONDict) -> JSONDict:
    """What the progress API answers for a job: the document without collector bookkeeping."""
    return {k: v for k, v in doc.items() if k not in ("eventStatusTime",)}
