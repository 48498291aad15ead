"""``ComprehendKeyPhrases``: key phrases of the transcript in Amazon Comprehend's shape (spaCy + YAKE).

Like Comprehend, a key phrase is a noun phrase, listed once per occurrence with its character offsets: spaCy's
noun chunks (``the European Commission``, ``a new data center``). Chunks that are only pronouns or determiners
(``it``, ``we``) are left out.

**Score.** YAKE (``yake``, LGPLv3) rates every candidate n-gram of up to 3 words in the text; its score is
unbounded and *lower is better*. A noun phrase takes YAKE's score of its core (the phrase without leading
determiners and pronouns: ``European Commission``); when YAKE did not rate the core (longer than 3 words, or
starting with a stop word), the geometric mean of its words' scores. Comprehend's ``Score`` is in 0..1 with
*higher is better*, so we report ``1 / (1 + s / m)`` where ``s`` is that YAKE score and ``m`` the median YAKE score
of the candidates in the same text: 0.5 for a phrase of median importance, towards 1 for the most important.
Long texts are rated per chunk (``ChunkCharacters``), so ``m`` is the median of that chunk.

The result is stored as MIE's Comprehend monitor stores it: under ``key_phrases``, as
``{"LanguageCode": "en", "Results": ["{\\"KeyPhrases\\": [...], \\"File\\": ...}"]}`` (pages past ``PageSize``).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from mie.library.text import models
from mie.library.text.source import DEFAULT_CHUNK, DEFAULT_PAGE, comprehend_items
from mie.operators import OperatorContext, operator
from mie.types import JSONDict

#: Data-plane name MIE's ComprehendKeyPhrases monitor stores its result under.
RESULT_NAME = "key_phrases"
#: Longest n-gram YAKE rates.
YAKE_NGRAM = 3
_LEADING_POS = {"DET", "PRON", "PUNCT", "SPACE"}


@operator(
    "ComprehendKeyPhrases",
    media_type="Text",
    description="Key phrases (noun phrases with offsets and a 0-1 score) in Amazon Comprehend's DetectKeyPhrases "
    "shape, found offline by spaCy noun chunks and scored by YAKE.",
    configuration={"LanguageCode": "en", "ChunkCharacters": DEFAULT_CHUNK, "PageSize": DEFAULT_PAGE},
    isolation="process",
)
def comprehend_key_phrases(ctx: OperatorContext) -> None:
    """Find the key phrases of the transcript (``Input.Media.Text`` or ``TextTranscriptUri``)."""

    def analyse(chunk: str) -> list[JSONDict]:
        nlp, lock = models.phrase_pipeline()  # loaded once per process, and only when there is text
        yake, _ = models.yake_module()
        with lock:
            doc = nlp(chunk)
        return key_phrases(doc, yake_scores(yake, chunk))

    comprehend_items(ctx, list_key="KeyPhrases", result_name=RESULT_NAME, what="key phrases", analyse=analyse)


def yake_scores(yake: Any, text: str) -> dict[str, float]:
    """YAKE's score (lower is better) of every candidate of up to :data:`YAKE_NGRAM` words, by lower-case text."""
    # dedup_lim=1.0 turns deduplication off: we want every candidate (and dedup is quadratic in their number).
    extractor = yake.KeywordExtractor(lan="en", n=YAKE_NGRAM, dedup_lim=1.0, top=1 << 30)
    return {str(kw).lower(): float(score) for kw, score in extractor.extract_keywords(text)}


def key_phrases(doc: Any, scores: dict[str, float]) -> list[JSONDict]:
    """Comprehend key phrases of a parsed ``doc`` (offsets relative to it), scored with YAKE ``scores``."""
    if not scores:
        return []
    median = statistics.median(scores.values()) or min(scores.values()) or 1.0
    phrases: list[JSONDict] = []
    for chunk in doc.noun_chunks:
        tokens = list(chunk)
        while tokens and tokens[0].pos_ in _LEADING_POS:
            tokens.pop(0)
        words = [t.text.lower() for t in tokens if not t.is_punct and not t.is_space]
        if not words:
            continue
        raw = _yake_score(words, scores)
        if raw is None:
            continue
        text = chunk.text  # (not doc.text: that joins the whole document again on every call)
        stripped = text.strip()
        begin = chunk.start_char + (len(text) - len(text.lstrip()))
        phrases.append(
            {
                "BeginOffset": begin,
                "EndOffset": begin + len(stripped),
                "Score": round(1.0 / (1.0 + raw / median), 6),
                "Text": stripped,
            }
        )
    return phrases


def _yake_score(words: list[str], scores: dict[str, float]) -> float | None:
    whole = scores.get(" ".join(words))
    if whole is not None:
        return whole
    singles = [scores[w] for w in words if w in scores]
    if not singles:
        return None  # only stop words or numbers: YAKE does not consider it a keyword at all
    return math.exp(sum(math.log(max(s, 1e-12)) for s in singles) / len(singles))
