"""What the asset page draws, gathered from an asset's stored results: boxes over the player, timeline tracks, the
transcript's words and the caption tracks.

Results are recognised by their shape (as the search indexer does), not by operator name: Rekognition's
``GetFaceDetection``/``DetectFaces``, ``GetLabelDetection``/``DetectLabels`` (with ``Instances[].BoundingBox``),
``GetTextDetection``/``DetectText``, ``GetPersonTracking``, the celebrity shapes and ``People`` of
``peopleRecognition`` (names of people), ``GetSegmentDetection`` (shots and technical cues), Transcribe's JSON and
``{"WebCaptions": [...]}``. Boxes are Rekognition's relative boxes (fractions of the frame), drawn as such.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mie.dataplane.service import DataPlane
from mie.errors import MieError

#: Labels shown as timeline tracks (the most frequent ones).
MAX_LABEL_TRACKS = 12
#: Operators whose stored pages are read at most this many (a very long video's labels are many pages).
MAX_PAGES = 200


@dataclass
class Insights:
    """Everything the player and timeline need, as plain JSON-able data (times in milliseconds)."""

    boxes: list[dict[str, Any]] = field(default_factory=list)
    tracks: list[dict[str, Any]] = field(default_factory=list)
    words: list[dict[str, Any]] = field(default_factory=list)
    captions: list[dict[str, str]] = field(default_factory=list)
    operators: list[str] = field(default_factory=list)
    sample_ms: int = 1000
    duration_ms: int | None = None
    labels: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The JSON the asset page's script reads."""
        return {
            "boxes": self.boxes,
            "tracks": self.tracks,
            "words": self.words,
            "captions": self.captions,
            "operators": self.operators,
            "sampleMs": self.sample_ms,
            "durationMs": self.duration_ms,
        }


def read_results(dataplane: DataPlane, asset_id: str) -> dict[str, list[Any]]:
    """Every operator's newest result of the asset: ``{operator: [page, ...]}`` in the order they were stored."""
    out: dict[str, list[Any]] = {}
    page = dataplane.get_metadata(asset_id)
    count = 0
    while page.get("cursor") and count < MAX_PAGES * 20:
        count += 1
        page = dataplane.get_metadata(asset_id, str(page["cursor"]))
        name = page.get("operator")
        if isinstance(name, str):
            pages = out.setdefault(name, [])
            if len(pages) < MAX_PAGES:
                pages.append(page.get("results"))
    return out


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _box(value: Any) -> dict[str, float] | None:
    if not isinstance(value, dict):
        return None
    try:
        box = {k: float(value[k]) for k in ("Left", "Top", "Width", "Height")}
    except (KeyError, TypeError, ValueError):
        return None
    return box if box["Width"] > 0 and box["Height"] > 0 else None


def _ms(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _runs(times: list[int], gap: int) -> list[tuple[int, int]]:
    """Group sighting times into ``(start, end)`` runs: sightings closer than ``gap`` belong to one run."""
    runs: list[tuple[int, int]] = []
    for t in sorted(set(times)):
        if runs and t - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


class _Collector:
    def __init__(self) -> None:
        self.out = Insights()
        self.label_times: dict[str, list[int]] = {}
        self.face_times: list[int] = []
        self.text_times: dict[str, list[int]] = {}
        self.person_times: dict[str, list[int]] = {}
        self.name_times: dict[str, list[int]] = {}
        self.shots: list[dict[str, Any]] = []
        self.cues: list[dict[str, Any]] = []
        self.timestamps: set[int] = set()

    def box(self, kind: str, label: str, box: dict[str, float], t: int | None, confidence: Any = None) -> None:
        item: dict[str, Any] = {"kind": kind, "label": label, "box": box, "t": t}
        if isinstance(confidence, int | float):
            item["confidence"] = round(float(confidence), 1)
        self.out.boxes.append(item)
        if t is not None:
            self.timestamps.add(t)

    def labels(self, page: dict[str, Any]) -> None:
        for entry in _dicts(page.get("Labels")):
            timed = "Label" in entry
            label = entry.get("Label") if timed else entry
            if not isinstance(label, dict) or not isinstance(label.get("Name"), str):
                continue
            name = label["Name"]
            t = _ms(entry.get("Timestamp")) if timed else None
            if t is not None:
                self.label_times.setdefault(name, []).append(t)
                self.timestamps.add(t)
            elif name not in self.out.labels:
                self.out.labels.append(name)
            for instance in _dicts(label.get("Instances")):
                found = _box(instance.get("BoundingBox"))
                if found is not None:
                    self.box("object", name, found, t, instance.get("Confidence", label.get("Confidence")))

    def faces(self, page: dict[str, Any]) -> None:
        for entry in _dicts(page.get("Faces")):
            face = entry.get("Face")
            t = _ms(entry.get("Timestamp"))
            found = _box(face.get("BoundingBox")) if isinstance(face, dict) else None
            if found is not None and t is not None:
                self.face_times.append(t)
                self.box("face", "face", found, t, face.get("Confidence") if isinstance(face, dict) else None)
        for face in _dicts(page.get("FaceDetails")):
            found = _box(face.get("BoundingBox"))
            if found is not None:
                self.box("face", "face", found, None, face.get("Confidence"))

    def people(self, page: dict[str, Any]) -> None:
        """Tracked persons (``GetPersonTracking``), recognised people (``People`` of peopleRecognition, else the
        celebrity shapes): body boxes per track index, face boxes with a name."""
        for entry in _dicts(page.get("Persons")):
            person = entry.get("Person")
            t = _ms(entry.get("Timestamp"))
            found = _box(person.get("BoundingBox")) if isinstance(person, dict) else None
            if found is not None and t is not None and isinstance(person, dict):
                label = f"person {person.get('Index', '?')}"
                self.box("person", label, found, t, person.get("Confidence"))
                self.person_times.setdefault(label, []).append(t)
        people = _dicts(page.get("People"))
        if people:
            for face in people:
                found = _box(face.get("BoundingBox"))
                name = str(face.get("Name") or f"person {str(face.get('PersonId', ''))[:8]}")
                t = _ms(face.get("Timestamp"))
                if found is not None:
                    self.box("name", name, found, t, face.get("Confidence"))
                if t is not None:
                    self.name_times.setdefault(name, []).append(t)
            return
        for entry in _dicts(page.get("Celebrities")) + _dicts(page.get("CelebrityFaces")):
            celebrity = entry.get("Celebrity") if "Celebrity" in entry else entry
            if not isinstance(celebrity, dict) or not celebrity.get("Name"):
                continue
            t = _ms(entry.get("Timestamp")) if "Celebrity" in entry else None
            known: Any = celebrity.get("Face")
            found = _box(known.get("BoundingBox") if isinstance(known, dict) else celebrity.get("BoundingBox"))
            if found is not None:
                self.box("name", str(celebrity["Name"]), found, t, celebrity.get("MatchConfidence"))
            if t is not None:
                self.name_times.setdefault(str(celebrity["Name"]), []).append(t)

    def text(self, page: dict[str, Any]) -> None:
        for entry in _dicts(page.get("TextDetections")):
            timed = "TextDetection" in entry
            detection = entry.get("TextDetection") if timed else entry
            if not isinstance(detection, dict) or detection.get("Type", "LINE") != "LINE":
                continue
            words = str(detection.get("DetectedText") or "")
            t = _ms(entry.get("Timestamp")) if timed else None
            geometry = detection.get("Geometry")
            found = _box(geometry.get("BoundingBox")) if isinstance(geometry, dict) else None
            if found is not None:
                self.box("text", words, found, t, detection.get("Confidence"))
            if t is not None and words:
                self.text_times.setdefault(words, []).append(t)

    def segments(self, page: dict[str, Any]) -> None:
        for segment in _dicts(page.get("Segments")):
            start, end = _ms(segment.get("StartTimestampMillis")), _ms(segment.get("EndTimestampMillis"))
            if start is None or end is None:
                continue
            if segment.get("Type") == "SHOT":
                index = (segment.get("ShotSegment") or {}).get("Index", len(self.shots))
                self.shots.append({"start": start, "end": end, "label": f"shot {int(index) + 1}"})
            elif segment.get("Type") == "TECHNICAL_CUE":
                kind = str((segment.get("TechnicalCueSegment") or {}).get("Type") or "cue")
                self.cues.append({"start": start, "end": end, "label": kind})

    def transcript(self, page: dict[str, Any]) -> None:
        results = page.get("results")
        if self.out.words or not isinstance(results, dict):
            return
        for item in _dicts(results.get("items")):
            alternatives = _dicts(item.get("alternatives"))
            content = str(alternatives[0].get("content", "")) if alternatives else ""
            if item.get("type") == "punctuation":
                if self.out.words:
                    self.out.words[-1]["text"] += content
                continue
            try:
                start, end = float(item["start_time"]), float(item["end_time"])
            except (KeyError, TypeError, ValueError):
                continue
            self.out.words.append({"start": round(start * 1000), "end": round(end * 1000), "text": content})

    def captions(self, operator: str, page: dict[str, Any]) -> None:
        if not isinstance(page.get("WebCaptions"), list) or not operator.startswith("WebCaptions_"):
            return
        lang = operator.removeprefix("WebCaptions_")
        if all(c["op"] != operator for c in self.out.captions):
            self.out.captions.append({"op": operator, "lang": lang, "label": f"captions ({lang})"})

    def finish(self) -> Insights:
        out = self.out
        steps = sorted(self.timestamps)
        diffs = [b - a for a, b in itertools.pairwise(steps) if b > a]
        out.sample_ms = min(diffs) if diffs else 1000
        gap = max(2 * out.sample_ms, 1000)
        out.boxes.sort(key=lambda b: (b["t"] is None, b["t"] or 0))
        counts = Counter({name: len(times) for name, times in self.label_times.items()})
        tracks: list[dict[str, Any]] = []
        for name, _ in counts.most_common(MAX_LABEL_TRACKS):
            runs = _runs(self.label_times[name], gap)
            items = [{"start": a, "end": b + out.sample_ms, "label": name} for a, b in runs]
            tracks.append({"group": "labels", "name": name, "items": items})
        if self.face_times:
            items = [{"start": a, "end": b + out.sample_ms, "label": "face"} for a, b in _runs(self.face_times, gap)]
            tracks.append({"group": "faces", "name": "faces", "items": items})
        for name, times in sorted(self.name_times.items()):
            items = [{"start": a, "end": b + out.sample_ms, "label": name} for a, b in _runs(times, gap)]
            tracks.append({"group": "people", "name": name, "items": items})
        if self.person_times:
            items = [
                {"start": a, "end": b + out.sample_ms, "label": label}
                for label, times in self.person_times.items()
                for a, b in _runs(times, gap)
            ]
            tracks.append(
                {"group": "persons", "name": "persons (tracked)", "items": sorted(items, key=lambda i: i["start"])}
            )
        if self.text_times:
            items = [
                {"start": a, "end": b + out.sample_ms, "label": words}
                for words, times in self.text_times.items()
                for a, b in _runs(times, gap)
            ]
            tracks.append({"group": "text", "name": "on-screen text", "items": sorted(items, key=lambda i: i["start"])})
        if self.shots:
            tracks.append({"group": "shots", "name": "shots", "items": self.shots})
        if self.cues:
            tracks.append({"group": "cues", "name": "technical cues", "items": self.cues})
        if out.words:
            sentences: list[dict[str, Any]] = []
            for word in out.words:
                if sentences and not sentences[-1]["label"].endswith((".", "?", "!")):
                    sentences[-1]["end"] = word["end"]
                    sentences[-1]["label"] += " " + word["text"]
                else:
                    sentences.append({"start": word["start"], "end": word["end"], "label": word["text"]})
            tracks.append({"group": "transcript", "name": "transcript", "items": sentences})
        out.tracks = tracks
        if not out.labels:
            out.labels = [name for name, _ in counts.most_common(20)]
        out.summary = {
            "faces": len([b for b in out.boxes if b["kind"] == "face"]),
            "objects": len([b for b in out.boxes if b["kind"] == "object"]),
            "people": sorted(self.name_times),
            "words": len(out.words),
        }
        return out


def collect(results: dict[str, list[Any]]) -> Insights:
    """Turn stored results (``read_results``) into what the page draws."""
    collector = _Collector()
    for operator, pages in results.items():
        collector.out.operators.append(operator)
        for page in pages:
            if not isinstance(page, dict):
                continue
            collector.labels(page)
            collector.faces(page)
            collector.people(page)
            collector.text(page)
            collector.segments(page)
            collector.transcript(page)
            collector.captions(operator, page)
            metadata = page.get("VideoMetadata")
            if isinstance(metadata, dict) and collector.out.duration_ms is None:
                collector.out.duration_ms = _ms(metadata.get("DurationMillis"))
    return collector.finish()


def asset_insights(dataplane: DataPlane, asset_id: str) -> Insights:
    """Read and collect; an asset deleted meanwhile gives empty insights."""
    try:
        return collect(read_results(dataplane, asset_id))
    except MieError:
        return Insights()


def technical(results: dict[str, list[Any]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Mediainfo's tracks as ``[(track type, [(field, value), ...]), ...]`` (the interesting fields first)."""
    wanted = (
        "format", "duration", "overall_bit_rate", "file_size", "width", "height", "display_aspect_ratio",
        "frame_rate", "bit_rate", "codec_id", "channel_s", "sampling_rate", "language", "color_space",
        "chroma_subsampling", "bit_depth", "writing_application", "encoded_date",
    )  # fmt: skip
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for name in ("Mediainfo", "MediainfoImage"):
        for page in results.get(name, []):
            tracks = _dicts(page.get("tracks")) if isinstance(page, dict) else []
            for track in tracks:
                fields = [(k, str(track[k])) for k in wanted if k in track and not isinstance(track[k], list | dict)]
                out.append((str(track.get("track_type", "track")), fields))
    return out


def web_captions_vtt(pages: list[Any]) -> str:
    """A WebVTT document of ``{"WebCaptions": [{"start", "end", "caption"}]}`` pages (seconds)."""

    def stamp(seconds: float) -> str:
        millis = round(max(0.0, seconds) * 1000)
        hours, rest = divmod(millis, 3_600_000)
        minutes, rest = divmod(rest, 60_000)
        return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"

    lines = ["WEBVTT", ""]
    for page in pages:
        for index, cue in enumerate(_dicts(page.get("WebCaptions") if isinstance(page, dict) else None), 1):
            try:
                start, end = float(cue["start"]), float(cue["end"])
            except (KeyError, TypeError, ValueError):
                continue
            text = str(cue.get("caption") or "").replace("-->", "->").strip()
            if text:
                lines += [str(index), f"{stamp(start)} --> {stamp(end)}", text, ""]
    return "\n".join(lines)
