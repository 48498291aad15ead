"""MediaConvert-shaped job events (EventBridge "MediaConvert Job State Change", official reference §B.2)."""

from __future__ import annotations

import random
import string
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from mie.types import JSONDict

ACCOUNT = "000000000000"
REGION = "local"
QUEUE = f"arn:aws:mediaconvert:{REGION}:{ACCOUNT}:queues/Default"
DETAIL_TYPE = "MediaConvert Job State Change"
SOURCE = "aws.mediaconvert"
#: ``source`` of job events in the change log (``ChangeLog.append``).
CHANGE_SOURCE = "MediaConvert"

SUBMITTED = "SUBMITTED"
PROGRESSING = "PROGRESSING"
INPUT_INFORMATION = "INPUT_INFORMATION"
STATUS_UPDATE = "STATUS_UPDATE"
COMPLETE = "COMPLETE"
ERROR = "ERROR"
CANCELED = "CANCELED"
#: Lifecycle statuses a job can be listed by.
STATUSES = (SUBMITTED, PROGRESSING, COMPLETE, ERROR, CANCELED)
TERMINAL = frozenset({COMPLETE, ERROR, CANCELED})


def new_job_id(now: float | None = None) -> str:
    """A MediaConvert-style job id: epoch milliseconds, a dash, six random characters (``1557269195888-jfv1i5``)."""
    millis = int((time.time() if now is None else now) * 1000)
    suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=6))
    return f"{millis}-{suffix}"


def job_arn(job_id: str) -> str:
    """The job's ARN (``resources[0]`` of its events)."""
    return f"arn:aws:mediaconvert:{REGION}:{ACCOUNT}:jobs/{job_id}"


def job_event(
    job_id: str, status: str, user_metadata: dict[str, str], when: float | None = None, **extra: Any
) -> JSONDict:
    """One job event: the EventBridge envelope around ``detail`` (timestamp in ms, plus ``extra`` fields)."""
    now = time.time() if when is None else when
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": ACCOUNT,
        "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [job_arn(job_id)],
        "detail": {
            "timestamp": int(now * 1000),
            "accountId": ACCOUNT,
            "queue": QUEUE,
            "jobId": job_id,
            "status": status,
            "userMetadata": dict(user_metadata),
            **extra,
        },
    }


def event_time(event: JSONDict) -> float:
    """The event's time in epoch seconds: ``detail.timestamp`` (ms) when present, else the envelope's ``time``."""
    detail = event.get("detail") or {}
    stamp = detail.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        return float(stamp) / 1000.0
    text = str(event.get("time") or "")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return time.time()
