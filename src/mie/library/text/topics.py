"""``Topics`` (our addition, as Azure Video Indexer's keywords/topics): what an asset is about, ranked.

It reads what ``ComprehendEntities`` and ``ComprehendKeyPhrases`` stored for the asset (so it runs in a stage after
them) and ranks the names and phrases by how much the speech dwells on them: every mention adds its score, a name
that is also a key phrase counts once with both sources, and dates, amounts and "other" entities are left out (they
are facts, not topics). Stored under ``Topics`` as ``{"Topics": [{"Name", "Type", "Score", "Mentions",
"Sources"}]}``, best first, ``Score`` relative to the best topic (1.0). Search indexes them (``topic:`` filter).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from mie.errors import NotFoundError
from mie.library.speech.caption_ops import read_result
from mie.library.text.entities import RESULT_NAME as ENTITIES
from mie.library.text.phrases import RESULT_NAME as KEY_PHRASES
from mie.library.text.source import positive_int
from mie.operators import OperatorContext, operator
from mie.types import JSONDict

#: Entity types that make topics (Comprehend's).
TOPIC_TYPES = frozenset({"PERSON", "ORGANIZATION", "LOCATION", "TITLE", "EVENT", "COMMERCIAL_ITEM"})
#: A key phrase counts for less than a name: YAKE rates plenty of ordinary noun phrases.
_PHRASE_WEIGHT = 0.5
_LEADING = re.compile(r"^(?:the|a|an|this|that|these|those|our|my|your|their|his|her|its)\s+", re.IGNORECASE)


@dataclass
class _Topic:
    name: str
    kind: str
    score: float = 0.0
    mentions: int = 0
    sources: set[str] = field(default_factory=set)


def _key(text: str) -> str:
    return _LEADING.sub("", " ".join(text.split())).casefold()


def _items(pages: list[Any], list_key: str) -> list[JSONDict]:
    """The Comprehend items in MIE's stored shape: ``{"Results": ["<JSON line with list_key>"]}`` per page."""
    items: list[JSONDict] = []
    for page in pages:
        lines = page.get("Results") if isinstance(page, dict) else None
        for line in lines if isinstance(lines, list) else []:
            try:
                decoded = json.loads(line) if isinstance(line, str) else line
            except ValueError:
                continue
            found = decoded.get(list_key) if isinstance(decoded, dict) else None
            items.extend(item for item in found or [] if isinstance(item, dict) and isinstance(item.get("Text"), str))
    return items


def _read(ctx: OperatorContext, name: str, list_key: str) -> list[JSONDict]:
    try:
        return _items(read_result(ctx, name), list_key)
    except NotFoundError:
        return []


def rank_topics(entities: list[JSONDict], phrases: list[JSONDict], limit: int) -> list[JSONDict]:
    """The ``limit`` best topics of an asset from its Comprehend entities and key phrases."""
    topics: dict[str, _Topic] = {}
    for entity in entities:
        if entity.get("Type") not in TOPIC_TYPES:
            continue
        key = _key(str(entity["Text"]))
        if not key:
            continue
        topic = topics.setdefault(key, _Topic(_LEADING.sub("", str(entity["Text"]).strip()), str(entity["Type"])))
        topic.score += float(entity.get("Score") or 0.0)
        topic.mentions += 1
        topic.sources.add("entities")
    for phrase in phrases:
        key = _key(str(phrase["Text"]))
        if len(key) < 3:
            continue
        topic = topics.setdefault(key, _Topic(_LEADING.sub("", str(phrase["Text"]).strip()), "KEY_PHRASE"))
        if "entities" not in topic.sources:  # a name said is counted once, as a name
            topic.score += _PHRASE_WEIGHT * float(phrase.get("Score") or 0.0)
            topic.mentions += 1
        topic.sources.add("key_phrases")
    ranked = sorted(topics.values(), key=lambda t: (-t.score, -t.mentions, t.name.casefold()))[:limit]
    best = ranked[0].score if ranked and ranked[0].score > 0 else 1.0
    return [
        {
            "Name": t.name,
            "Type": t.kind,
            "Score": round(t.score / best, 4),
            "Mentions": t.mentions,
            "Sources": sorted(t.sources),
        }
        for t in ranked
    ]


@operator(
    "Topics",
    media_type="Text",
    description="What the asset is about: its names and key phrases ranked by how much the speech dwells on them "
    "(run after ComprehendEntities and ComprehendKeyPhrases).",
    configuration={"MaxTopics": 10},
)
def topics(ctx: OperatorContext) -> None:
    """Rank the asset's entities and key phrases into topics."""
    limit = positive_int(ctx, "MaxTopics", 10)
    entities = _read(ctx, ENTITIES, "Entities")
    phrases = _read(ctx, KEY_PHRASES, "KeyPhrases")
    ranked = rank_topics(entities, phrases, limit)
    if not entities and not phrases:
        ctx.log.info("%s: no entities or key phrases for this asset; run the Comprehend operators first", ctx.name)
    ctx.save_results({"Topics": ranked})
