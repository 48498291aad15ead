"""Strict parsing of request input: JSON bodies the standard parser half-accepts, and integer page tokens.

``json.loads`` accepts documents that break later, far from the request: nesting deep enough to raise
``RecursionError`` (in the parser or in any code that walks the value), integers longer than Python's 4,300-digit
conversion limit (``ValueError``), ``NaN``/``Infinity`` (not JSON, and re-serialised as invalid JSON), and ``\\ud800``
escapes that decode to lone UTF-16 surrogates, which no UTF-8 encoder (SQLite binds, file names, the URL signer)
can encode. Every body goes through :func:`parse_json`, so each of those is a 400 at the door.
"""

from __future__ import annotations

import json
import math
from typing import Any

from mie.errors import InvalidError

#: Deepest nesting of arrays and objects accepted in a body. MIE's bodies (workflows, stages, operator results)
#: nest a dozen levels; the limit leaves room while keeping every later recursive walk far from Python's limit.
MAX_DEPTH = 100
#: Longest integer literal accepted (digits); 64-bit values need 20.
MAX_INT_DIGITS = 100
#: Largest value of an integer page token or sequence number (SQLite's signed 64-bit integers).
MAX_SEQ = 2**63 - 1


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise InvalidError(f"the request body has an integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidError(f"the request body has a number out of range: {text[:40]}")
    return value


def _refuse_constant(name: str) -> Any:
    raise InvalidError(f"the request body is not valid JSON: {name} is not a JSON value")


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone UTF-16 surrogate (which cannot be encoded as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_value(value: Any, what: str = "the request body") -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and strings (values or keys) with lone surrogates.

    Iterative, so that the check itself cannot overflow the stack.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if has_surrogate(item):
                raise InvalidError(f"{what} has a string with a lone UTF-16 surrogate (not valid Unicode)")
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise InvalidError(f"{what} is nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                stack.extend((k, depth) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def parse_json(raw: bytes) -> Any:
    """Parse a request body strictly (see the module's docstring); 400 with the reason otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidError(f"the request body is not valid JSON: it is not UTF-8 ({exc})") from exc
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise InvalidError(f"the request body is nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:  # JSONDecodeError, and any conversion error
        raise InvalidError(f"the request body is not valid JSON: {exc}") from exc
    check_value(value)
    return value


def seq_token(text: str, what: str = "next") -> int:
    """A non-negative integer token (ASCII digits only, at most :data:`MAX_SEQ`); 400 otherwise.

    ``str.isdigit`` is not enough: it accepts ``"²"`` and other digits ``int`` refuses or reads differently.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_SEQ:
        raise InvalidError(f"{what} is not a token this API issued")
    return int(text)
