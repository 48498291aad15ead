"""Preparing text for Apertium: sentences, chunks, forced terms and translation-memory sentences.

The output of :func:`prepare` is a list of :class:`~mie.library.translate.apertium.Piece`: plain text that Apertium
translates, and protected pieces (a terminology target, or a whole stored translation from parallel data) that
pass through it unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from mie.library.translate.apertium import Piece

#: Characters sent to Apertium in one run; long transcripts are cut at sentence ends into chunks this size
#: (about 3 s of Apertium time each, so progress and cancellation are checked often).
CHUNK_CHARS = 15000

# Abbreviations whose period does not end a sentence (English and Spanish; Apertium's pairs are mostly European).
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "inc", "ltd", "co", "no", "mt",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "sra", "srta", "dra", "ud", "uds", "pág", "núm",
})  # fmt: skip
# Sentence-final punctuation, then closing quotes or brackets (straight, curly and guillemet), then space.
_BOUNDARY = re.compile("([.!?\u2026]+[\"'\u201d\u2019\u00bb)\\]]*)(\\s+)")
_LAST_WORD = re.compile(r"(\w+)\W*$")


def split_sentences(text: str) -> list[tuple[str, str]]:
    """``text`` as ``(sentence, whitespace after it)`` pairs that join back to the text (leading space dropped).

    A rule-based splitter (MIE used NLTK's punkt, whose model would be a download): a sentence ends at ``.``,
    ``!``, ``?`` or ``…`` followed by space, unless the next word starts in lower case or the period belongs to
    an abbreviation or an initial.
    """
    text = text.lstrip()
    out: list[tuple[str, str]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        after = text[match.end() : match.end() + 1]
        if after and after.islower():
            continue
        if match.group(1).startswith("."):
            word = _LAST_WORD.search(text[start : match.start(1)])
            last = word.group(1) if word else ""
            if last.lower() in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                continue
        out.append((text[start : match.end(1)], match.group(2)))
        start = match.end()
    if start < len(text):
        tail = text[start:]
        body = tail.rstrip()
        out.append((body, tail[len(body) :]))
    return [(sentence, space) for sentence, space in out if sentence]


def chunks(text: str, limit: int = CHUNK_CHARS) -> list[tuple[str, str]]:
    """``text`` cut at sentence ends into ``(chunk, separator)`` pairs of at most ``limit`` characters (a single
    longer sentence is cut at a space)."""
    out: list[tuple[str, str]] = []
    current = ""
    current_sep = ""
    for sentence, space in split_sentences(text):
        for part in _hard_split(sentence, limit):
            if current and len(current) + len(current_sep) + len(part) > limit:
                out.append((current, current_sep))
                current = ""
            current = f"{current}{current_sep}{part}" if current else part
            current_sep = " "
        current_sep = space or " "
    if current:
        out.append((current, ""))
    return out


def _hard_split(sentence: str, limit: int) -> list[str]:
    parts: list[str] = []
    while len(sentence) > limit:
        cut = sentence.rfind(" ", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(sentence[:cut].rstrip())
        sentence = sentence[cut:].lstrip()
    parts.append(sentence)
    return parts


def _normal(sentence: str) -> str:
    return " ".join(sentence.split()).casefold()


class Glossary:
    """Forced translations (terminology) and stored sentence translations (parallel data as translation memory)."""

    def __init__(self, terms: Mapping[str, str] | None = None, memory: Mapping[str, str] | None = None) -> None:
        self.terms = {k.casefold(): v for k, v in (terms or {}).items() if k.strip() and v.strip()}
        self.memory = {_normal(k): v for k, v in (memory or {}).items() if k.strip() and v.strip()}
        self._pattern: re.Pattern[str] | None = None
        if self.terms:
            # Longest first, so "red sofa" wins over "sofa"; whole words only.
            alternatives = "|".join(re.escape(t) for t in sorted(self.terms, key=len, reverse=True))
            self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def __bool__(self) -> bool:
        return bool(self.terms or self.memory)

    def prepare(self, text: str) -> list[Piece]:
        """``text`` as pieces: stored sentence translations and term targets protected, the rest to translate."""
        if not self:
            return [Piece(text)] if text else []
        pieces: list[Piece] = []
        for sentence, space in split_sentences(text):
            stored = self.memory.get(_normal(sentence))
            if stored is not None:
                pieces.append(Piece(stored, protected=True))
            else:
                pieces.extend(self._terms(sentence))
            if space:
                pieces.append(Piece(space))
        return pieces

    def _terms(self, text: str) -> Iterable[Piece]:
        if self._pattern is None:
            yield Piece(text)
            return
        position = 0
        for match in self._pattern.finditer(text):
            if match.start() > position:
                yield Piece(text[position : match.start()])
            yield Piece(self.terms[match.group(0).casefold()], protected=True)
            position = match.end()
        if position < len(text):
            yield Piece(text[position:])
