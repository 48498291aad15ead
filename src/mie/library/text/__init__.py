"""Language analysis operators that replace Amazon Comprehend offline.

* ``ComprehendEntities`` — named entities (spaCy ``en_core_web_sm``), stored as MIE stores them (``entities``);
* ``ComprehendKeyPhrases`` — key phrases (spaCy noun chunks scored by YAKE), stored as ``key_phrases``;
* ``DetectSentiment`` — sentiment of the text and of each sentence (VADER);
* ``DetectDominantLanguage`` — languages of the text (langdetect);
* ``Topics`` — what the asset is about: its entities and key phrases ranked (run after the two Comprehend ones).

They read the transcript the way MIE's Comprehend operators do (``Input.Media.Text``, following a transcribe
result's ``TextTranscriptUri``), or a plain ``Text`` object. Their third-party packages come with the ``nlp`` extra
(``pip install 'media-insights-engine[nlp]'``) and are imported only when an operator runs. See
docs/operators-library/text.md.
"""

from __future__ import annotations

from mie.library.text.entities import comprehend_entities
from mie.library.text.language import detect_dominant_language
from mie.library.text.phrases import comprehend_key_phrases
from mie.library.text.sentiment import detect_sentiment
from mie.library.text.topics import topics
from mie.operators import OperatorDefinition, OperatorRegistry

OPERATORS: tuple[OperatorDefinition, ...] = (
    comprehend_entities,
    comprehend_key_phrases,
    detect_sentiment,
    detect_dominant_language,
    topics,
)


def register(registry: OperatorRegistry) -> None:
    """Register every language operator (the ``mie.operators`` entry point calls this)."""
    for definition in OPERATORS:
        registry.register(definition)
