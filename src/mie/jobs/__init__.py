"""Transcode jobs in MediaConvert's terms: job settings, one ffmpeg command per job, MediaConvert-shaped events in
the change stream, and the progress-metrics collector of the "Job Progress Metrics" sample (docs/jobs.md)."""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mie.jobs.operator import InlineJobs
    from mie.operators.registry import OperatorRegistry


#: The job service each registry's operators record their jobs with (set by :func:`bind`, so that registering the
#: operators again keeps them bound). Keyed by the registry object the composition root made: no lookup by name.
_BOUND: weakref.WeakKeyDictionary[OperatorRegistry, InlineJobs] = weakref.WeakKeyDictionary()


def register(registry: OperatorRegistry) -> None:
    """Entry point of the ``mie.operators`` group: registers the ``Transcode`` and ``Mediaconvert`` operators (bound
    to the registry's job service when :func:`bind` gave it one)."""
    from mie.jobs.mediaconvert import mediaconvert
    from mie.jobs.operator import transcode

    jobs = _BOUND.get(registry)
    for definition in (transcode, mediaconvert):
        if jobs is None:
            registry.register(definition)
        else:
            function: Callable[..., Any] = definition.function  # its optional second parameter is ``jobs``
            registry.register(dataclasses.replace(definition, function=functools.partial(function, jobs=jobs)))


def bind(registry: OperatorRegistry, jobs: InlineJobs) -> None:
    """Give the ``Transcode`` and ``Mediaconvert`` operators of ``registry`` the server's job service, so that their
    jobs are recorded where ``/api/jobs`` shows them (the composition root calls it). Operators registered by someone
    else under those names are left alone."""
    from mie.jobs.mediaconvert import mediaconvert
    from mie.jobs.operator import transcode

    _BOUND[registry] = jobs
    ours = {id(transcode), id(mediaconvert)}
    if any(id(d) in ours for d in registry.definitions()):
        register(registry)
