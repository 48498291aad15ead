"""MIE's opaque metadata cursors: what ``GET /metadata/{asset}`` hands out and takes back."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from mie.errors import InvalidError


def encode_cursor(state: dict[str, Any]) -> str:
    """MIE's opaque cursor: urlsafe base64 of a JSON state."""
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    """Decode a cursor of either base64 alphabet (MIE encodes urlsafe and decodes standard)."""
    try:
        raw = cursor.strip().replace("-", "+").replace("_", "/")
        state = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True))
        nxt = state["next"]
        if not isinstance(nxt, dict) or not isinstance(state.get("remaining", []), list):
            raise TypeError
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidError("the cursor is not one this data plane issued") from exc
    return dict(state)


def cursor_target(state: dict[str, Any]) -> tuple[str, str, int]:
    """``(operator, pointer, page)`` of a decoded cursor's ``next``; 400 unless each has the type this API issues."""
    nxt = dict(state["next"])
    page = nxt.pop("page", 0)
    if len(nxt) != 1 or type(page) is not int or page < 0:
        raise InvalidError("the cursor is not one this data plane issued")
    ((operator, pointer),) = nxt.items()
    if not isinstance(pointer, str):
        raise InvalidError("the cursor is not one this data plane issued")
    return operator, pointer, page
