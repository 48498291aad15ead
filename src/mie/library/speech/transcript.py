"""Whisper words to Amazon Transcribe's JSON, and custom vocabularies applied to it.

The output is the document Transcribe writes and MIE stores (``get_transcribe.py``)::

    {"jobName": "transcribe-<wf>", "status": "COMPLETED",
     "results": {"language_code": "en-US", "transcripts": [{"transcript": "Hello there."}],
                 "items": [{"id": 0, "start_time": "0.120", "end_time": "0.480", "type": "pronunciation",
                            "alternatives": [{"confidence": "0.9712", "content": "Hello"}]},
                           {"id": 2, "type": "punctuation", "alternatives": [{"confidence": "0.0", "content": "."}]}]}}

Times and confidences are strings, as Transcribe writes them; punctuation items carry no times.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mie.library.speech.whisper import Word
from mie.types import JSONDict

#: Punctuation that becomes its own ``punctuation`` item (what Transcribe emits).
_KEPT = frozenset(".,?!;:")
#: Quotes and brackets Whisper attaches to words; Transcribe has no items for them, so they are dropped.
_DROPPED = frozenset('"\u201c\u201d\u2018\u2019\u00ab\u00bb()[]{}\u00bf\u00a1')
_NORMAL = re.compile(r"[^\w']+")


def _split(text: str) -> tuple[str, list[str]]:
    """``'west.'`` -> ``('west', ['.'])``: a word without its surrounding quotes, and its trailing punctuation."""
    word = text.strip()
    while word and word[0] in _DROPPED:
        word = word[1:]
    trailing: list[str] = []
    while word and (word[-1] in _KEPT or word[-1] in _DROPPED):
        if word[-1] in _KEPT:
            trailing.insert(0, word[-1])
        word = word[:-1]
    if not word:
        return "", trailing
    return word, trailing


def _join_pieces(words: Iterable[Word], spaced: bool) -> list[Word]:
    """Join word pieces Whisper split at punctuation (``' o'`` + ``"'clock"``) back into words."""
    joined: list[Word] = []
    for word in words:
        if spaced and joined and word.text and not word.text[0].isspace():
            last = joined[-1]
            joined[-1] = Word(
                last.text + word.text, last.start, max(last.end, word.end), min(last.probability, word.probability)
            )
        else:
            joined.append(word)
    return joined


def build_items(words: Sequence[Word], *, spaced: bool = True) -> list[JSONDict]:
    """Transcribe ``results.items`` from Whisper words."""
    items: list[JSONDict] = []
    for word in _join_pieces(words, spaced):
        content, punctuation = _split(word.text)
        if content:
            items.append(
                {
                    "start_time": f"{word.start:.3f}",
                    "end_time": f"{max(word.end, word.start):.3f}",
                    "alternatives": [{"confidence": f"{word.probability:.4f}", "content": content}],
                    "type": "pronunciation",
                }
            )
        for mark in punctuation:
            if content or items:  # no punctuation before the first word
                items.append({"alternatives": [{"confidence": "0.0", "content": mark}], "type": "punctuation"})
    return number(items)


def number(items: list[JSONDict]) -> list[JSONDict]:
    """Give items consecutive ``id`` values (newer Transcribe output has them)."""
    for index, item in enumerate(items):
        item["id"] = index
    return items


def content(item: Mapping[str, Any]) -> str:
    """The text of an item."""
    return str(item["alternatives"][0]["content"])


def transcript_text(items: Sequence[Mapping[str, Any]], *, spaced: bool = True) -> str:
    """The plain transcript: words separated by spaces, punctuation attached to the word before it."""
    parts: list[str] = []
    for item in items:
        text = content(item)
        if parts and item["type"] == "pronunciation" and spaced:
            parts.append(" ")
        parts.append(text)
    return "".join(parts)


def transcribe_json(job_name: str, language_code: str, items: list[JSONDict], *, spaced: bool = True) -> JSONDict:
    """The whole Transcribe document."""
    return {
        "jobName": job_name,
        "status": "COMPLETED",
        "results": {
            "language_code": language_code,
            "transcripts": [{"transcript": transcript_text(items, spaced=spaced)}],
            "items": items,
        },
    }


# Custom vocabularies -------------------------------------------------------------------------------------------


def _normal(text: str) -> str:
    return _NORMAL.sub("", text.lower())


def phrase_words(phrase: str) -> list[str]:
    """The spoken words of a vocabulary ``Phrase`` (Transcribe joins the words of a phrase with hyphens)."""
    return [part for part in phrase.split("-") if part]


def hotwords(entries: Sequence[Mapping[str, Any]], limit: int = 600) -> str:
    """Text that biases Whisper toward the vocabulary's phrases (faster-whisper ``hotwords``).

    Whisper's prompt holds about 220 tokens; phrases past ``limit`` characters are left out rather than letting the
    model cut the prompt at an arbitrary token.
    """
    phrases: list[str] = []
    size = 0
    for entry in entries:
        phrase = " ".join(phrase_words(str(entry.get("Phrase") or "")))
        if not phrase or phrase in phrases:
            continue
        if size + len(phrase) + 2 > limit:
            break
        phrases.append(phrase)
        size += len(phrase) + 2
    return ", ".join(phrases)


def apply_vocabulary(items: list[JSONDict], entries: Sequence[Mapping[str, Any]]) -> list[JSONDict]:
    """Write recognised vocabulary phrases as the vocabulary spells them.

    A run of words matching a ``Phrase`` (ignoring case and punctuation) takes the phrase's spelling; with
    ``DisplayAs`` the run becomes one item showing ``DisplayAs`` (Transcribe's behaviour), spanning the run's times.
    """
    rules: list[tuple[list[str], list[str], str]] = []
    for entry in entries:
        spoken = phrase_words(str(entry.get("Phrase") or ""))
        keys = [_normal(w) for w in spoken]
        if keys and all(keys):
            rules.append((keys, spoken, str(entry.get("DisplayAs") or "")))
    # Longest phrases first, so "New-York-City" wins over "New-York".
    rules.sort(key=lambda rule: len(rule[0]), reverse=True)
    out: list[JSONDict] = []
    index = 0
    while index < len(items):
        matched = False
        for keys, spoken, display in rules:
            run = items[index : index + len(keys)]
            if len(run) == len(keys) and all(
                item["type"] == "pronunciation" and _normal(content(item)) == key
                for item, key in zip(run, keys, strict=True)
            ):
                if display:
                    merged = dict(run[0])
                    merged["end_time"] = run[-1]["end_time"]
                    confidence = min(float(item["alternatives"][0]["confidence"]) for item in run)
                    merged["alternatives"] = [{"confidence": f"{confidence:.4f}", "content": display}]
                    out.append(merged)
                else:
                    for item, word in zip(run, spoken, strict=True):
                        alternative = dict(item["alternatives"][0], content=word)
                        out.append(dict(item, alternatives=[alternative]))
                index += len(keys)
                matched = True
                break
        if not matched:
            out.append(items[index])
            index += 1
    return number(out)
