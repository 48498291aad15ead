"""Offline translation operators: ``Translate`` and ``TranslateWebCaptions`` (Apertium).

See ``docs/operators-library/translate.md``. Installed language pairs: :func:`installed_pairs`.
"""

from __future__ import annotations

from mie.library.translate.apertium import INSTALL_HINT, Pair, find_pair, installed_pairs
from mie.library.translate.operators import ALL, translate, translate_webcaptions
from mie.operators import OperatorRegistry

__all__ = ["INSTALL_HINT", "Pair", "find_pair", "installed_pairs", "register", "translate", "translate_webcaptions"]


def register(registry: OperatorRegistry) -> None:
    """Register ``Translate`` and ``TranslateWebCaptions`` (the ``mie.operators`` entry point)."""
    for definition in ALL:
        registry.register(definition)
