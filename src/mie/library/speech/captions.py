"""Caption formats: MIE's WebCaptions segmentation of a Transcribe document, SRT and WebVTT writers, a VTT reader.

WebCaptions follow MIE's ``TranscribeToWebCaptions`` exactly: a caption closes after 25 words, at 120 characters,
or on ``.``/``?``/``!``; a silence longer than 1.5 s between words starts a new caption (the old one ending where the
next word starts); punctuation at the start of a caption is dropped. Each caption is
``{"start", "end", "caption", "wordConfidence": [{"w", "c"}]}`` with times in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mie.types import JSONDict

MAX_LENGTH = 120
MAX_WORDS = 25
MAX_SILENCE = 1.5
_SENTENCE_END = "...?!"
_VTT_TIME = re.compile(r"^(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})$")


def web_captions(transcripts: Iterable[Mapping[str, Any]]) -> list[JSONDict]:
    """Captions from Transcribe documents (several when the transcript was stored in pages)."""
    end_time = 0.0
    word_count = 0
    captions: list[JSONDict] = []
    caption: JSONDict | None = None
    for transcript in transcripts:
        for item in transcript.get("results", {}).get("items", []):
            punctuation = item["type"] == "punctuation"
            if caption is None:
                if punctuation:
                    continue  # a caption never starts with punctuation
                caption = {"start": float(item["start_time"]), "caption": "", "wordConfidence": []}
            if not punctuation:
                start_time = float(item["start_time"])
                if caption["caption"] and end_time + MAX_SILENCE < start_time:
                    caption["end"] = start_time
                    captions.append(caption)
                    caption = {"start": start_time, "caption": "", "wordConfidence": []}
                    word_count = 0
                end_time = float(item["end_time"])
            if not punctuation and caption["caption"]:
                caption["caption"] += " "
            text = str(item["alternatives"][0]["content"])
            caption["caption"] += text
            if not punctuation:
                caption["wordConfidence"].append({"w": text.lower(), "c": float(item["alternatives"][0]["confidence"])})
                word_count += 1
            if (
                word_count >= MAX_WORDS
                or len(caption["caption"]) >= MAX_LENGTH
                or (punctuation and text in _SENTENCE_END)
            ):
                caption["end"] = end_time
                captions.append(caption)
                word_count = 0
                caption = None
    if caption is not None:
        caption["end"] = end_time
        captions.append(caption)
    return captions


def _milliseconds(seconds: Any) -> int:
    return max(0, round(float(seconds) * 1000))


def _clock(ms: int, separator: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _cues(captions: Sequence[Mapping[str, Any]]) -> list[tuple[int, int, str]]:
    """``(start_ms, end_ms, text)`` in order, each lasting at least 1 ms, with no blank lines inside a cue (a blank
    line ends a cue in both formats) and no ``-->`` (which would read as a timing line)."""
    cues: list[tuple[int, int, str]] = []
    for caption in captions:
        text = "\n".join(line.strip() for line in str(caption.get("caption", "")).splitlines() if line.strip())
        text = text.replace("-->", "->")
        if not text:
            continue
        start = _milliseconds(caption["start"])
        end = max(_milliseconds(caption["end"]), start + 1)
        cues.append((start, end, text))
    return cues


def to_srt(captions: Sequence[Mapping[str, Any]]) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, a blank line after each."""
    blocks = [
        f"{index}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n"
        for index, (start, end, text) in enumerate(_cues(captions), start=1)
    ]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(captions: Sequence[Mapping[str, Any]]) -> str:
    """WebVTT: the ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` cues separated by blank lines."""
    blocks = ["WEBVTT\n"]
    blocks += [
        f"{_clock(start, '.')} --> {_clock(end, '.')}\n{_vtt_escape(text)}\n" for start, end, text in _cues(captions)
    ]
    return "\n".join(blocks)


def _vtt_seconds(stamp: str) -> float:
    match = _VTT_TIME.match(stamp.strip())
    if match is None:
        raise ValueError(f"bad WebVTT timestamp {stamp!r}")
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def from_vtt(text: str) -> list[JSONDict]:
    """WebCaptions from a WebVTT document (MIE's ``ExistingSubtitlesObject``); ``ValueError`` when malformed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    if not lines or not lines[0].startswith("WEBVTT"):
        raise ValueError("a WebVTT file must start with 'WEBVTT'")
    captions: list[JSONDict] = []
    blocks = "\n".join(lines[1:]).split("\n\n")
    for block in blocks:
        rows = [row for row in block.split("\n") if row.strip()]
        timing = next((i for i, row in enumerate(rows) if "-->" in row), None)
        if timing is None:
            continue  # NOTE, STYLE, REGION blocks and stray text
        start_text, _, rest = rows[timing].partition("-->")
        end_text = rest.strip().split()[0] if rest.strip() else ""
        start, end = _vtt_seconds(start_text), _vtt_seconds(end_text)
        body = " ".join(rows[timing + 1 :])
        body = re.sub(r"<[^>]+>", "", body).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        captions.append({"start": start, "end": end, "caption": body})
    return captions
