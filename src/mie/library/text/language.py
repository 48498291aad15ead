"""``DetectDominantLanguage`` (our addition): the languages of the transcript in Amazon Comprehend's
DetectDominantLanguage shape, detected offline by langdetect (55 languages, profiles in the wheel).

langdetect draws n-grams at random; our detector factory is seeded, so the same text always gets the same answer.
It reads at most 10,000 characters per call, so a long text is cut into chunks of that size and up to
:data:`SAMPLES` of them, spread over the whole text (reservoir sampling with a fixed seed, so memory stays flat),
are detected; a language's ``Score`` is its probability averaged over those chunks, weighted by their length.
Languages under 0.01 are left out. Codes are ISO 639-1 as Comprehend's (``zh``, ``zh-TW`` for langdetect's
``zh-cn``/``zh-tw``).

Stored under ``DetectDominantLanguage`` as ``{"Languages": [{"LanguageCode", "Score"}]}``, best first (empty for
a text without words); the best code is also returned in the output ``MetaData`` as ``DominantLanguageCode``.
"""

from __future__ import annotations

import importlib
import random
from typing import Any

from mie.library.text import models
from mie.library.text.source import find_text
from mie.operators import OperatorContext, operator
from mie.types import JSONDict

#: Characters langdetect reads per call (its ``max_text_length``).
WINDOW = 10_000
#: Most chunks of a long text that are detected.
SAMPLES = 8
MIN_SCORE = 0.01
_CODES = {"zh-cn": "zh", "zh-tw": "zh-TW"}


@operator(
    "DetectDominantLanguage",
    media_type="Text",
    description="Languages of the text with scores, in Amazon Comprehend's DetectDominantLanguage shape, "
    "detected offline by langdetect.",
)
def detect_dominant_language(ctx: OperatorContext) -> JSONDict:
    """Detect the language(s) of the transcript (``Input.Media.Text`` or ``TextTranscriptUri``)."""
    source = find_text(ctx)
    languages: list[JSONDict] = []
    if source is not None:
        factory, lock = models.langdetect_factory()
        sample: list[str] = []
        chooser = random.Random(0)
        for seen, (_, chunk) in enumerate(source.chunks(WINDOW)):
            ctx.check_cancelled()
            if not chunk.strip():
                continue
            if len(sample) < SAMPLES:
                sample.append(chunk)
            else:
                slot = chooser.randint(0, seen)
                if slot < SAMPLES:
                    sample[slot] = chunk
        with lock:
            languages = detect(factory, sample)
    ctx.save_results({"Languages": languages})
    return {"DominantLanguageCode": languages[0]["LanguageCode"]} if languages else {}


def detect(factory: Any, chunks: list[str]) -> list[JSONDict]:
    """Comprehend ``Languages`` for ``chunks`` of one text (see the module docstring)."""
    no_features = importlib.import_module("langdetect.lang_detect_exception").LangDetectException

    totals: dict[str, float] = {}
    weight = 0
    for chunk in chunks:
        detector = factory.create()
        detector.append(chunk)
        try:
            found = detector.get_probabilities()
        except no_features:  # "No features in text": digits, punctuation or symbols only
            continue
        size = len(chunk.strip())
        weight += size
        for language in found:
            code = _CODES.get(language.lang, language.lang)
            totals[code] = totals.get(code, 0.0) + language.prob * size
    if weight == 0:
        return []
    ranked = sorted(((prob / weight, code) for code, prob in totals.items()), reverse=True)
    return [{"LanguageCode": code, "Score": round(score, 6)} for score, code in ranked if score >= MIN_SCORE]
