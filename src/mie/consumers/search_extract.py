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
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mie.storage.search import Segment

#: Pseudo-operator of the segment holding an asset's file name.
FILE_NAME_OPERATOR = "FileName"
#: Same text seen again within this many sampling intervals (at least MERGE_MIN_GAP_MS) continues one range.
MERGE_INTERVALS = 2
MERGE_MIN_GAP_MS = 1000
#: A transcript segment ends at sentence punctuation, after this many words, or at a pause this long.
TRANSCRIPT_MAX_WORDS = 20
TRANSCRIPT_PAUSE_MS = 1500


@dataclass(frozen=True)
class Extracted:
    """Segments of one result, and its labels when it is a label-detection result."""

    segments: tuple[Segment, ...]
    labels: tuple[str, ...] | None


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


def extract(result: Any) -> Extracted:
    """Segments and labels of one operator's stored result (all of its pages)."""
    pages = pages_of(result)
    segments: list[Segment] = []
    image_labels: list[str] = []
    timed: dict[str, list[tuple[str, int]]] = {}
    labels_seen = False

    def timed_add(kind: str, text: Any, stamp: Any) -> None:
        if isinstance(text, str) and text.strip() and isinstance(stamp, int | float):
            timed.setdefault(kind, []).append((text.strip(), int(stamp)))

    face_counts: dict[int, int] = {}
    for page in pages:
        labels_seen = labels_seen or isinstance(page.get("Labels"), list)
        for item in _list(page, "Labels"):
            if isinstance(item.get("Label"), dict):
                timed_add("label", item["Label"].get("Name"), item.get("Timestamp"))
            elif isinstance(item.get("Name"), str):
                image_labels.append(item["Name"])
        moderation = [str(i["Name"]) for i in _list(page, "ModerationLabels") if isinstance(i.get("Name"), str)]
        for item in _list(page, "ModerationLabels"):
            if isinstance(item.get("ModerationLabel"), dict):
                timed_add("moderation", item["ModerationLabel"].get("Name"), item.get("Timestamp"))
        if moderation:
            segments.append(Segment("moderation", ", ".join(_unique(moderation))))
        celebrities = [str(i["Name"]) for i in _list(page, "CelebrityFaces") if isinstance(i.get("Name"), str)]
        if celebrities:
            segments.append(Segment("celebrity", ", ".join(_unique(celebrities))))
        for item in _list(page, "Celebrities"):
            if isinstance(item.get("Celebrity"), dict):
                timed_add("celebrity", item["Celebrity"].get("Name"), item.get("Timestamp"))
        if "FaceDetails" in page and isinstance(page["FaceDetails"], list) and page["FaceDetails"]:
            segments.append(Segment("faces", _faces(len(page["FaceDetails"]))))
        for item in _list(page, "Faces"):
            stamp = item.get("Timestamp")
            if isinstance(item.get("Face"), dict) and isinstance(stamp, int | float):
                face_counts[int(stamp)] = face_counts.get(int(stamp), 0) + 1
        lines: list[str] = []
        for item in _list(page, "TextDetections"):
            if isinstance(item.get("TextDetection"), dict):
                detection = item["TextDetection"]
                if detection.get("Type", "LINE") == "LINE":
                    timed_add("text", detection.get("DetectedText"), item.get("Timestamp"))
            elif item.get("Type", "LINE") == "LINE" and isinstance(item.get("DetectedText"), str):
                lines.append(item["DetectedText"])
        if lines:
            segments.append(Segment("text", "\n".join(_unique(lines))))
        segments.extend(_transcript(page))
        segments.extend(_captions(page))
        segments.extend(_cues(page))
        if isinstance(page.get("TranslatedText"), str) and page["TranslatedText"].strip():
            segments.append(Segment("translation", page["TranslatedText"].strip()))
        segments.extend(_comprehend(page))
    if image_labels:
        segments.insert(0, Segment("label", ", ".join(_unique(image_labels))))
    for kind, seen in timed.items():
        segments.extend(_ranges(kind, seen))
    if face_counts:
        counts = [(_faces(n), stamp) for stamp, n in sorted(face_counts.items())]
        segments.extend(_ranges("faces", counts))
    labels: tuple[str, ...] | None = None
    if labels_seen:
        video = [text for text, _ in sorted(timed.get("label", []), key=lambda t: t[1])]
        labels = tuple(_unique(image_labels + video))
    return Extracted(tuple(segments), labels)


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
    items = results.get("items")
    if not isinstance(items, list) or not items:
        transcripts = results.get("transcripts")
        texts = [t.get("transcript", "") for t in transcripts or [] if isinstance(t, dict)]
        joined = " ".join(t for t in texts if isinstance(t, str) and t.strip())
        return [Segment("transcript", joined)] if joined else []
    segments: list[Segment] = []
    words: list[tuple[str, int, int]] = []
    text = ""

    def flush() -> None:
        nonlocal words, text
        if words and text.strip():
            segments.append(Segment("transcript", text.strip(), words[0][1], words[-1][2], tuple(words)))
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
            out.append(Segment("caption", caption.strip(), _ms(item.get("start")), _ms(item.get("end"))))
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
