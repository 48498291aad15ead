"""Corrections to spaCy's entity types from the words around an entity, for the speech of TV and web shows.

spaCy's small English model (the only English pipeline that ships in a package for Python 3.11) tags most
capitalised multi-word names it does not know as PERSON. In broadcast speech those are often the show itself
("Welcome back to Boulder Eats, a show about ..."), a restaurant or a shop ("we're at Salt Bistro"). The context
usually says which: a show is welcomed to, watched and tuned in to, and called "a show"; a business is called "a
restaurant" or ends in a word such as Bistro, Bakery or Pizza. These rules use only such unambiguous context and
leave every other entity as spaCy found it. Their effect is measured on a hand-labelled set of sentences in
tests/library/test_entities_eval.py (precision and recall per type, with and without the rules).
"""

from __future__ import annotations

import re

from mie.types import JSONDict

#: Words that, ending a name, make it a business or venue (Comprehend: ORGANIZATION).
_VENUE_WORDS = (
    "Bistro|Bakery|Cafe|Café|Restaurant|Grill|Diner|Kitchen|Pizza|Pizzeria|Brewery|Brewing|Tavern|Pub|Bar|Deli|"
    "Market|Farms?|Foods|Coffee|Roasters|Creamery|Steakhouse|Taqueria|Cantina|Trattoria|Eatery|Inc|Corp|LLC|Ltd|"
    "Company|Co|Group|Studios|Records|Motors|Airlines|Bank"
)
_VENUE_END = re.compile(rf"\b(?:{_VENUE_WORDS})\.?\Z")
#: A capitalised name (two or more words) ending in a venue word, for the ones spaCy missed altogether.
_VENUE_NAME = re.compile(rf"\b(?:[A-Z][\w'&-]*\s+){{1,3}}(?:{_VENUE_WORDS})\b")
#: What comes right before the name of a show, and the name itself (capitalised words, with "of", "the", "and"
#: between them as in "Game of Thrones").
_SHOW = re.compile(
    r"(?i:\bwelcome(?:\s+back)?\s+to|\bwatching|\btune\s+in\s+to|\b(?:tonight|today|next\s+week|this\s+week)\s+on|"
    r"\bepisode\s+of|\bseason\s+of|\bhere\s+on|\bback\s+on|\bthis\s+is(?=[^.!?]{0,60}\byour\s+host\b))\s+"
    r"(?:[Tt]he\s+)?([A-Z][\w'&-]*(?:\s+(?:of|the|and|&|on|in)\s+[A-Z][\w'&-]*|\s+[A-Z][\w'&-]*)*)"
)
#: An apposition right after a name: ", a show about", ", the restaurant that".
_AFTER = re.compile(r"\A,?\s+(?:a|an|the|our|my)\s+(?:(?:new|local|weekly|daily|little|small|great|family)\s+)*(\w+)",
                    re.IGNORECASE)  # fmt: skip
_SHOW_NOUNS = frozenset({"show", "series", "program", "programme", "podcast", "channel", "film", "movie", "documentary",
                         "magazine", "newsletter", "broadcast"})  # fmt: skip
_BUSINESS_NOUNS = frozenset({"restaurant", "company", "brand", "bistro", "bakery", "cafe", "café", "shop", "store",
                             "firm", "startup", "brewery", "farm", "diner", "bar", "pub", "business", "chain",
                             "market", "hotel", "winery", "food truck"})  # fmt: skip


_STARTERS = frozenset({"The", "A", "An", "Today", "Tonight", "Yesterday", "Tomorrow", "We", "I", "You", "They", "He",
                       "She", "It", "Then", "And", "But", "So", "At", "In", "On", "From", "To", "This", "That", "Our",
                       "My", "Your", "Their", "Here", "There", "Welcome", "Thanks", "Visit", "Try"})  # fmt: skip


def _after(text: str, end: int) -> str | None:
    match = _AFTER.match(text[end : end + 60])
    return match.group(1).lower() if match else None


def _show_score(entities: list[JSONDict], begin: int, end: int) -> float:
    """A show's score: the best of spaCy's entities inside its name (it did see a name there), else 0.5 (a rule)."""
    inside = [float(e["Score"]) for e in entities if begin <= int(e["BeginOffset"]) and int(e["EndOffset"]) <= end]
    return max(inside, default=0.5)


def refine(text: str, entities: list[JSONDict]) -> list[JSONDict]:
    """``entities`` (Comprehend-shaped, offsets into ``text``) with types corrected by context, plus business names
    spaCy missed; in text order."""
    shows = [m.span(1) for m in _SHOW.finditer(text)]
    refined: list[JSONDict] = []
    for begin, end in shows:
        refined.append({"BeginOffset": begin, "EndOffset": end, "Score": _show_score(entities, begin, end),
                        "Text": text[begin:end], "Type": "TITLE"})  # fmt: skip
    for entity in entities:
        kind = entity["Type"]
        begin, end = int(entity["BeginOffset"]), int(entity["EndOffset"])
        if any(b < end and begin < e for b, e in shows):
            continue  # part of a show's name: the title above replaces it
        if kind in ("PERSON", "LOCATION", "OTHER", "EVENT", "ORGANIZATION"):
            noun = _after(text, end)
            if noun in _SHOW_NOUNS:
                kind = "TITLE"
            elif noun in _BUSINESS_NOUNS or _VENUE_END.search(entity["Text"]):
                kind = "ORGANIZATION"
        refined.append(entity if kind == entity["Type"] else {**entity, "Type": kind})
    taken = [(int(e["BeginOffset"]), int(e["EndOffset"])) for e in refined]
    for match in _VENUE_NAME.finditer(text):
        begin, end = match.span()
        # Words that start sentences are not part of a name ("Today Blue Pan Pizza opened" -> "Blue Pan Pizza").
        while (word := re.match(r"[A-Z][\w'&-]*\s+", text[begin:end])) and word.group(0).strip() in _STARTERS:
            begin += word.end()
        if " " not in text[begin:end].strip() or any(b < end and begin < e for b, e in taken):
            continue
        # Score: found by a rule, not by the model; the middle of the scale says so.
        refined.append({"BeginOffset": begin, "EndOffset": end, "Score": 0.5, "Text": text[begin:end],
                        "Type": "ORGANIZATION"})  # fmt: skip
    return sorted(refined, key=lambda e: (int(e["BeginOffset"]), int(e["EndOffset"])))
