"""MIE's test operators (``source/operators/test/test.py``) under the names of MIE's test-stack outputs.

Each writes ``MetaData[<Name>] = {"Meta": "Workflow metadata for <Name>"}`` and one media object, as MIE's do.
Two MIE bugs are fixed: the Image handlers emit ``Image`` media (MIE emitted ``Text``), and
``VideoAsyncFailMonitorLambda`` fails (MIE's succeeded). ``Configuration.SleepSeconds`` makes any of them slow,
so tests can observe running executions; ``Configuration.OutputMediaType`` changes the media key emitted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mie.operators.registry import OperatorRegistry
from mie.types import JSONDict, MediaType

MEDIA_TYPES = tuple(MediaType)


def _handler(media_type: str, succeed: bool) -> Callable[[JSONDict, Any], JSONDict]:
    def handle(event: JSONDict, context: Any) -> JSONDict:
        name = event["Name"]
        config = event.get("Configuration") or {}
        sleep = config.get("SleepSeconds")
        if isinstance(sleep, int | float) and not isinstance(sleep, bool) and sleep > 0:
            time.sleep(float(sleep))
        metadata = dict(event.get("MetaData") or {})
        entry: JSONDict = {"Meta": f"Workflow metadata for {name}"}
        if "TestCustomConfig" in config:
            entry["TestCustomConfig"] = config["TestCustomConfig"]
        metadata[name] = entry
        out_type = str(config.get("OutputMediaType", media_type))
        media = dict(event.get("Media") or {})
        media[out_type] = {
            "S3Bucket": f"S3BucketFrom{name}",
            "S3Key": f"S3/Key/From/{name}/{out_type.lower()}",
        }
        return {
            "Name": name,
            "AssetId": event.get("AssetId"),
            "WorkflowExecutionId": event.get("WorkflowExecutionId"),
            "Input": event.get("Input", {}),
            "Configuration": config,
            "Status": "Complete" if succeed else "Error",
            "MetaData": metadata,
            "Media": media,
        }

    handle.__name__ = f"{media_type.lower()}_{'ok' if succeed else 'fail'}"
    return handle


def register(registry: OperatorRegistry) -> None:
    """Register ``VideoSyncOKLambda`` ... ``TextAsyncOKMonitorLambda`` (the entry point of this module)."""
    for media in MEDIA_TYPES:
        ok = _handler(media, True)
        registry.register(f"{media}SyncOKLambda", ok)
        registry.register(f"{media}AsyncOKLambda", ok)
        registry.register(f"{media}AsyncOKMonitorLambda", ok)
    registry.register("VideoSyncFailLambda", _handler("Video", False))
    registry.register("VideoAsyncFailMonitorLambda", _handler("Video", False))
