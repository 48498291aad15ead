"""Custom vocabularies as the operators read them.

``/api/service/transcribe/create_vocabulary`` validates a vocabulary table and stores it as one JSON object in the
data-plane bucket under :func:`vocabulary_key` (the API module writes the same layout)::

    {"VocabularyName": "Products", "LanguageCode": "en-US", "VocabularyState": "READY",
     "LastModifiedTime": "2026-11-22T10:00:00+00:00", "Source": "s3://dataplane/vocab/products.tsv",
     "Entries": [{"Phrase": "Los-Angeles", "IPA": "", "SoundsLike": "", "DisplayAs": "Los Angeles"}, ...]}
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mie.errors import NotFoundError, OperatorError

if TYPE_CHECKING:
    from mie.operators import OperatorContext

#: Where vocabularies live in the data-plane bucket (also written by ``mie.api.transcribe``).
VOCABULARY_PREFIX = "service/transcribe/vocabularies/"


def vocabulary_key(name: str) -> str:
    """The object key of the vocabulary called ``name``."""
    return f"{VOCABULARY_PREFIX}{name}.json"


def load_vocabulary(ctx: OperatorContext, name: str) -> list[dict[str, Any]]:
    """The entries of vocabulary ``name``; an operator error when it does not exist."""
    if not isinstance(name, str) or not name or "/" in name:
        raise OperatorError(f"VocabularyName {name!r} is not a valid vocabulary name")
    dataplane = ctx.dataplane
    try:
        raw = dataplane.read_object(dataplane.default_bucket, vocabulary_key(name))
    except NotFoundError as exc:
        raise OperatorError(
            f"custom vocabulary {name!r} does not exist: create it with POST /api/service/transcribe/create_vocabulary"
        ) from exc
    try:
        record = json.loads(raw)
        entries = record["Entries"]
    except (ValueError, KeyError, TypeError) as exc:
        raise OperatorError(f"custom vocabulary {name!r} is damaged: {exc}") from exc
    if record.get("VocabularyState", "READY") != "READY":
        raise OperatorError(f"custom vocabulary {name!r} is {record.get('VocabularyState')}, not READY")
    return [entry for entry in entries if isinstance(entry, dict)]
