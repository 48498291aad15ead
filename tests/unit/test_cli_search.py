"""``mie search``'s display: one line per spoken moment (transcript, captions and translations grouped, original
language first), highlighted snippets without tags, times as mm:ss."""

from __future__ import annotations

from typing import Any

from mie.cli.search import at, forms, group_hits, snippet_text


def hit(operator: str, kind: str, snippet: str, span: tuple[int, int] | None, asset: str = "a1", **extra: Any) -> Any:
    start, end = span if span else (None, None)
    body = {"asset_id": asset, "name": "clip.mp4", "media_type": "video", "operator": operator, "kind": kind,
            "snippet": snippet, "start_ms": start, "end_ms": end, "segment_start_ms": start, "segment_end_ms": end,
            "score": 1.0}  # fmt: skip
    body.update(extra)
    return body


EN = "The <mark>chef</mark> brings a cup and coffee while a man walks."
ES = "El <mark>chef</mark> trae una copa y café mientras unos paseos de hombre."

#: What the server answers for "chef" on one analysed clip (its hits as ``GET /api/search`` ranks them).
CHEF = [
    hit("TranscribeVideo", "transcript", EN, (7400, 7660), segment_start_ms=7340, segment_end_ms=10000),
    hit("WebCaptionsTranscribeVideo_en", "caption", EN, (7340, 10000)),
    hit("WebCaptions_en", "caption", EN, (7340, 10000)),
    hit("WebCaptions_es", "caption", ES, (7340, 10000)),
    hit("WebCaptionsTranslate_es", "caption", ES, (7340, 10000)),
    hit("Translate", "translation", "…" + ES, None),
]


def test_the_forms_of_one_spoken_moment_are_one_hit_original_first() -> None:
    moments = group_hits(list(reversed(CHEF)))  # whatever the server's order, the original reads first
    assert len(moments) == 1
    moment = moments[0]
    assert forms(moment) == "transcript, captions en, captions es, translation"
    assert moment.hits[0]["operator"] == "TranscribeVideo"
    assert at(moment) == "00:07"  # the word's time in the transcript, not the caption's start


def test_other_assets_other_times_and_other_kinds_stay_apart() -> None:
    hits = [
        *CHEF,
        hit("TranscribeVideo", "transcript", "the <mark>chef</mark> again", (65000, 65400)),
        hit("TranscribeVideo", "transcript", EN, (7400, 7660), asset="a2"),
        hit("labelDetection", "label", "<mark>Chef</mark>", (8000, 9000)),
        hit("FileName", "filename", "<mark>chef</mark> mp4", None),
    ]
    moments = group_hits(hits)
    assert [forms(m) for m in moments] == [
        "transcript, captions en, captions es, translation",
        "transcript",
        "transcript",
        "label",
        "file name",
    ]
    assert [at(m) for m in moments] == ["00:07", "01:05", "00:07", "00:08", ""]


def test_words_found_only_in_a_translation_still_group() -> None:
    cafe = [
        hit("WebCaptions_es", "caption", ES.replace("<mark>chef</mark>", "chef").replace("café", "<mark>café</mark>"),
            (7340, 10000)),
        hit("WebCaptionsTranslate_es", "caption", ES, (7340, 10000)),
        hit("Translate", "translation", "…chef trae una copa y <mark>café</mark> mientras", None),
    ]  # fmt: skip
    moments = group_hits(cafe)
    assert len(moments) == 1
    assert forms(moments[0]) == "captions es, translation"


def test_snippets_show_marks_as_highlighting_not_tags() -> None:
    text = snippet_text("a <mark>chef</mark> and a <mark>cup</mark> <b>")
    assert text.plain == "a chef and a cup <b>"
    styled = [text.plain[span.start : span.end] for span in text.spans]
    assert styled == ["chef", "cup"]
