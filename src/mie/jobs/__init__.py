"""Transcode jobs in MediaConvert's terms: job settings, one ffmpeg command per job, MediaConvert-shaped events in
the change stream, and the progress-metrics collector of the "Job Progress Metrics" sample (docs/jobs.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mie.operators.registry import OperatorRegistry


def register(registry: OperatorRegistry) -> None:
    """Entry point of the ``mie.operators`` group: registers the ``Transcode`` and ``Mediaconvert`` operators."""
    from mie.jobs.mediaconvert import mediaconvert
    from mie.jobs.operator import transcode

    registry.register(transcode)
    registry.register(mediaconvert)
