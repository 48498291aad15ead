"""The JSON text form of stored documents, shared by every store and by the layers above that keep documents as
text (the engine caches parsed documents by their stored text)."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    """JSON text for a stored document (compact; keeps non-ASCII as is)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> Any:
    """Parse stored JSON text (``None`` stays ``None``)."""
    return None if text is None else json.loads(text)
