"""Resolve an operation's ``StartLambdaArn``/``MonitorLambdaArn`` to a Python callable.

Accepted forms:

* the name of a registered operator handler (built-ins such as ``VideoSyncOKLambda``, and handlers that
  plugins register through the ``mie.operators`` entry-point group);
* ``python:package.module:function`` — a Lambda-style ``handler(event, context)``;
* an AWS Lambda ARN whose function name ends with a registered name (``...:function:stack-VideoSyncOKLambda``);
* ``http(s)://...`` — an HTTP operator: the event is POSTed as JSON, the response is the output object.

Native operators (:func:`mie.operators.operator`) register their definition: its name is their ``StartLambdaArn``,
``<name>.monitor`` their ``MonitorLambdaArn``.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal

from mie.errors import OperatorError, describe
from mie.operators.definition import MONITOR_SUFFIX, OperatorDefinition
from mie.operators.outbound import STRICT, OutboundPolicy
from mie.types import JSONDict

log = logging.getLogger(__name__)

#: A Lambda-style operator handler: ``handler(event, context) -> output object``.
Handler = Callable[[JSONDict, Any], Any]

ENTRY_POINT_GROUP = "mie.operators"


class LambdaContext:
    """The parts of AWS Lambda's context object operator code reads."""

    def __init__(self, function_name: str, timeout_seconds: float = 900.0) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:mie:lambda:local:function:{function_name}"
        self.memory_limit_in_mb = 0
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/mie/{function_name}"
        self.log_stream_name = self.aws_request_id
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the operator's time limit."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Target:
    """What an ARN resolves to: a Lambda-style handler, a native operator's start or monitor, or a URL."""

    kind: Literal["lambda", "native", "http"]
    arn: str
    handler: Handler | None = None
    definition: OperatorDefinition | None = None
    monitor: bool = False
    #: Where an HTTP target may connect (``MIE_OUTBOUND_ALLOW``).
    outbound: OutboundPolicy = STRICT


class OperatorRegistry:
    """Named handlers and native definitions, plus on-demand import of ``python:`` handlers (cached)."""

    def __init__(self, *, outbound: OutboundPolicy = STRICT) -> None:
        #: Where HTTP operators may connect (loopback, link-local and private addresses need ``MIE_OUTBOUND_ALLOW``).
        self.outbound = outbound
        self._handlers: dict[str, Handler] = {}
        self._definitions: dict[str, OperatorDefinition] = {}
        self._sources: dict[str, str] = {}
        self._lock = threading.Lock()
        self._loading: str | None = None

    def register(self, name_or_definition: str | OperatorDefinition, handler: Handler | None = None) -> None:
        """Register a native operator definition, or make the Lambda-style ``handler`` callable as
        ``StartLambdaArn``/``MonitorLambdaArn`` ``name``."""
        if isinstance(name_or_definition, OperatorDefinition):
            definition = name_or_definition
            with self._lock:
                self._definitions[definition.name] = definition
                self._sources[definition.name] = self._loading or "python"
            return
        name = name_or_definition
        if not callable(handler):
            raise TypeError(f"operator handler {name!r} is not callable")
        with self._lock:
            self._handlers[name] = handler
            self._sources.setdefault(name, self._loading or "python")

    def names(self) -> list[str]:
        """Registered handler and operator names."""
        with self._lock:
            return sorted({*self._handlers, *self._definitions})

    def definitions(self) -> list[OperatorDefinition]:
        """Registered native operators, by name."""
        with self._lock:
            return [self._definitions[name] for name in sorted(self._definitions)]

    def definition(self, name: str) -> OperatorDefinition | None:
        """The native operator called ``name``, if one is registered."""
        with self._lock:
            return self._definitions.get(name)

    def source(self, name: str) -> str | None:
        """The entry point (plugin) that registered ``name``."""
        with self._lock:
            return self._sources.get(name)

    def load_entry_points(self, extra: str = "") -> list[str]:
        """Call every ``mie.operators`` entry point with this registry, then each ``module:function`` of the
        comma-separated ``extra`` (settings ``plugins``); returns the names that failed."""
        failed: list[str] = []
        loaders: list[tuple[str, Callable[[], Any]]] = [
            (ep.name, ep.load) for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        ]
        for spec in filter(None, (part.strip() for part in extra.split(","))):
            loaders.append((spec, functools.partial(_import_attribute, spec)))
        for name, load in loaders:
            try:
                register = load()
                self._loading = name
                try:
                    register(self)
                finally:
                    self._loading = None
            except Exception:  # a broken plugin must not stop the server
                log.exception("operator plugin %s failed to load", name)
                failed.append(name)
        return failed

    def resolve(self, arn: str) -> Target:
        """What an ARN string names, or an ``OperatorError`` saying why nothing does."""
        with self._lock:
            handler = self._handlers.get(arn)
            if handler is not None:
                return Target("lambda", arn, handler=handler)
            native = self._native(arn)
            if native is not None:
                return native
        if arn.startswith("python:"):
            handler = _import_handler(arn)
            with self._lock:
                self._handlers[arn] = handler
            return Target("lambda", arn, handler=handler)
        if arn.startswith(("http://", "https://")):
            return Target("http", arn, outbound=self.outbound)
        if arn.startswith("arn:"):
            function = arn.rsplit(":", 1)[-1]
            with self._lock:
                for name, candidate in self._handlers.items():
                    if function == name or function.endswith("-" + name):
                        return Target("lambda", arn, handler=candidate)
        raise OperatorError(f"no operator handler named {arn!r}: register it, or use 'python:package.module:function'")

    def _native(self, arn: str) -> Target | None:
        monitor = arn.endswith(MONITOR_SUFFIX)
        definition = self._definitions.get(arn[: -len(MONITOR_SUFFIX)] if monitor else arn)
        if definition is None or (monitor and definition.monitor_function is None):
            return None
        return Target("native", arn, definition=definition, monitor=monitor)


def _import_attribute(spec: str) -> Any:
    """``package.module:function`` -> the function."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"plugin {spec!r} must look like 'package.module:function'")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def _import_handler(arn: str) -> Handler:
    spec = arn[len("python:") :]
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise OperatorError(f"{arn!r} must look like 'python:package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise OperatorError(f"cannot import operator module {module_name!r}: {describe(exc)}") from exc
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise OperatorError(f"module {module_name!r} has no attribute {attr!r}")
    if not callable(target):
        raise OperatorError(f"{arn!r} is not callable")
    handler: Handler = target
    return handler
