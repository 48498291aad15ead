"""Semantic documents: an asset's moments told in words, built from the segments the indexer stored.

- **Video**: one document per shot (``shotDetection`` segments), or one for the whole asset when there are none,
  made of what overlaps it: objects and labels, people's names, on-screen text, and the speech said meanwhile; and
  one per transcript segment, with what is seen while it is said.
- **Image**: one document of everything found in it.
- **Audio**: one per transcript segment.
- Key phrases and entities (whole-asset results) go into the whole-asset or image document, or a document of their
  own (``asset``) when the asset has shots or speech.

Speech is the transcript in its original language (captions only when there is no transcript, those of one
language); translations are left out: the embedding model is an English one, and the words are the same moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mie.storage.search import StoredSegment

#: Kinds of what is seen (time-ranged in videos, whole-asset in images).
VISUAL = ("label", "celebrity", "person", "text", "moderation")
TOPICS = ("keyphrase", "entity")
#: Documents are cut to this many characters (MiniLM reads 256 word pieces; the rest would be ignored anyway).
MAX_CHARS = 1200
MAX_SPEECH_CHARS = 700


@dataclass(frozen=True)
class Draft:
    """A document before it is embedded."""

    kind: str
    text: str
    start_ms: int | None
    end_ms: int | None
    operators: tuple[str, ...]
    lang: str | None


def _overlaps(segment: StoredSegment, start: int | None, end: int | None) -> bool:
    if start is None or end is None:
        return True
    if segment.start_ms is None or segment.end_ms is None:
        return False
    # Shots are half-open: what starts where a shot ends belongs to the next one.
    return segment.start_ms < end and segment.end_ms >= start


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _speech(segments: Sequence[StoredSegment]) -> list[StoredSegment]:
    """The transcript, else the captions of the first caption language."""
    transcript = [s for s in segments if s.kind == "transcript" and s.text.strip()]
    if transcript:
        return transcript
    captions = [s for s in segments if s.kind == "caption" and s.text.strip()]
    if not captions:
        return []
    first = captions[0].lang
    return [s for s in captions if s.lang == first]


def _compose(visual: Sequence[StoredSegment], speech: Sequence[StoredSegment], topics: Sequence[StoredSegment]) -> str:
    labels = _unique(p.strip() for s in visual if s.kind in ("label", "moderation") for p in s.text.split(","))
    people = _unique(p.strip() for s in visual if s.kind in ("celebrity", "person") for p in s.text.split(","))
    shown = _unique(line.strip() for s in visual if s.kind == "text" for line in s.text.splitlines())
    parts = []
    if labels:
        parts.append(", ".join(labels[:40]))
    if people:
        parts.append(", ".join(people[:20]))
    if shown:
        parts.append("text " + " / ".join(shown[:20]))
    said = " ".join(s.text.strip() for s in speech)
    if said:
        parts.append(said[:MAX_SPEECH_CHARS])
    phrases = _unique(s.text.strip() for s in topics)
    if phrases:
        parts.append("; ".join(phrases[:30]))
    return ". ".join(parts)[:MAX_CHARS]


def _draft(
    kind: str,
    /,
    start: int | None,
    end: int | None,
    visual: Sequence[StoredSegment],
    speech: Sequence[StoredSegment],
    *,
    topics: Sequence[StoredSegment] = (),
) -> Draft | None:
    text = _compose(visual, speech, topics)
    if not text.strip():
        return None
    used = [*visual, *speech, *topics]
    lang = next((s.lang for s in speech if s.lang), None)
    return Draft(kind, text, start, end, tuple(_unique(s.operator for s in used)), lang)


def build_documents(segments: Sequence[StoredSegment], media_type: str | None = None) -> list[Draft]:
    """The documents of one asset from its stored segments."""
    media_type = media_type or next((s.media_type for s in segments if s.media_type), None)
    visual = [s for s in segments if s.kind in VISUAL and s.text.strip()]
    topics = [s for s in segments if s.kind in TOPICS and s.text.strip()]
    speech = _speech(segments)
    timed_visual = [s for s in visual if s.start_ms is not None]
    shots = sorted(
        {
            (s.start_ms, s.end_ms)
            for s in segments
            if s.kind == "shot" and s.start_ms is not None and s.end_ms is not None
        }
    )
    drafts: list[Draft | None] = []
    if media_type == "image" or (not timed_visual and not shots and not speech):
        drafts.append(_draft("image" if media_type == "image" else "asset", None, None, visual, speech, topics=topics))
        return [d for d in drafts if d is not None]
    if shots:
        for start, end in shots:
            drafts.append(
                _draft(
                    "shot",
                    start,
                    end,
                    [s for s in timed_visual if _overlaps(s, start, end)],
                    [s for s in speech if _overlaps(s, start, end)],
                )
            )
    elif timed_visual or visual:
        # No shots: one document for the whole video, what is seen and the topics.
        drafts.append(_draft("asset", None, None, visual, [], topics=topics))
        topics = []
    for said in speech:
        if said.start_ms is None:
            drafts.append(_draft("transcript", None, None, [], [said]))
            continue
        seen = [s for s in timed_visual if _overlaps(s, said.start_ms, said.end_ms)]
        drafts.append(_draft("transcript", said.start_ms, said.end_ms, seen, [said]))
    untimed = [s for s in visual if s.start_ms is None]
    if topics or untimed:
        drafts.append(_draft("asset", None, None, untimed, [], topics=topics))
    return [d for d in drafts if d is not None]
