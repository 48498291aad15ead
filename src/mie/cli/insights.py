"""What an asset's results say, in a few lines: labels, faces, people, on-screen text, speech, language, entities.

``collect`` reads the data-plane results of an asset (operator name → one result, or a list of its pages as
``fetch_results`` gathers them) by their shapes — the AWS responses the operators keep (Rekognition's
``GetLabelDetection``/``DetectLabels``, ``GetFaceDetection``/``DetectFaces``, ``GetCelebrityRecognition``/
``RecognizeCelebrities``, ``GetFaceSearch``/``SearchFacesByImage``, ``GetTextDetection``/``DetectText``,
``GetContentModeration``/``DetectModerationLabels``, ``GetSegmentDetection``; Transcribe's transcript; MIE's
WebCaptions and CaptionsCollection; Comprehend's batch outputs) — so a result is understood whichever operator
stored it. What it does not understand is listed in ``Insights.other`` and shown as a one-line summary.
:mod:`mie.cli.display` lays the findings out with Rich.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mie.cli import render

#: How many labels, text lines, entities, key phrases and transcript lines a summary shows.
TOP = 8
TRANSCRIPT_LINES = 4


@dataclass
class Counted:
    """A name seen in some frames (or once, in an image): how often, and where first and last."""

    name: str
    frames: set[int] = field(default_factory=set)
    boxes: int = 0
    max_boxes: int = 0
    confidence: float = 0.0
    detail: str = ""

    @property
    def first(self) -> int | None:
        return min(self.frames) if self.frames else None

    @property
    def last(self) -> int | None:
        return max(self.frames) if self.frames else None


@dataclass
class CaptionFile:
    """A captions or translation file an operator wrote (``CaptionsCollection``)."""

    language: str
    kind: str
    bucket: str
    key: str


@dataclass
class Insights:
    """The findings of one asset, each empty when no result carries it."""

    media: str = ""
    labels: dict[str, Counted] = field(default_factory=dict)
    label_results: bool = False
    label_frames: set[int] = field(default_factory=set)
    faces: int = 0
    face_frames: dict[int, int] = field(default_factory=dict)
    face_results: bool = False
    people: dict[str, Counted] = field(default_factory=dict)
    people_results: list[str] = field(default_factory=list)
    unrecognized_faces: int = 0
    #: ``GetPersonTracking``: person index → the frames it was tracked in.
    tracked: dict[int, set[int]] = field(default_factory=dict)
    tracking_results: bool = False
    text: dict[str, Counted] = field(default_factory=dict)
    text_results: bool = False
    moderation: dict[str, Counted] = field(default_factory=dict)
    moderation_results: bool = False
    shots: int | None = None
    cues: dict[str, int] = field(default_factory=dict)
    transcript: list[tuple[float | None, str]] = field(default_factory=list)
    transcript_words: int = 0
    languages: list[str] = field(default_factory=list)
    sentiment: str = ""
    #: Sentences per sentiment (``POSITIVE`` → 3), from whichever result lists them first.
    sentences: dict[str, int] = field(default_factory=dict)
    entities: dict[str, Counted] = field(default_factory=dict)
    phrases: dict[str, Counted] = field(default_factory=dict)
    translations: list[str] = field(default_factory=list)
    captions: list[CaptionFile] = field(default_factory=list)
    other: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.media,
                self.label_results,
                self.face_results,
                self.people_results,
                self.tracking_results,
                self.text_results,
                self.moderation_results,
                self.shots is not None,
                self.cues,
                self.transcript,
                self.languages,
                self.sentiment,
                self.entities,
                self.phrases,
                self.translations,
                self.captions,
            )
        )


def pages_of(value: Any) -> list[Mapping[str, Any]]:
    """The pages of a result (one dict, or the list ``fetch_results`` makes of a paged result)."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        return list(value)
    return []


def _dicts(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, Mapping))


def _inner(entry: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``entry[key]`` of a video entry (``{"Timestamp", key: {...}}``), or the entry itself (an image's)."""
    value = entry.get(key)
    return value if isinstance(value, Mapping) else entry


def _stamp(entry: Mapping[str, Any]) -> int:
    value = entry.get("Timestamp")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _count(table: dict[str, Counted], name: Any, stamp: int, *, boxes: int = 0, confidence: Any = None) -> None:
    if not isinstance(name, str) or not name.strip():
        return
    name = " ".join(name.split())
    key = name.casefold()
    item = table.setdefault(key, Counted(name))
    item.frames.add(stamp)
    item.boxes += boxes
    item.max_boxes = max(item.max_boxes, boxes)
    if isinstance(confidence, int | float):
        item.confidence = max(item.confidence, float(confidence))


def _labels(ins: Insights, page: Mapping[str, Any]) -> None:
    ins.label_results = True
    for entry in _dicts(page.get("Labels")):
        label = _inner(entry, "Label")
        stamp = _stamp(entry)
        instances = label.get("Instances")
        boxes = len(instances) if isinstance(instances, list) else 0
        _count(ins.labels, label.get("Name"), stamp, boxes=boxes, confidence=label.get("Confidence"))
        ins.label_frames.add(stamp)


def _faces(ins: Insights, page: Mapping[str, Any]) -> None:
    ins.face_results = True
    entries = list(_dicts(page.get("Faces"))) + [{"Timestamp": 0, "Face": f} for f in _dicts(page.get("FaceDetails"))]
    for entry in entries:
        stamp = _stamp(entry)
        ins.faces += 1
        ins.face_frames[stamp] = ins.face_frames.get(stamp, 0) + 1


def _celebrities(ins: Insights, name: str, page: Mapping[str, Any]) -> None:
    if name not in ins.people_results:
        ins.people_results.append(name)
    for entry in _dicts(page.get("Celebrities")):
        celebrity = entry.get("Celebrity")
        if isinstance(celebrity, Mapping):
            _count(ins.people, celebrity.get("Name"), _stamp(entry), confidence=celebrity.get("Confidence"))
    for face in _dicts(page.get("CelebrityFaces")):
        _count(ins.people, face.get("Name"), 0, confidence=face.get("MatchConfidence"))
    ins.unrecognized_faces += len(list(_dicts(page.get("UnrecognizedFaces"))))


def _match_name(matches: Any) -> tuple[str | None, Any]:
    best = max(_dicts(matches), key=lambda m: float(m.get("Similarity") or 0), default=None)
    if best is None:
        return None, None
    face = _inner(best, "Face")
    name = face.get("ExternalImageId") or face.get("FaceId")
    return (str(name) if name else None), best.get("Similarity")


def _face_search(ins: Insights, name: str, page: Mapping[str, Any]) -> None:
    if name not in ins.people_results:
        ins.people_results.append(name)
    for entry in _dicts(page.get("Persons")):
        person, similarity = _match_name(entry.get("FaceMatches"))
        if person is None:
            ins.unrecognized_faces += 1
            continue
        _count(ins.people, person, _stamp(entry), confidence=similarity)
    if "FaceMatches" in page:
        person, similarity = _match_name(page.get("FaceMatches"))
        if person is not None:
            _count(ins.people, person, 0, confidence=similarity)


def _tracking(ins: Insights, page: Mapping[str, Any]) -> None:
    """``GetPersonTracking``: people followed across frames (by index, without names)."""
    ins.tracking_results = True
    for entry in _dicts(page.get("Persons")):
        person = entry.get("Person")
        index = person.get("Index") if isinstance(person, Mapping) else None
        if isinstance(index, int):
            ins.tracked.setdefault(index, set()).add(_stamp(entry))


def _sentences(ins: Insights, page: Mapping[str, Any]) -> None:
    if ins.sentences:
        return  # the same sentences, stored by another operator too
    for sentence in _dicts(page.get("Sentences")):
        if isinstance(sentence.get("Sentiment"), str):
            ins.sentences[sentence["Sentiment"]] = ins.sentences.get(sentence["Sentiment"], 0) + 1


def _text(ins: Insights, page: Mapping[str, Any]) -> None:
    ins.text_results = True
    for entry in _dicts(page.get("TextDetections")):
        detection = _inner(entry, "TextDetection")
        if detection.get("Type", "LINE") == "LINE":
            _count(ins.text, detection.get("DetectedText"), _stamp(entry), confidence=detection.get("Confidence"))


def _moderation(ins: Insights, page: Mapping[str, Any]) -> None:
    ins.moderation_results = True
    for entry in _dicts(page.get("ModerationLabels")):
        label = _inner(entry, "ModerationLabel")
        _count(ins.moderation, label.get("Name"), _stamp(entry), confidence=label.get("Confidence"))


def _segments(ins: Insights, page: Mapping[str, Any]) -> None:
    for segment in _dicts(page.get("Segments")):
        if segment.get("Type") == "SHOT":
            ins.shots = (ins.shots or 0) + 1
        elif segment.get("Type") == "TECHNICAL_CUE":
            cue = segment.get("TechnicalCueSegment")
            kind = str(cue.get("Type")) if isinstance(cue, Mapping) else "cue"
            ins.cues[kind] = ins.cues.get(kind, 0) + 1
    selected = {str(s.get("Type")) for s in _dicts(page.get("SelectedSegmentTypes"))}
    if "SHOT" in selected and ins.shots is None:
        ins.shots = 0


_SENTENCE_END = re.compile(r"[.!?…]$")


def _transcript_lines(results: Mapping[str, Any]) -> list[tuple[float | None, str]]:
    """Sentences of a Transcribe transcript with the time of their first word."""
    lines: list[tuple[float | None, str]] = []
    words: list[str] = []
    start: float | None = None
    for item in _dicts(results.get("items")):
        alternatives = list(_dicts(item.get("alternatives")))
        content = str(alternatives[0].get("content", "")) if alternatives else ""
        if not content:
            continue
        if item.get("type") == "punctuation" and words:
            words[-1] += content
        else:
            if not words:
                try:
                    start = float(item.get("start_time"))  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    start = None
            words.append(content)
        if words and _SENTENCE_END.search(words[-1]):
            lines.append((start, " ".join(words)))
            words = []
    if words:
        lines.append((start, " ".join(words)))
    if not lines:
        for transcript in _dicts(results.get("transcripts")):
            if str(transcript.get("transcript") or "").strip():
                lines.append((None, str(transcript["transcript"]).strip()))
    return lines


def _comprehend(table: dict[str, Counted], page: Mapping[str, Any], key: str) -> None:
    """Entities or key phrases from Comprehend's shapes: ``{key: [...]}`` or MIE's batch ``Results`` of JSON lines."""
    documents: list[Any] = [page]
    for line in page.get("Results") or []:
        if isinstance(line, str):
            try:
                documents.append(json.loads(line))
            except ValueError:
                continue
        elif isinstance(line, Mapping):
            documents.append(line)
    for document in documents:
        if not isinstance(document, Mapping):
            continue
        for item in _dicts(document.get(key)):
            # Occurrences are counted as distinct "frames": the running total is a fresh number for each.
            _count(table, item.get("Text"), sum(len(c.frames) for c in table.values()))
            found = table.get(" ".join(str(item.get("Text") or "").split()).casefold())
            if found is not None and item.get("Type"):
                found.detail = str(item["Type"])


def _language_of(name: str) -> str:
    """The language suffix of MIE's per-language result names (``WebCaptions_es`` → ``es``)."""
    head, sep, tail = name.rpartition("_")
    return tail if sep and head and 2 <= len(tail) <= 7 else ""


def _media(page: Mapping[str, Any]) -> str:
    parts: list[str] = []
    duration = ""
    for track in _dicts(page.get("tracks")):
        kind = track.get("track_type")
        if kind == "General" and isinstance(track.get("duration"), int | float):
            duration = render.duration(float(track["duration"]) / 1000)
        elif kind == "Video":
            size = f" {track.get('width')}x{track.get('height')}" if track.get("width") else ""
            parts.append(f"video {track.get('format') or '?'}{size}")
        elif kind == "Audio":
            parts.append(f"audio {track.get('format') or '?'}")
        elif kind == "Image":
            size = f" {track.get('width')}x{track.get('height')}" if track.get("width") else ""
            parts.append(f"image {track.get('format') or '?'}{size}")
    return ", ".join(([duration] if duration else []) + parts)


def collect(results: Mapping[str, Any]) -> Insights:
    """The findings in an asset's results (see the module docstring for the shapes read)."""
    ins = Insights()
    originals: list[tuple[str, list[Mapping[str, Any]]]] = []
    transcript: list[tuple[float | None, str]] = []
    for name, value in results.items():
        pages = pages_of(value)
        if not pages:
            ins.other[name] = value
            continue
        first = pages[0]
        understood = True
        for page in pages:
            if "Labels" in page:
                _labels(ins, page)
            elif "Faces" in page or "FaceDetails" in page:
                _faces(ins, page)
            elif "Celebrities" in page or "CelebrityFaces" in page:
                _celebrities(ins, name, page)
            elif "FaceMatches" in page or any("FaceMatches" in p for p in _dicts(page.get("Persons"))):
                _face_search(ins, name, page)
            elif "Persons" in page:
                _tracking(ins, page)
            elif "TextDetections" in page:
                _text(ins, page)
            elif "ModerationLabels" in page:
                _moderation(ins, page)
            elif "Segments" in page:
                _segments(ins, page)
            elif isinstance(page.get("results"), Mapping) and "transcripts" in page["results"]:
                transcript += _transcript_lines(page["results"])
                code = page["results"].get("language_code")
                if isinstance(code, str) and code and f"{code} (speech)" not in ins.languages:
                    ins.languages.insert(0, f"{code} (speech)")
            elif "WebCaptions" in page:
                captions = list(_dicts(page.get("WebCaptions")))
                if captions and "sourceCaption" in captions[0]:
                    language = _language_of(name)
                    if language and language not in ins.translations:
                        ins.translations.append(language)
                else:
                    originals.append((name, captions))
            elif "CaptionsCollection" in page:
                for item in _dicts(page.get("CaptionsCollection")):
                    _caption_file(ins, item)
            elif "TranslatedText" in page:
                language = str(page.get("TargetLanguageCode") or "")
                if language and language not in ins.translations:
                    ins.translations.append(language)
            elif isinstance(page.get("Sentiment"), str):
                scores = page.get("SentimentScore")
                best = ""
                if isinstance(scores, Mapping):
                    shown = sorted(scores.items(), key=lambda kv: -float(kv[1] or 0))[:2]
                    best = " (" + ", ".join(f"{k.lower()} {float(v or 0):.2f}" for k, v in shown) + ")"
                ins.sentiment = f"{page['Sentiment']}{best}"
                _sentences(ins, page)
            elif isinstance(page.get("Sentences"), list):
                _sentences(ins, page)
            elif isinstance(page.get("Languages"), list):
                for lang in list(_dicts(page["Languages"]))[:1]:
                    score = lang.get("Score")
                    extra = f" {float(score):.2f}" if isinstance(score, int | float) else ""
                    ins.languages.append(f"{lang.get('LanguageCode')}{extra} (text)")
            elif name == "entities" or "Entities" in page:
                _comprehend(ins.entities, page, "Entities")
            elif name == "key_phrases" or "KeyPhrases" in page:
                _comprehend(ins.phrases, page, "KeyPhrases")
            elif isinstance(page.get("tracks"), list):
                ins.media = ins.media or _media(page)
            else:
                understood = False
        if not understood:
            ins.other[name] = value if len(pages) > 1 else first
    # The captions of the original language read better than sentences rebuilt from words; any copy will do.
    originals.sort(key=lambda item: (not item[0].startswith("WebCaptions_"), item[0]))
    if originals:
        ins.transcript = [
            (float(c["start"]) if isinstance(c.get("start"), int | float) else None, str(c.get("caption") or ""))
            for c in originals[0][1]
            if str(c.get("caption") or "").strip()
        ]
    else:
        ins.transcript = transcript
    ins.transcript_words = sum(len(line.split()) for _, line in ins.transcript)
    return ins


def _caption_file(ins: Insights, item: Mapping[str, Any]) -> None:
    for key, kind in (("Results", "captions"), ("TranslationText", "translation")):
        location = item.get(key)
        if isinstance(location, Mapping) and location.get("S3Key"):
            s3_key = str(location["S3Key"])
            ext = s3_key.rpartition(".")[2].lower() if "." in s3_key else kind
            language = str(item.get("LanguageCode") or item.get("TargetLanguageCode") or "")
            if not any(c.key == s3_key for c in ins.captions):
                ins.captions.append(
                    CaptionFile(language, ext if kind == "captions" else "text", str(location.get("S3Bucket")), s3_key)
                )
