"""``ComprehendEntities``: named entities in the transcript, in Amazon Comprehend's shape, found by spaCy.

spaCy's ``en_core_web_sm`` labels (OntoNotes) map onto Comprehend's entity types (:data:`COMPREHEND_TYPES`), then
context rules correct the types of shows and businesses the small model calls PERSON (mie.library.text.entity_rules).

**Score.** spaCy's small model is a greedy transition-based recogniser: it reports no probability per entity. We
run the same greedy decoding ourselves, step by step, and keep the softmax probability (over the moves valid in
that state) of each move it takes. An entity's ``Score`` is the product of the probabilities of the moves that
built it (``B-ORG I-ORG L-ORG`` or ``U-GPE``): the model's own probability of that span and label given the text
before it. The entities are exactly those of ``nlp(text).ents``. Confident entities score above 0.99, ambiguous
ones lower (in "Jordan went to Jordan", the person scores 0.58 and the country 0.98).

The result is stored as MIE's Comprehend monitor stores it: under the data-plane name ``entities``, as
``{"LanguageCode": "en", "Results": ["<one line of Comprehend's batch output>"]}`` where the line is the JSON text
``{"Entities": [...], "File": "transcript.txt"}``, so MIE's consumers (``json.loads(Results[0])["Entities"]``)
read it unchanged. Past ``PageSize`` entities the result is stored as pages of that same shape.
"""

from __future__ import annotations

import math
from typing import Any

from mie.library.text import models
from mie.library.text.entity_rules import refine
from mie.library.text.source import DEFAULT_CHUNK, DEFAULT_PAGE, comprehend_items
from mie.operators import OperatorContext, operator
from mie.types import JSONDict

#: Data-plane name MIE's ComprehendEntities monitor stores its result under.
RESULT_NAME = "entities"

#: spaCy (OntoNotes) label -> Amazon Comprehend entity type.
COMPREHEND_TYPES: dict[str, str] = {
    "PERSON": "PERSON",
    "NORP": "OTHER",  # nationalities, religious and political groups
    "FAC": "LOCATION",  # buildings, airports, highways, bridges
    "ORG": "ORGANIZATION",
    "GPE": "LOCATION",  # countries, cities, states
    "LOC": "LOCATION",  # mountain ranges, bodies of water
    "PRODUCT": "COMMERCIAL_ITEM",
    "EVENT": "EVENT",
    "WORK_OF_ART": "TITLE",
    "LAW": "OTHER",
    "LANGUAGE": "OTHER",
    "DATE": "DATE",
    "TIME": "DATE",  # Comprehend's DATE covers times of day ("8:30 a.m.")
    "PERCENT": "QUANTITY",
    "MONEY": "QUANTITY",
    "QUANTITY": "QUANTITY",
    "ORDINAL": "QUANTITY",
    "CARDINAL": "QUANTITY",
}

# Moves whose weight is below this fraction of the chosen move's are left out of the softmax's sum: there are only
# 74 moves, so the probability is off by less than 1e-4 while is_valid (a Python call) runs for a handful of moves.
_NEGLIGIBLE = 1e-6


@operator(
    "ComprehendEntities",
    media_type="Text",
    description="Named entities (people, places, organisations, dates, quantities, ...) in Amazon Comprehend's "
    "DetectEntities shape, found offline by spaCy (en_core_web_sm).",
    configuration={"LanguageCode": "en", "ChunkCharacters": DEFAULT_CHUNK, "PageSize": DEFAULT_PAGE},
    isolation="process",
)
def comprehend_entities(ctx: OperatorContext) -> None:
    """Find named entities in the transcript (``Input.Media.Text`` or ``TextTranscriptUri``)."""

    def analyse(chunk: str) -> list[JSONDict]:
        nlp, lock = models.entity_pipeline()  # loaded once per process, and only when there is text
        with lock:
            found = scored_entities(nlp, chunk)
        # Shows, restaurants and companies spaCy's small model calls PERSON, corrected from their context.
        return refine(chunk, found)

    comprehend_items(ctx, list_key="Entities", result_name=RESULT_NAME, what="entities", analyse=analyse)


def scored_entities(nlp: Any, text: str) -> list[JSONDict]:
    """Comprehend entities of ``text`` (offsets relative to it), scored as the module docstring explains."""
    ner = nlp.get_pipe("ner")
    doc = nlp.make_doc(text)
    for name, component in nlp.pipeline:
        if name != "ner":
            doc = component(doc)
    move_probs = _greedy_with_probabilities(ner, doc)
    entities: list[JSONDict] = []
    for span in doc.ents:
        # Transcripts rarely do it, but a span may start or end on whitespace: trim it so Text stays exact.
        raw = span.text
        begin = span.start_char + (len(raw) - len(raw.lstrip()))
        end = span.end_char - (len(raw) - len(raw.rstrip()))
        if begin >= end:
            continue
        score = math.prod(move_probs.get(i, 1.0) for i in range(span.start, span.end))
        entities.append(
            {
                "BeginOffset": begin,
                "EndOffset": end,
                "Score": round(float(score), 6),
                "Text": text[begin:end],
                "Type": COMPREHEND_TYPES.get(span.label_, "OTHER"),
            }
        )
    return entities


def _greedy_with_probabilities(ner: Any, doc: Any) -> dict[int, float]:
    """Run ``ner``'s greedy decoding on ``doc`` (setting ``doc.ents`` as ``ner(doc)`` would) and return the
    probability of the move taken at each token index."""
    import numpy as np  # spaCy's dependency: imported only when spaCy is there

    moves = ner.moves
    names = [moves.get_class_name(i) for i in range(moves.n_moves)]
    step_model = ner.model.predict([doc])
    states = moves.init_batch([doc])
    probabilities: dict[int, float] = {}
    active = [s for s in states if not s.is_final()]
    try:
        while active:
            scores = np.ascontiguousarray(step_model.predict(active), dtype="float32")
            for state, row in zip(active, scores, strict=True):
                probabilities[state.B(0)] = _chosen_probability(moves, names, state, row)
            # The same choice (best valid move) the compiled greedy parser makes, applied by spaCy itself.
            active = ner.transition_states(active, scores)
    finally:
        step_model.clear_memory()
    ner.set_annotations([doc], states)
    return probabilities


def _chosen_probability(moves: Any, names: list[str], state: Any, row: Any) -> float:
    import numpy as np

    order = np.argsort(-row)
    weights = np.exp(row - row[order[0]])
    chosen = -1
    total = 0.0
    for index in order:
        weight = float(weights[index])
        if chosen >= 0 and weight < _NEGLIGIBLE * float(weights[chosen]):
            break
        if moves.is_valid(state, names[index]):
            if chosen < 0:
                chosen = int(index)
            total += weight
    if chosen < 0 or total <= 0.0:
        return 1.0
    return float(weights[chosen]) / total
