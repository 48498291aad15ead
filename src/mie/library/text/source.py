"""Where the language operators find their text, how they read it in chunks, and how they store results.

Finding the text follows MIE's Comprehend operators: they read ``Input.Media.Text``; when that object is JSON
(the transcribe operator's stored result) they follow its ``TextTranscriptUri`` to the plain-text transcript. We
also accept the AWS Transcribe JSON itself (``results.transcripts[0].transcript``), a plain-text ``Text`` object,
and ``TextTranscriptUri`` in the workflow's ``MetaData`` (what our transcribe operators put there). Media without
an audio track (``Mediainfo_num_audio_tracks == "0"``) has no transcript; like MIE we then complete with empty
results instead of failing.

Texts are read as a stream of chunks cut at line or sentence ends, so a long transcript never sits in a spaCy
``Doc`` whole (spaCy needs about 1 GB per 100,000 words); every chunk carries its offset in the whole text, so
``BeginOffset``/``EndOffset`` count characters of the whole (decoded) text.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from mie.errors import MieError, OperatorError
from mie.operators import OperatorContext
from mie.types import JSONDict, MediaType

#: Default characters per chunk handed to a model at once (about 8,000 words, or an hour of speech).
DEFAULT_CHUNK = 50_000
#: Default items (entities, phrases, sentences) per stored result page.
DEFAULT_PAGE = 5_000
# Sentence ends: Western punctuation (then closing quotes or brackets) before whitespace, or a CJK full stop,
# question or exclamation mark (followed by no space). A chunk is never cut in its first half (see cut_point).
_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*\s+|[\u3002\uff01\uff1f]")
_WHITESPACE = re.compile(r"\s+")


@dataclass
class TextInput:
    """The text an operator analyses: a local UTF-8 file or an in-memory string (or nothing at all)."""

    path: Path | None = None
    text: str | None = None
    #: Where it came from, for messages and for Comprehend's ``File`` field.
    name: str = "transcript.txt"

    def chunks(self, size: int) -> Iterator[tuple[int, str]]:
        """``(offset, chunk)`` pairs covering the whole text in order."""
        if self.path is not None:
            # utf-8-sig drops a byte-order mark; newline="" keeps "\r\n" so offsets match the stored text.
            with self.path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
                yield from iter_chunks(fh.read, size)
        elif self.text is not None:
            yield from iter_chunks(io.StringIO(self.text, newline="").read, size)

    def is_blank(self) -> bool:
        """True when there is no text, or only whitespace (read a chunk at a time)."""
        return all(not chunk.strip() for _, chunk in self.chunks(DEFAULT_CHUNK))


def iter_chunks(read: Callable[[int], str], size: int) -> Iterator[tuple[int, str]]:
    """Split what ``read`` returns into chunks of at most ``size`` characters, cut after a line end, else a
    sentence end, else whitespace (a hard cut only inside one enormous word). Yields ``(offset, chunk)``."""
    if size < 1:
        raise ValueError("chunk size must be positive")
    offset = 0
    buffer = ""
    eof = False
    while True:
        while not eof and len(buffer) <= size:
            piece = read(size)
            if piece:
                buffer += piece
            else:
                eof = True
        if not buffer:
            return
        if eof and len(buffer) <= size:
            yield offset, buffer
            return
        cut = cut_point(buffer, size)
        yield offset, buffer[:cut]
        offset += cut
        buffer = buffer[cut:]


def cut_point(text: str, size: int) -> int:
    """Where to end a chunk of ``text`` that must be at most ``size`` long."""
    window = text[:size]
    floor = size // 2
    newline = window.rfind("\n", floor)
    if newline >= 0:
        return newline + 1
    ends = [m.end() for m in _SENTENCE_END.finditer(window, floor)]
    if ends:
        return ends[-1]
    spaces = [m.end() for m in _WHITESPACE.finditer(window, floor)]
    if spaces and spaces[-1] < len(window):
        return spaces[-1]
    return size


# Finding the input ------------------------------------------------------------------------------------------------


def find_text(ctx: OperatorContext) -> TextInput | None:
    """The text this call should analyse; None when the media has no audio track (so no transcript).

    Raises :class:`OperatorError` when there is neither a ``Text`` input nor a ``TextTranscriptUri``.
    """
    if ctx.input_media.get(MediaType.TEXT):
        bucket, key = ctx.media_location("Text")
        return _from_object(ctx, bucket, key)
    uri = ctx.input_metadata.get("TextTranscriptUri")
    if uri:
        bucket, key = _location(uri, "TextTranscriptUri")
        return _plain(ctx, bucket, key)
    if str(ctx.input_metadata.get("Mediainfo_num_audio_tracks", "")) == "0":
        return None
    raise OperatorError(
        f"{ctx.name} needs a Text input media object or TextTranscriptUri in the workflow MetaData "
        "(run TranscribeVideo or TranscribeAudio in an earlier stage)"
    )


def _location(ref: Any, what: str) -> tuple[str, str]:
    if not isinstance(ref, dict) or not ref.get("S3Bucket") or not ref.get("S3Key"):
        raise OperatorError(f"{what} must be an object with S3Bucket and S3Key, not {ref!r}")
    return str(ref["S3Bucket"]), str(ref["S3Key"])


def _from_object(ctx: OperatorContext, bucket: str, key: str) -> TextInput:
    path = _local_file(ctx, bucket, key)
    document = _json_document(path) if key.lower().endswith(".json") or _looks_like_json(path) else None
    if document is None:
        if key.lower().endswith(".json"):
            raise OperatorError(f"{ctx.name}: s3://{bucket}/{key} is not a JSON object")
        return TextInput(path=path, name=Path(key).name)
    if "TextTranscriptUri" in document:
        inner_bucket, inner_key = _location(document["TextTranscriptUri"], "TextTranscriptUri")
        return _plain(ctx, inner_bucket, inner_key)
    transcript = _transcribe_text(document)
    if transcript is not None:
        return TextInput(text=transcript, name=Path(key).name)
    raise OperatorError(
        f"{ctx.name}: JSON input s3://{bucket}/{key} has neither TextTranscriptUri nor "
        "results.transcripts[0].transcript (JSON can only come from a transcribe operator)"
    )


def _plain(ctx: OperatorContext, bucket: str, key: str) -> TextInput:
    return TextInput(path=_local_file(ctx, bucket, key), name=Path(key).name)


def _transcribe_text(document: JSONDict) -> str | None:
    """``results.transcripts[0].transcript`` of an AWS Transcribe result (all transcripts joined)."""
    results = document.get("results")
    if not isinstance(results, dict) or not isinstance(results.get("transcripts"), list):
        return None
    parts = [t.get("transcript", "") for t in results["transcripts"] if isinstance(t, dict)]
    return " ".join(str(p) for p in parts if p)


def _looks_like_json(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(64).lstrip().startswith(b"{")


def _json_document(path: Path) -> JSONDict | None:
    try:
        with path.open(encoding="utf-8-sig") as fh:
            document = json.load(fh)
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None


def _local_file(ctx: OperatorContext, bucket: str, key: str) -> Path:
    """The object as a local file: in place for a local store, else downloaded into the call's scratch folder."""
    try:
        path = ctx.dataplane.local_file(bucket, key, lambda: ctx.scratch / "text")
    except MieError as exc:  # NotFound, Invalid (a bad key), storage errors
        raise OperatorError(f"{ctx.name}: cannot read s3://{bucket}/{key}: {exc}") from exc
    if path is None:
        raise OperatorError(f"{ctx.name}: text object s3://{bucket}/{key} does not exist")
    return path


# Configuration -------------------------------------------------------------------------------------------------


def positive_int(ctx: OperatorContext, key: str, default: int) -> int:
    """A positive integer setting (an OperatorError names the bad value)."""
    value = ctx.config(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or isinstance(value, bool):
        raise OperatorError(f"{ctx.name}: {key} must be a positive integer, not {value!r}")
    return number


def english_only(ctx: OperatorContext) -> str:
    """The ``LanguageCode`` setting; the installed models are English ones, so anything else is an error."""
    code = str(ctx.config("LanguageCode", "en") or "en")
    if code.lower().split("-")[0] != "en":
        raise OperatorError(f"{ctx.name}: LanguageCode {code!r} is not supported; only 'en' models are installed")
    return "en"


# Storing results -----------------------------------------------------------------------------------------------


class ItemSpool:
    """Result items (entities, phrases, sentences) spooled to a scratch file as they are found, then stored as one
    result or, past ``page_size`` items, as result pages: memory stays flat however long the text is.

    Use it as a context manager, so the scratch file is closed however the call ends."""

    def __init__(self, ctx: OperatorContext, name: str) -> None:
        self._path = ctx.scratch / f"{name}.jsonl"
        self._fh: TextIO | None = None
        self.count = 0

    def __enter__(self) -> ItemSpool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the scratch file (the items stay readable through :meth:`batches`)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def add(self, item: JSONDict) -> None:
        """Append one item."""
        if self._fh is None:
            self._fh = self._path.open("a", encoding="utf-8")
        self._fh.write(json.dumps(item, ensure_ascii=False) + "\n")
        self.count += 1

    def batches(self, size: int) -> Iterator[list[JSONDict]]:
        """The items back, ``size`` at a time (at least one, possibly empty, batch)."""
        self.close()
        batch: list[JSONDict] = []
        sent = False
        if self.count:
            with self._path.open(encoding="utf-8") as fh:
                for line in fh:
                    batch.append(json.loads(line))
                    if len(batch) == size:
                        yield batch
                        sent = True
                        batch = []
        if batch or not sent:
            yield batch

    def store(
        self,
        ctx: OperatorContext,
        operator_name: str,
        page_size: int,
        wrap: Callable[[list[JSONDict]], JSONDict],
    ) -> int:
        """Store the items under ``operator_name``, each batch shaped by ``wrap``; returns the number of pages."""
        if self.count <= page_size:
            (only,) = list(self.batches(page_size))
            ctx.save_results(wrap(only), operator_name=operator_name)
            return 1
        with ctx.result_pages(operator_name=operator_name) as pages:
            for batch in self.batches(page_size):
                ctx.check_cancelled()
                pages.add(wrap(batch))
            return pages.count


def comprehend_items(
    ctx: OperatorContext,
    *,
    list_key: str,
    result_name: str,
    what: str,
    analyse: Callable[[str], list[JSONDict]],
) -> None:
    """Shared body of the Comprehend-shaped operators: read the transcript in chunks, call ``analyse`` on each (items
    with offsets relative to the chunk), shift the offsets, spool the items and store them under ``result_name`` as
    MIE's ``{"LanguageCode", "Results": ["{<list_key>: [...], "File"}"]}`` (paged past ``PageSize``)."""
    language = english_only(ctx)
    chunk_size = positive_int(ctx, "ChunkCharacters", DEFAULT_CHUNK)
    page_size = positive_int(ctx, "PageSize", DEFAULT_PAGE)
    source = find_text(ctx)
    name = source.name if source is not None else "transcript.txt"

    def wrap(batch: list[JSONDict]) -> JSONDict:
        line = json.dumps({list_key: batch, "File": name}, ensure_ascii=False)
        return {"LanguageCode": language, "Results": [line]}

    with ItemSpool(ctx, result_name) as spool:
        if source is not None:
            for offset, chunk in source.chunks(chunk_size):
                ctx.check_cancelled()
                if not chunk.strip():
                    continue
                for item in analyse(chunk):
                    item["BeginOffset"] += offset
                    item["EndOffset"] += offset
                    spool.add(item)
                ctx.progress(None, f"{spool.count} {what}")
        spool.store(ctx, result_name, page_size, wrap)
