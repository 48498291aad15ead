"""Declaring a native operator: the ``@operator`` decorator and the definition it produces.

A native operator is a function of one :class:`~mie.operators.context.OperatorContext`. The decorator checks the
declaration when the module is imported (a wrong signature or an unknown media type fails at once, not in the middle
of a workflow), and the definition carries everything the control plane needs, so registering it is one call.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from mie.types import OPERATOR_MEDIA_TYPES, JSONDict

if TYPE_CHECKING:
    from mie.operators.context import OperatorContext

#: What an operator may declare: a media type, or ``MetadataOnly`` for operators that read only earlier results.
MEDIA_TYPES = OPERATOR_MEDIA_TYPES
NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}\Z")
MONITOR_SUFFIX = ".monitor"


class _Executing:
    """The marker a monitor returns while its work goes on; it is polled again later (with backoff)."""

    _instance: _Executing | None = None

    def __new__(cls) -> _Executing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EXECUTING"


#: Return this from an async operator's monitor while the work is still going on.
EXECUTING = _Executing()

#: What an operator function may return: nothing, extra output ``MetaData``, or :data:`EXECUTING` (monitors).
OperatorReturn: TypeAlias = "Mapping[str, Any] | _Executing | None"
OperatorFunction: TypeAlias = "Callable[[OperatorContext], OperatorReturn]"
Isolation = Literal["thread", "process"]


@dataclass
class OperatorDefinition:
    """Everything known about a native operator. Built by :func:`operator`; not usually made by hand."""

    name: str
    function: OperatorFunction
    media_type: str
    description: str = ""
    version: str = "1.0.0"
    configuration: JSONDict = field(default_factory=dict)
    #: ``Async`` operators run ``function`` once, then ``monitor`` until it stops returning :data:`EXECUTING`.
    #: An ``Async`` operator without a monitor is a long-running function: one call that reports progress.
    asynchronous: bool = False
    monitor_function: OperatorFunction | None = None
    #: Seconds one call may take before its task fails (and, in a worker process, the process is killed).
    timeout: float | None = None
    #: At most this many tasks of this operation run at once across the engine (None: no limit of its own).
    max_concurrent: int | None = None
    #: ``process`` runs the operator in a worker process: for CPU-heavy work, and so a timeout can kill it.
    isolation: Isolation = "thread"

    @property
    def start_arn(self) -> str:
        """The ``StartLambdaArn`` that names this operator."""
        return self.name

    @property
    def monitor_arn(self) -> str | None:
        """The ``MonitorLambdaArn`` of a start/monitor pair (None otherwise)."""
        return self.name + MONITOR_SUFFIX if self.monitor_function is not None else None

    def monitor(self, function: OperatorFunction) -> OperatorFunction:
        """Decorator: declare the monitor of this (asynchronous) operator."""
        _check_signature(function, f"monitor of operator {self.name!r}")
        self.monitor_function = function
        self.asynchronous = True
        return function

    def operation(self) -> JSONDict:
        """The body of ``POST /api/workflow/operation`` that registers this operator with the control plane."""
        body: JSONDict = {
            "Name": self.name,
            "Type": "Async" if self.monitor_function is not None else "Sync",
            "Configuration": {"MediaType": self.media_type, "Enabled": True, **self.configuration},
            "StartLambdaArn": self.start_arn,
        }
        if self.monitor_arn is not None:
            body["MonitorLambdaArn"] = self.monitor_arn
        if self.description:
            body["Description"] = self.description
        if self.timeout is not None:
            body["TimeoutSeconds"] = self.timeout
        if self.max_concurrent is not None:
            body["MaxConcurrent"] = self.max_concurrent
        return body

    def __call__(self, ctx: OperatorContext) -> OperatorReturn:
        """Run the operator function (so a decorated function can still be called directly)."""
        return self.function(ctx)


def operator(
    name: str,
    *,
    media_type: str,
    description: str | None = None,
    version: str = "1.0.0",
    configuration: Mapping[str, Any] | None = None,
    asynchronous: bool = False,
    timeout: float | None = None,
    max_concurrent: int | None = None,
    isolation: Isolation = "thread",
) -> Callable[[OperatorFunction], OperatorDefinition]:
    """Declare a native operator.

    ``configuration`` holds the defaults an execution's ``Configuration`` overrides (``MediaType`` and ``Enabled``
    are added). The function receives an :class:`~mie.operators.context.OperatorContext` and returns None, a mapping
    of extra output ``MetaData``, or (monitors only) :data:`EXECUTING`; it fails the task by raising.

    >>> @operator("WordCount", media_type="Text")
    ... def word_count(ctx):
    ...     return {"Words": len(ctx.input_file("Text").read_text().split())}
    """
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"operator name {name!r} must be 1-128 letters, digits, '_' or '-'")
    if media_type not in MEDIA_TYPES:
        raise ValueError(f"operator {name!r}: media_type must be one of {', '.join(MEDIA_TYPES)}, not {media_type!r}")
    config = dict(configuration or {})
    for key in ("MediaType", "Enabled"):
        if key in config:
            raise ValueError(f"operator {name!r}: {key} is set by the engine, not in configuration")
    if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
        raise ValueError(f"operator {name!r}: timeout must be a positive number of seconds")
    if max_concurrent is not None and not (isinstance(max_concurrent, int) and max_concurrent > 0):
        raise ValueError(f"operator {name!r}: max_concurrent must be a positive integer")
    if isolation not in ("thread", "process"):
        raise ValueError(f"operator {name!r}: isolation must be 'thread' or 'process'")

    def decorate(function: OperatorFunction) -> OperatorDefinition:
        _check_signature(function, f"operator {name!r}")
        if isolation == "process" and "<locals>" in getattr(function, "__qualname__", ""):
            raise ValueError(f"operator {name!r}: a process-isolated operator must be a module-level function")
        return OperatorDefinition(
            name=name,
            function=function,
            media_type=media_type,
            description=description if description is not None else inspect.getdoc(function) or "",
            version=version,
            configuration=config,
            asynchronous=asynchronous,
            timeout=float(timeout) if timeout is not None else None,
            max_concurrent=max_concurrent,
            isolation=isolation,
        )

    return decorate


def _check_signature(function: Any, what: str) -> None:
    if not callable(function):
        raise TypeError(f"{what} must be a function of one OperatorContext")
    if inspect.iscoroutinefunction(function):
        raise TypeError(f"{what} must be a plain function, not async def (run blocking work in it directly)")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what}: cannot read its signature ({exc})") from exc
    try:
        signature.bind(object())
    except TypeError as exc:
        raise TypeError(f"{what} must take exactly one argument, the OperatorContext ({exc})") from exc
