"""Custom vocabularies as the ``Transcribe*`` operators read them.

``/api/service/transcribe/create_vocabulary`` validates a vocabulary table and stores it as one JSON record in the
data-plane bucket under :func:`vocabulary_key`; the format, the rules and the reading live in
:mod:`mie.resources.vocabularies`, which the API uses too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mie.resources.vocabularies import VOCABULARY_PREFIX, load_entries, vocabulary_key

if TYPE_CHECKING:
    from mie.operators import OperatorContext

__all__ = ["VOCABULARY_PREFIX", "load_vocabulary", "vocabulary_key"]


def load_vocabulary(ctx: OperatorContext, name: str) -> list[dict[str, Any]]:
    """The entries of vocabulary ``name``; an operator error when it does not exist."""
    dataplane = ctx.dataplane
    return load_entries(lambda key: dataplane.read_object(dataplane.default_bucket, key), name)
