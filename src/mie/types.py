"""Leaf types shared by every layer: JSON aliases and MIE's status vocabularies."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol, TypeAlias

#: A JSON object as MIE records are: string keys, any JSON values.
JSONDict: TypeAlias = dict[str, Any]
JSONValue: TypeAlias = Any


class WorkflowStatus(StrEnum):
    """Status of a workflow execution (MIE ``Status.WORKFLOW_STATUS_*``)."""

    QUEUED = "Queued"
    STARTED = "Started"
    WAITING = "Waiting"
    RESUMED = "Resumed"
    COMPLETE = "Complete"
    ERROR = "Error"


class StageStatus(StrEnum):
    """Status of one stage inside an execution record."""

    NOT_STARTED = "Not Started"
    STARTED = "Started"
    EXECUTING = "Executing"
    COMPLETE = "Complete"
    ERROR = "Error"


class OperationStatus(StrEnum):
    """Status carried in an operator's output object."""

    NOT_STARTED = "Not Started"
    STARTED = "Started"
    EXECUTING = "Executing"
    COMPLETE = "Complete"
    ERROR = "Error"
    SKIPPED = "Skipped"


#: Execution statuses after which nothing more happens.
TERMINAL_STATUSES = frozenset({WorkflowStatus.COMPLETE, WorkflowStatus.ERROR})
#: Statuses of executions waiting for admission by the scheduler.
ADMISSION_STATUSES = frozenset({WorkflowStatus.QUEUED, WorkflowStatus.RESUMED})


class MediaType(StrEnum):
    """MIE's media types: the kind of an asset's media, the key under ``Input.Media`` and ``Globals.Media``, and
    an operator's ``MediaType``. Values are the strings MIE stores and sends (a StrEnum equals its string)."""

    VIDEO = "Video"
    AUDIO = "Audio"
    IMAGE = "Image"
    TEXT = "Text"


#: ``MediaType`` value of operators that never need media (not a kind of media, so not a :class:`MediaType`).
METADATA_ONLY = "MetadataOnly"
#: Every ``MediaType`` an operator may declare.
OPERATOR_MEDIA_TYPES: tuple[str, ...] = (*MediaType, METADATA_ONLY)
#: ``CurrentStage`` of a finished execution.
END_STAGE = "End"


class Component(Protocol):
    """A background part of the server (a change-stream consumer, the watch folder, the job runner...).

    :func:`mie.bootstrap.build` creates the components, ``Services.start`` starts them after the scheduler and
    ``Services.stop`` stops them, in reverse order, before it. ``stop`` must return promptly and be idempotent.
    """

    def start(self) -> None:
        """Begin work (typically start a daemon thread)."""

    def stop(self) -> None:
        """Stop work and release resources."""
