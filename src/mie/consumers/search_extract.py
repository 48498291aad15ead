"""Searchable text out of operator results, recognised by their AWS shapes (never by operator name: MIE's image
variants store under the video operator's name, and plugins may add operators that speak the same shapes).

Shapes read (teardown §5.1):

- Rekognition DetectLabels ``{"Labels": [{"Name"}]}`` (image: one segment, labels in detector order) and
  GetLabelDetection pages ``{"Labels": [{"Timestamp", "Label": {"Name"}}]}`` (video: one segment per label and time
  range; labels deduplicated in order of first appearance). Moderation labels and celebrities alike.
- DetectFaces ``{"FaceDetails": [...]}`` and GetFaceDetection ``{"Faces": [{"Timestamp", "Face"}]}``: face counts.
- DetectText / GetTextDetection ``{"TextDetections": [...]}``: LINE detections (WORDs repeat them).
- Transcribe JSON ``{"results": {"items": [{"start_time", "end_time", "alternatives": [{"content"}]}]}}``:
  sentence-sized segments with per-word times.
- WebCaptions ``{"WebCaptions": [{"start", "end", "caption"}]}`` (seconds).
- Comprehend ``{"Entities": [{"Text", "Type"}]}`` / ``{"KeyPhrases": [{"Text"}]}``, at any depth (job outputs are
  wrapped in ``Results`` lists); Translate ``{"TranslatedText"}``; segment detection technical cues.
- Topics ``{"Topics": [{"Name", "Score"}]}`` (ours): one segment of the names, best first, and a ``topic`` fact each.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from mie.storage.search import Fact, Segment

#: Pseudo-operator of the segment holding an asset's file name.
FILE_NAME_OPERATOR = "FileName"
#: Same text seen again within this many sampling intervals (at least MERGE_MIN_GAP_MS) continues one range.
MERGE_INTERVALS = 2
MERGE_MIN_GAP_MS = 1000
#: A transcript segment ends at sentence punctuation, after this many words, or at a pause this long.
TRANSCRIPT_MAX_WORDS = 20
TRANSCRIPT_PAUSE_MS = 1500
#: Kinds of timed or whole-asset sightings kept as facts, and the query-language field of each.
_FACT_FIELD = {"label": "label", "celebrity": "person", "person": "person", "text": "text"}
#: Kinds whose language an operator's name tells (``WebCaptions_es``).
_LANG_KINDS = frozenset({"caption", "transcript", "translation"})
_LANG_SUFFIX = re.compile(r"_([a-z]{2,3}(?:-[A-Za-z]{2,4})?)$")


@dataclass(frozen=True)
class Extracted:
    """Segments of one result, its labels when it is a label-detection (or people) result, and its facts."""

    segments: tuple[Segment, ...]
    labels: tuple[str, ...] | None
    facts: tuple[Fact, ...] = ()


def file_name_segment(name: str) -> Segment:
    """The asset's file name as words (``holiday_video.mp4`` → ``holiday video mp4``): every full-text backend
    splits them alike, and a query for the whole name becomes the same words, as a phrase."""
    words = re.sub(r"[\W_]+", " ", name).strip()
    return Segment("filename", words or name)


def pages_of(result: Any) -> list[dict[str, Any]]:
    """A stored result as a list of pages (a paginated result is a list, a whole one a dict)."""
    if isinstance(result, list):
        return [p for p in result if isinstance(p, dict)]
    return [result] if isinstance(result, dict) else []


def operator_language(operator: str | None) -> str | None:
    """The language an operator's name ends with (``WebCaptions_es`` → ``es``), else ``None``."""
    match = _LANG_SUFFIX.search(operator or "")
    return match.group(1).lower().split("-")[0] if match else None


class _Found:
    """What the pages of one result yield, gathered before runs of timestamps are merged."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.image_labels: list[str] = []
        self.names: list[str] = []
        self.timed: dict[str, list[tuple[str, int]]] = {}
        self.confidence: dict[tuple[str, str], list[tuple[int | None, float]]] = {}
        self.facts: list[Fact] = []
        self.face_counts: dict[int, int] = {}
        self.labels_seen = False

    def timed_add(self, kind: str, text: Any, stamp: Any, confidence: Any = None) -> None:
        if isinstance(text, str) and text.strip() and isinstance(stamp, int | float):
            self.timed.setdefault(kind, []).append((text.strip(), int(stamp)))
            self.sighting(kind, text.strip(), int(stamp), confidence)

    def sighting(self, kind: str, text: str, stamp: int | None, confidence: Any) -> None:
        if kind in _FACT_FIELD:
            number = float(confidence) if isinstance(confidence, int | float) else None
            self.confidence.setdefault((kind, text), []).append((stamp, number if number is not None else -1.0))

    def untimed_facts(self, kind: str, texts: list[tuple[str, Any]]) -> None:
        best: dict[str, float | None] = {}
        for text, confidence in texts:
            number = float(confidence) if isinstance(confidence, int | float) else None
            old = best.get(text)
            best[text] = number if old is None else max(old, number if number is not None else old)
        self.facts.extend(Fact(_FACT_FIELD[kind], text, number) for text, number in best.items())


def extract(result: Any, operator: str | None = None) -> Extracted:
    """Segments, labels and facts of one operator's stored result (all of its pages); ``operator`` tells the
    language of captions (``WebCaptions_es``)."""
    found = _Found()
    for page in pages_of(result):
        _page(page, found)
    segments = found.segments
    if found.image_labels:
        segments.insert(0, Segment("label", ", ".join(_unique(found.image_labels))))
    for kind, seen in found.timed.items():
        runs = _ranges(kind, seen)
        segments.extend(runs)
        if kind in _FACT_FIELD:
            found.facts.extend(_run_facts(kind, runs, found.confidence))
    if found.face_counts:
        counts = [(_faces(n), stamp) for stamp, n in sorted(found.face_counts.items())]
        segments.extend(_ranges("faces", counts))
    labels: tuple[str, ...] | None = None
    people = [
        t for t, _ in sorted(found.timed.get("celebrity", []) + found.timed.get("person", []), key=lambda t: t[1])
    ]
    if found.labels_seen or found.names or people:
        video = [text for text, _ in sorted(found.timed.get("label", []), key=lambda t: t[1])]
        # People's names are labels too (``/api/media?label=Jeff Steen``), after the objects.
        labels = tuple(_unique(found.image_labels + video + found.names + people))
    language = operator_language(operator)
    if language is not None:
        segments = [s if s.lang or s.kind not in _LANG_KINDS else replace(s, lang=language) for s in segments]
    langs = _unique([s.lang for s in segments if s.lang])
    found.facts.extend(Fact("lang", code) for code in langs)
    return Extracted(tuple(segments), labels, tuple(found.facts))


def _page(page: dict[str, Any], found: _Found) -> None:
    segments = found.segments
    found.labels_seen = found.labels_seen or isinstance(page.get("Labels"), list)
    image: list[tuple[str, Any]] = []
    for item in _list(page, "Labels"):
        if isinstance(item.get("Label"), dict):
            label = item["Label"]
            found.timed_add("label", label.get("Name"), item.get("Timestamp"), label.get("Confidence"))
        elif isinstance(item.get("Name"), str):
            found.image_labels.append(item["Name"])
            image.append((item["Name"], item.get("Confidence")))
    found.untimed_facts("label", image)
    moderation = [str(i["Name"]) for i in _list(page, "ModerationLabels") if isinstance(i.get("Name"), str)]
    for item in _list(page, "ModerationLabels"):
        if isinstance(item.get("ModerationLabel"), dict):
            found.timed_add("moderation", item["ModerationLabel"].get("Name"), item.get("Timestamp"))
    if moderation:
        segments.append(Segment("moderation", ", ".join(_unique(moderation))))
    _people(page, found)
    if "FaceDetails" in page and isinstance(page["FaceDetails"], list) and page["FaceDetails"]:
        segments.append(Segment("faces", _faces(len(page["FaceDetails"]))))
    for item in _list(page, "Faces"):
        stamp = item.get("Timestamp")
        if isinstance(item.get("Face"), dict) and isinstance(stamp, int | float):
            found.face_counts[int(stamp)] = found.face_counts.get(int(stamp), 0) + 1
    lines: list[tuple[str, Any]] = []
    for item in _list(page, "TextDetections"):
        if isinstance(item.get("TextDetection"), dict):
            detection = item["TextDetection"]
            if detection.get("Type", "LINE") == "LINE":
                found.timed_add(
                    "text", detection.get("DetectedText"), item.get("Timestamp"), detection.get("Confidence")
                )
        elif item.get("Type", "LINE") == "LINE" and isinstance(item.get("DetectedText"), str):
            lines.append((item["DetectedText"], item.get("Confidence")))
    if lines:
        segments.append(Segment("text", "\n".join(_unique([t for t, _ in lines]))))
        found.untimed_facts("text", lines)
    segments.extend(_transcript(page))
    segments.extend(_captions(page))
    segments.extend(_cues(page))
    segments.extend(_shots(page))
    if isinstance(page.get("TranslatedText"), str) and page["TranslatedText"].strip():
        target = page.get("TargetLanguageCode")
        lang = target.lower().split("-")[0] if isinstance(target, str) and target else None
        segments.append(Segment("translation", page["TranslatedText"].strip(), lang=lang))
    segments.extend(_comprehend(page))
    topics = [(str(t["Name"]), t.get("Score")) for t in _list(page, "Topics") if isinstance(t.get("Name"), str)]
    if topics:
        segments.append(Segment("topic", ", ".join(_unique([name for name, _ in topics]))))
        # Facts carry 0-100 (as a confidence); a topic's Score is relative to the asset's best topic (0-1).
        found.facts.extend(
            Fact("topic", name, 100.0 * score if isinstance(score, int | float) else None) for name, score in topics
        )
    duration = _duration(page)
    if duration is not None and not any(f.field == "duration" for f in found.facts):
        found.facts.append(Fact("duration", "", duration))


def _people(page: dict[str, Any], found: _Found) -> None:
    """People's names: RecognizeCelebrities ``CelebrityFaces``, GetCelebrityRecognition ``Celebrities``,
    SearchFacesByImage ``FaceMatches`` and GetFaceSearch ``Persons[].FaceMatches`` (the name is the matched face's
    ``ExternalImageId``, as a collection indexed with names stores it)."""
    celebrities = [
        (str(i["Name"]), i.get("MatchConfidence"))
        for i in _list(page, "CelebrityFaces")
        if isinstance(i.get("Name"), str)
    ]
    if celebrities:
        names = _unique([n for n, _ in celebrities])
        found.segments.append(Segment("celebrity", ", ".join(names)))
        found.names.extend(names)
        found.untimed_facts("celebrity", celebrities)
    for item in _list(page, "Celebrities"):
        if isinstance(item.get("Celebrity"), dict):
            celebrity = item["Celebrity"]
            found.timed_add("celebrity", celebrity.get("Name"), item.get("Timestamp"), celebrity.get("Confidence"))
    matches = [m for m in (_match_name(m) for m in _list(page, "FaceMatches")) if m is not None]
    if matches:
        names = _unique([n for n, _ in matches])
        found.segments.append(Segment("person", ", ".join(names)))
        found.names.extend(names)
        found.untimed_facts("person", matches)
    for item in _list(page, "Persons"):
        for match in _list(item, "FaceMatches"):
            named = _match_name(match)
            if named is not None:
                found.timed_add("person", named[0], item.get("Timestamp"), named[1])


def _match_name(match: dict[str, Any]) -> tuple[str, Any] | None:
    face = match.get("Face")
    name = face.get("ExternalImageId") if isinstance(face, dict) else None
    if isinstance(name, str) and name.strip():
        return name.strip(), match.get("Similarity")
    return None


def _run_facts(
    kind: str, runs: list[Segment], seen: dict[tuple[str, str], list[tuple[int | None, float]]]
) -> list[Fact]:
    out = []
    for run in runs:
        numbers = [
            n
            for stamp, n in seen.get((kind, run.text), [])
            if stamp is not None
            and run.start_ms is not None
            and run.end_ms is not None
            and run.start_ms <= stamp <= run.end_ms
        ]
        best = max(numbers) if numbers else -1.0
        out.append(Fact(_FACT_FIELD[kind], run.text, best if best >= 0 else None, run.start_ms, run.end_ms))
    return out


def _duration(page: dict[str, Any]) -> float | None:
    """Seconds, from Rekognition's ``VideoMetadata`` (a dict, or a list in GetSegmentDetection)."""
    metadata = page.get("VideoMetadata")
    for item in metadata if isinstance(metadata, list) else [metadata]:
        if (
            isinstance(item, dict)
            and isinstance(item.get("DurationMillis"), int | float)
            and item["DurationMillis"] > 0
        ):
            return float(item["DurationMillis"]) / 1000
    return None


def _shots(page: dict[str, Any]) -> list[Segment]:
    """Shots of a segment detection (empty text: they only give semantic documents their time ranges)."""
    out = []
    for item in _list(page, "Segments"):
        start, end = item.get("StartTimestampMillis"), item.get("EndTimestampMillis")
        if (
            isinstance(item.get("ShotSegment"), dict)
            and isinstance(start, int | float)
            and isinstance(end, int | float)
        ):
            out.append(Segment("shot", "", int(start), int(end)))
    return out


def _list(page: dict[str, Any], key: str) -> Iterator[dict[str, Any]]:
    value = page.get(key)
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _faces(count: int) -> str:
    return "1 face" if count == 1 else f"{count} faces"


def _ranges(kind: str, seen: list[tuple[str, int]]) -> list[Segment]:
    """One segment per text and run of timestamps: a sighting continues a run when it comes within a couple of
    sampling intervals of the previous one."""
    stamps = sorted({stamp for _, stamp in seen})
    steps = sorted(b - a for a, b in itertools.pairwise(stamps) if b > a)
    interval = steps[len(steps) // 2] if steps else 0
    gap = max(MERGE_MIN_GAP_MS, MERGE_INTERVALS * interval)
    by_text: dict[str, list[int]] = {}
    for text, stamp in seen:
        by_text.setdefault(text, []).append(stamp)
    out: list[tuple[int, Segment]] = []
    for text, times in by_text.items():
        times.sort()
        start = end = times[0]
        for stamp in times[1:]:
            if stamp - end > gap:
                out.append((start, Segment(kind, text, start, end)))
                start = stamp
            end = stamp
        out.append((start, Segment(kind, text, start, end)))
    return [segment for _, segment in sorted(out, key=lambda item: item[0])]


def _ms(value: Any) -> int | None:
    try:
        return round(float(value) * 1000)
    except (TypeError, ValueError):
        return None


def _transcript(page: dict[str, Any]) -> list[Segment]:
    results = page.get("results")
    if not isinstance(results, dict):
        return []
    code = results.get("language_code") or page.get("LanguageCode")
    lang = code.lower().split("-")[0] if isinstance(code, str) and code else None
    items = results.get("items")
    if not isinstance(items, list) or not items:
        transcripts = results.get("transcripts")
        texts = [t.get("transcript", "") for t in transcripts or [] if isinstance(t, dict)]
        joined = " ".join(t for t in texts if isinstance(t, str) and t.strip())
        return [Segment("transcript", joined, lang=lang)] if joined else []
    segments: list[Segment] = []
    words: list[tuple[str, int, int]] = []
    text = ""

    def flush() -> None:
        nonlocal words, text
        if words and text.strip():
            segments.append(Segment("transcript", text.strip(), words[0][1], words[-1][2], tuple(words), lang))
        words, text = [], ""

    for item in items:
        if not isinstance(item, dict):
            continue
        alternatives = item.get("alternatives")
        content = alternatives[0].get("content") if isinstance(alternatives, list) and alternatives else None
        if not isinstance(content, str) or not content:
            continue
        if item.get("type") == "punctuation":
            text += content
            if content in ".?!":
                flush()
            continue
        start, end = _ms(item.get("start_time")), _ms(item.get("end_time"))
        if start is None or end is None:
            continue
        if words and (start - words[-1][2] > TRANSCRIPT_PAUSE_MS or len(words) >= TRANSCRIPT_MAX_WORDS):
            flush()
        words.append((content, start, end))
        text += (" " if text else "") + content
    flush()
    return segments


def _captions(page: dict[str, Any]) -> list[Segment]:
    out = []
    for item in _list(page, "WebCaptions"):
        caption = item.get("caption")
        if isinstance(caption, str) and caption.strip():
            # TranslateWebCaptions keeps the original beside a translated caption: such a caption is a translation.
            kind = "translation" if isinstance(item.get("sourceCaption"), str) else "caption"
            out.append(Segment(kind, caption.strip(), _ms(item.get("start")), _ms(item.get("end"))))
    return out


def _cues(page: dict[str, Any]) -> list[Segment]:
    out = []
    for item in _list(page, "Segments"):
        cue = item.get("TechnicalCueSegment")
        if isinstance(cue, dict) and isinstance(cue.get("Type"), str):
            start, end = item.get("StartTimestampMillis"), item.get("EndTimestampMillis")
            out.append(
                Segment(
                    "cue",
                    cue["Type"],
                    int(start) if isinstance(start, int | float) else None,
                    int(end) if isinstance(end, int | float) else None,
                )
            )
    return out


def _comprehend(node: Any, depth: int = 0) -> list[Segment]:
    """Entities and key phrases wherever they sit (job outputs nest them in ``Results`` lists), deduplicated."""
    if depth > 4:
        return []
    out: list[Segment] = []
    if isinstance(node, list):
        for item in node:
            out.extend(_comprehend(item, depth + 1))
        return _dedupe(out)
    if not isinstance(node, dict):
        return []
    for key, kind in (("Entities", "entity"), ("KeyPhrases", "keyphrase")):
        for item in _list(node, key):
            if isinstance(item.get("Text"), str) and item["Text"].strip():
                text = item["Text"].strip()
                if kind == "entity" and isinstance(item.get("Type"), str):
                    text = f"{text} ({item['Type'].lower()})"
                out.append(Segment(kind, text))
    for key in ("Results", "Pages", "Documents"):
        value = node.get(key)
        if isinstance(value, list | dict):
            out.extend(_comprehend(value, depth + 1))
    return _dedupe(out)


def _dedupe(segments: list[Segment]) -> list[Segment]:
    return list(dict.fromkeys(segments))
