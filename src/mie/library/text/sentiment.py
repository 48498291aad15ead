"""``DetectSentiment`` (our addition; MIE has no sentiment operator): Comprehend's DetectSentiment shape for the
whole transcript and for each sentence, computed offline by VADER.

Sentences come from spaCy's rule-based sentencizer (no model). For each sentence VADER gives a ``compound`` score
``c`` in -1..1 and the shares ``p``/``n`` of positive and negative wording. We turn them into Comprehend's four
scores (then normalised to sum to 1):

* ``Positive = max(c, 0)``, ``Negative = max(-c, 0)``;
* ``Mixed = 2 * min(p, n)``: wording of both kinds ("the food was great but the service was awful");
* ``Neutral = (1 - |c|) * (1 - p - n)``: weak compound and little opinionated wording.

``Sentiment`` is the largest of them (POSITIVE, NEGATIVE, NEUTRAL or MIXED), so a sentence is positive or
negative only when its compound outweighs its neutral wording (about ``|c| > 0.4`` for a typical sentence):
stricter than VADER's usual ±0.05, and closer to Comprehend, which calls most factual sentences NEUTRAL.
These are a transform of VADER's lexicon scores, not a trained classifier's probabilities.

The whole text's scores are the sentences' scores averaged by sentence length, with ``2 * min(Positive,
Negative)`` of that average added to ``Mixed`` (a text with clearly positive and clearly negative sentences is
MIXED), normalised again. A text without words has ``Sentiment`` and ``SentimentScore`` null.

Two results, so that the one in Comprehend's shape holds nothing a strict client would reject:

* ``DetectSentiment``: the whole text, exactly Comprehend's ``DetectSentiment`` response ``{"Sentiment",
  "SentimentScore"}`` (both null for a text without words);
* ``DetectSentimentSentences`` (Comprehend has no call that returns sentences with offsets, so this one is ours):
  ``{"LanguageCode", "Sentences": [{"Text", "BeginOffset", "EndOffset", "Sentiment", "SentimentScore"}]}``, each
  sentence's ``Sentiment``/``SentimentScore`` in Comprehend's shape; past ``PageSize`` sentences, as pages.
"""

from __future__ import annotations

from typing import Any

from mie.library.text import models
from mie.library.text.source import (
    DEFAULT_CHUNK,
    DEFAULT_PAGE,
    ItemSpool,
    TextInput,
    english_only,
    find_text,
    positive_int,
)
from mie.operators import OperatorContext, operator

#: Data-plane name of the whole text's result (Comprehend's DetectSentiment shape).
RESULT_NAME = "DetectSentiment"
#: Data-plane name of the per-sentence result (our own shape).
SENTENCES_NAME = "DetectSentimentSentences"
LABELS = {"Positive": "POSITIVE", "Negative": "NEGATIVE", "Neutral": "NEUTRAL", "Mixed": "MIXED"}
#: Order used to break exact ties: the least assertive label wins.
_TIE_ORDER = ("Neutral", "Mixed", "Positive", "Negative")


@operator(
    "DetectSentiment",
    media_type="Text",
    description="Sentiment (POSITIVE/NEGATIVE/NEUTRAL/MIXED with scores) of the whole text in Amazon Comprehend's "
    "DetectSentiment shape, and of each sentence (DetectSentimentSentences), computed offline by VADER.",
    configuration={"LanguageCode": "en", "ChunkCharacters": DEFAULT_CHUNK, "PageSize": DEFAULT_PAGE},
)
def detect_sentiment(ctx: OperatorContext) -> None:
    """Score the sentiment of the transcript (``Input.Media.Text`` or ``TextTranscriptUri``)."""
    language = english_only(ctx)
    chunk_size = positive_int(ctx, "ChunkCharacters", DEFAULT_CHUNK)
    page_size = positive_int(ctx, "PageSize", DEFAULT_PAGE)
    source = find_text(ctx)
    with ItemSpool(ctx, "sentences") as spool:
        totals, weight = _score_sentences(ctx, source, chunk_size, spool) if source is not None else ({}, 0)
        overall = document_scores(totals, weight)
        ctx.save_results(
            {"Sentiment": label(overall) if overall is not None else None, "SentimentScore": overall},
            operator_name=RESULT_NAME,
        )
        spool.store(ctx, SENTENCES_NAME, page_size, lambda batch: {"LanguageCode": language, "Sentences": batch})


def _score_sentences(
    ctx: OperatorContext, source: TextInput, chunk_size: int, spool: ItemSpool
) -> tuple[dict[str, float], int]:
    """Spool every sentence's result; return the length-weighted sums of their scores and the total length."""
    splitter, split_lock = models.sentencizer()
    analyser, vader_lock = models.vader()
    totals = dict.fromkeys(LABELS, 0.0)
    weight = 0
    for offset, chunk in source.chunks(chunk_size):
        ctx.check_cancelled()
        if not chunk.strip():
            continue
        with split_lock:
            doc = splitter(chunk)
        for sentence in doc.sents:
            text = sentence.text.strip()
            if not text:
                continue
            begin = offset + sentence.start_char + sentence.text.index(text)
            with vader_lock:
                scores = sentence_scores(analyser.polarity_scores(text))
            spool.add(
                {
                    "Text": text,
                    "BeginOffset": begin,
                    "EndOffset": begin + len(text),
                    "Sentiment": label(scores),
                    "SentimentScore": scores,
                }
            )
            for key in totals:
                totals[key] += scores[key] * len(text)
            weight += len(text)
        ctx.progress(None, f"{spool.count} sentences")
    return totals, weight


def sentence_scores(polarity: dict[str, Any]) -> dict[str, float]:
    """Comprehend's four scores for one sentence from VADER's ``polarity_scores`` (see the module docstring)."""
    compound = float(polarity.get("compound", 0.0))
    pos = float(polarity.get("pos", 0.0))
    neg = float(polarity.get("neg", 0.0))
    raw = {
        "Positive": compound if compound > 0 else 0.0,
        "Negative": -compound if compound < 0 else 0.0,
        "Neutral": (1.0 - abs(compound)) * max(0.0, 1.0 - pos - neg),
        "Mixed": 2.0 * min(pos, neg),
    }
    return _normalised(raw)


def document_scores(totals: dict[str, float], weight: int) -> dict[str, float] | None:
    """The whole text's scores from length-weighted sentence score sums (None when there was no text)."""
    if weight <= 0:
        return None
    mean = {key: value / weight for key, value in totals.items()}
    mean["Mixed"] += 2.0 * min(mean["Positive"], mean["Negative"])
    return _normalised(mean)


def label(scores: dict[str, float]) -> str:
    """The Comprehend label of the largest score."""
    best = max(_TIE_ORDER, key=lambda key: (scores[key], -_TIE_ORDER.index(key)))
    return LABELS[best]


def _normalised(raw: dict[str, float]) -> dict[str, float]:
    total = sum(raw.values())
    if total <= 0:
        return {"Positive": 0.0, "Negative": 0.0, "Neutral": 1.0, "Mixed": 0.0}
    return {key: round(value / total, 6) for key, value in raw.items()}
