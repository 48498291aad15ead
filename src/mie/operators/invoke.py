"""Calling an operator of any kind — native, Lambda-style or HTTP — with an MIE event, for one output object.

The engine (threads or worker processes) and :mod:`mie.testing` both call :func:`invoke`, so an operator behaves
the same under test as in production.
"""

from __future__ import annotations

import contextvars
import copy
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from mie.errors import OperatorError, OperatorTimeoutError, describe
from mie.operators.context import OperatorContext, Runtime
from mie.operators.definition import EXECUTING
from mie.operators.outbound import STRICT, OutboundPolicy, OutboundRefusedError
from mie.operators.registry import LambdaContext, Target
from mie.types import JSONDict

#: Seconds an HTTP operator may take when its operation sets no ``TimeoutSeconds``.
DEFAULT_HTTP_TIMEOUT = 300.0

_runtime: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar("mie_operator_runtime", default=None)


def current_runtime() -> Runtime | None:
    """The runtime of the operator call running in this thread (what MIE-style helpers talk to), if any."""
    return _runtime.get()


@contextmanager
def runtime_scope(runtime: Runtime) -> Iterator[Runtime]:
    """Make ``runtime`` the current one for the duration of a call."""
    token = _runtime.set(runtime)
    try:
        yield runtime
    finally:
        _runtime.reset(token)


def invoke(target: Target, event: JSONDict, runtime: Runtime, *, timeout: float | None = None) -> JSONDict:
    """Run ``target`` on a copy of ``event``; return its output object (exceptions are the caller's to map)."""
    event = copy.deepcopy(event)
    with runtime_scope(runtime):
        if target.kind == "native":
            return _invoke_native(target, event, runtime)
        if target.kind == "http":
            return _invoke_http(
                target.arn, event, timeout or DEFAULT_HTTP_TIMEOUT, deadline=runtime.deadline, outbound=target.outbound
            )
        assert target.handler is not None
        result = target.handler(event, LambdaContext(str(event.get("Name", target.arn)), timeout or 900.0))
    return _check_output(result)


def _invoke_native(target: Target, event: JSONDict, runtime: Runtime) -> JSONDict:
    definition = target.definition
    assert definition is not None
    function = definition.monitor_function if target.monitor else definition.function
    assert function is not None
    ctx = OperatorContext(event, runtime, defaults=definition.configuration)
    try:
        returned = function(ctx)
        if returned is EXECUTING:
            if definition.monitor_function is None:
                raise OperatorError(f"{definition.name} returned EXECUTING but has no monitor to call later")
            return ctx.output("Executing")
        if not target.monitor and definition.monitor_function is not None:
            # The start of a start/monitor pair: the engine calls the monitor next, whatever the start returned.
            _merge(ctx, returned)
            return ctx.output("Executing")
        _merge(ctx, returned)
        return ctx.output("Complete")
    finally:
        ctx.close()


def _merge(ctx: OperatorContext, returned: Any) -> None:
    if returned is None:
        return
    if not isinstance(returned, Mapping):
        raise OperatorError(
            f"{ctx.name} returned {type(returned).__name__}; an operator returns None, a dict of output MetaData, "
            "or EXECUTING"
        )
    for key, value in returned.items():
        ctx.metadata[str(key)] = value


def _check_output(result: Any) -> JSONDict:
    if not isinstance(result, dict) or not isinstance(result.get("Status"), str):
        raise OperatorError(f"the operator returned {type(result).__name__}, not an output object with a Status")
    return result


def _invoke_http(
    url: str, event: JSONDict, timeout: float, *, deadline: float | None = None, outbound: OutboundPolicy = STRICT
) -> JSONDict:
    try:
        pinned = outbound.pin(url)
    except OutboundRefusedError as exc:
        raise OperatorError(f"HTTP operator refused: {exc}") from exc
    started = time.monotonic()
    wait = timeout
    if deadline is not None:
        # Give up a little before the engine's own deadline for the task, so the failure is this one, which names
        # the URL, rather than the engine's generic "ran longer than its time limit".
        # The margin is generous because a loaded machine delays both clocks' reactions.
        wait = max(0.05, min(timeout, deadline - started - min(1.0, 0.3 * timeout)))
    try:
        # Sent to the address that was checked (pinned), not to whatever the name resolves to a moment later.
        with httpx.Client(timeout=httpx.Timeout(wait, connect=min(10.0, wait))) as client:
            response = client.post(
                pinned.url,
                json=event,
                headers={"User-Agent": "mie-engine", "X-MIE-Operator": str(event.get("Name", "")), **pinned.headers},
                extensions=pinned.extensions,
            )
    except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise OperatorError(
            f"HTTP operator {url} could not be reached within {min(10.0, wait):g} s ({type(exc).__name__})",
            retryable=True,
        ) from exc
    except httpx.TimeoutException as exc:
        # Running out of the operation's time is not retried, as for every other kind of operator.
        raise OperatorTimeoutError(
            f"HTTP operator {url} did not answer within the operation's time limit of {timeout:g} s "
            f"({type(exc).__name__})"
        ) from exc
    except httpx.HTTPError as exc:
        raise OperatorError(f"HTTP operator {url} could not be reached: {describe(exc)}", retryable=True) from exc
    elapsed = time.monotonic() - started
    body = response.text
    if response.status_code >= 400:
        raise OperatorError(
            f"HTTP operator {url} answered {response.status_code} after {elapsed:.1f} s: {_excerpt(body)}",
            retryable=response.status_code >= 500 or response.status_code == 429,
        )
    try:
        output = json.loads(body)
    except ValueError as exc:
        raise OperatorError(f"HTTP operator {url} answered with something that is not JSON: {_excerpt(body)}") from exc
    if not isinstance(output, dict) or not isinstance(output.get("Status"), str):
        raise OperatorError(
            f"HTTP operator {url} answered JSON that is not an MIE output object with a Status: {_excerpt(body)}"
        )
    return output


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
