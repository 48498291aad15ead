"""``TranscribeVideo`` and ``TranscribeAudio``: MIE's Transcribe operators on faster-whisper.

Input audio, in order of preference: ``Audio16k`` (16 kHz mono WAV that ``Thumbnail`` derives once per execution),
``Audio``, ``Video`` (decoded to 16 kHz mono with ffmpeg in the call's scratch folder). Output as MIE's
``get_transcribe.py``: the Transcribe JSON (plus ``TextTranscriptUri``) stored under the operator's name, a
plain-text ``transcript.txt`` object, a ``Text`` media object holding the same JSON (what ``Translate`` and the
Comprehend operators read), and MetaData ``TranscribeJobId`` and ``TextTranscriptUri``. Media without an audio
track completes with an empty transcript.

Configuration: ``TranscribeLanguage`` (default ``en-US``; ``auto`` identifies the language, as Transcribe's
``IdentifyLanguage: true``, which is accepted too), ``LanguageOptions`` (identify among these codes only),
``Model`` (``tiny.en`` or ``base``; default tiny.en for English and the multilingual base for other languages and
identification, see mie.library.speech.models), ``VocabularyName`` (a custom vocabulary, see
``/api/service/transcribe``), ``ModelPath`` (a CTranslate2 Whisper model directory instead of a bundled one),
``BeamSize`` (default 5 for tiny.en, 1 for base), ``CpuThreads`` (default: all cores).

An identified language is reported as Transcribe does (``language_code`` such as ``es-US``) and handed to later
stages in MetaData ``TranscribeSourceLanguage`` (what ``Translate`` reads) and ``IdentifiedSourceLanguage`` (what
``WebCaptions`` and ``TranslateWebCaptions`` read), with ``IdentifiedLanguageScore``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mie.errors import OperatorError
from mie.library.speech import models, whisper
from mie.library.speech.transcript import apply_vocabulary, build_items, hotwords, transcribe_json
from mie.library.speech.vocabulary import load_vocabulary
from mie.operators import OperatorContext, operator
from mie.operators.media import Watchdog
from mie.types import JSONDict

#: Media kinds the operators read, best first (``Audio16k`` needs no decoding).
AUDIO_KINDS = ("Audio16k", "Audio", "Video")
DEFAULTS: JSONDict = {"TranscribeLanguage": "en-US"}
_ALIASES = {"iw": "he", "nb": "no", "fil": "tl"}
_PROGRESS_EVERY = 0.5


def whisper_language(code: Any) -> str | None:
    """``en-US`` -> ``en``; ``auto`` (or empty) -> None (detect)."""
    if code is None or (isinstance(code, str) and code.strip().lower() in ("", "auto")):
        return None
    if not isinstance(code, str):
        raise OperatorError(f"TranscribeLanguage must be a language code such as 'en-US', not {code!r}")
    primary = code.strip().split("-")[0].split("_")[0].lower()
    return _ALIASES.get(primary, primary)


def _positive_int(ctx: OperatorContext, key: str, default: int | None) -> int | None:
    value = ctx.config(key, default)
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise OperatorError(f"{key} must be a positive integer, not {value!r}")
    return number


def _source(ctx: OperatorContext) -> Path:
    for kind in AUDIO_KINDS:
        if kind in ctx.input_media:
            return ctx.input_file(kind)
    have = ", ".join(ctx.input_media) or "none"
    raise OperatorError(f"{ctx.name} needs Audio or Video input media (this execution has: {have})")


def _check_language(model: Any, language: str | None, configured: Any) -> str | None:
    if not whisper.is_multilingual(model):
        if language not in (None, "en"):
            raise OperatorError(
                f"TranscribeLanguage {configured!r} is not supported by the English-only Whisper model; use Model "
                "'base' (multilingual), or set ModelPath to a multilingual CTranslate2 Whisper model directory"
            )
        return "en"
    if language is not None and language not in whisper.supported_languages(model):
        raise OperatorError(f"TranscribeLanguage {configured!r} is not a language this Whisper model knows")
    return language


def _identify(ctx: OperatorContext, configured: Any) -> bool:
    """Whether the language is to be identified (``TranscribeLanguage: auto`` or ``IdentifyLanguage: true``)."""
    flag = ctx.config("IdentifyLanguage", False)
    if isinstance(flag, str):
        flag = flag.strip().lower() in ("true", "1", "yes")
    return bool(flag) or whisper_language(configured) is None


def _language_options(ctx: OperatorContext) -> list[str]:
    raw = ctx.config("LanguageOptions") or []
    if isinstance(raw, str):
        raw = [part for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(code, str) and code.strip() for code in raw):
        raise OperatorError(f"LanguageOptions must be a list of language codes such as ['en-US', 'es-US'], not {raw!r}")
    return list(dict.fromkeys(str(whisper_language(code)) for code in raw))


def _model_path(ctx: OperatorContext, language: str | None) -> tuple[str | None, str]:
    """``(model directory or None for the bundled tiny.en, model name for logs and beam defaults)``."""
    explicit = ctx.config("ModelPath")
    if explicit:
        return str(explicit), "custom"
    name = models.model_name(ctx.config("Model"), language)
    if name == "tiny.en":
        return None, name
    scratch_root = ctx.runtime.scratch_root
    # Joined models live beside the scratch folders, under the data directory (<data-dir>/models).
    cache = scratch_root.parent / "models" if scratch_root is not None else None
    return str(models.base_model_path(cache)), name


def _decode_check(ctx: OperatorContext) -> Callable[[], None]:
    """Stops the audio decoding on cancellation or at the time limit (no stall limit: ffmpeg prints nothing while
    it decodes, however long the file)."""
    return Watchdog(ctx, f"{ctx.name}: decoding audio", stall=math.inf).check


def _progress_reporter(ctx: OperatorContext) -> Any:
    last = [0.0]

    def report(end: float, duration: float) -> None:
        ctx.check_cancelled()
        now = time.monotonic()
        if duration > 0 and now - last[0] >= _PROGRESS_EVERY:
            last[0] = now
            ctx.progress(min(99.0, 100.0 * end / duration), f"transcribed {end:.0f} of {duration:.0f} s")

    return report


def run_transcribe(ctx: OperatorContext) -> JSONDict:
    """The body shared by both operators; returns the stored Transcribe document."""
    job_name = f"transcribe-{ctx.workflow_execution_id}"
    ctx.metadata["TranscribeJobId"] = job_name
    configured = ctx.config("TranscribeLanguage", "en-US")
    identify = _identify(ctx, configured)
    options = _language_options(ctx) if identify else []
    language = None if identify else whisper_language(configured)
    vocabulary_name = ctx.config("VocabularyName")
    entries = load_vocabulary(ctx, str(vocabulary_name)) if vocabulary_name else []
    threads = _positive_int(ctx, "CpuThreads", None)

    # MIE skips media Mediainfo found silent; we also look ourselves, since Mediainfo may not have run.
    silent = str(ctx.input_metadata.get("Mediainfo_num_audio_tracks", "")) == "0"
    source = None if silent else _source(ctx)
    items: list[JSONDict] = []
    spaced = True
    language_code = configured if language is not None else "en-US"
    if source is not None and (source.suffix.lower() == ".wav" or whisper.has_audio(source)):
        path, name = _model_path(ctx, language)
        beam_size = _positive_int(ctx, "BeamSize", models.DEFAULT_BEAM.get(name, 5)) or 5
        model = whisper.load_model(path, threads=threads)
        language = _check_language(model, language, configured)
        for code in options:
            _check_language(model, code, code)
        ctx.progress(0.0, "decoding audio")
        audio = (
            source if "Audio16k" in ctx.input_media else whisper.prepare_audio(source, ctx.scratch, _decode_check(ctx))
        )
        score = None
        if identify and len(options) > 1 and whisper.is_multilingual(model):
            language, score = whisper.identify_language(model, audio, options)
        elif identify and options:
            language = options[0]
        result = whisper.transcribe(
            model, audio, language=language, hotwords=hotwords(entries), beam_size=beam_size,
            on_segment=_progress_reporter(ctx),
        )  # fmt: skip
        spaced = result.spaced
        items = apply_vocabulary(build_items(result.words, spaced=spaced), entries)
        if identify:
            language_code = models.transcribe_code(result.language)
            ctx.metadata["TranscribeSourceLanguage"] = language_code
            ctx.metadata["IdentifiedSourceLanguage"] = language_code
            probability = score if score is not None else result.language_probability
            ctx.metadata["IdentifiedLanguageScore"] = round(probability, 4)
            ctx.log.info("identified the language as %s (%s)", language_code, ctx.metadata["IdentifiedLanguageScore"])
        ctx.log.info(
            "transcribed %.1f s (%.1f s of speech) into %d items", result.duration, result.speech_duration, len(items)
        )
    document = transcribe_json(job_name, str(language_code), items, spaced=spaced)
    text = document["results"]["transcripts"][0]["transcript"]

    location = ctx.dataplane.media_path(ctx.asset_id, ctx.workflow_execution_id)
    uri = {"S3Bucket": location["S3Bucket"], "S3Key": f"{location['S3Key']}{ctx.name}/transcript.txt"}
    ctx.dataplane.put_object(uri["S3Bucket"], uri["S3Key"], text.encode())
    document["TextTranscriptUri"] = uri
    ctx.save_results(document)
    ctx.add_media("Text", json.dumps(document, ensure_ascii=False).encode(), filename=f"{ctx.name}.json")
    ctx.metadata["TextTranscriptUri"] = uri
    ctx.progress(100.0, "transcribed")
    return document


@operator(
    "TranscribeVideo",
    media_type="Video",
    description="Speech to text (Whisper) for a video's audio, stored as Amazon Transcribe JSON.",
    configuration=DEFAULTS,
    asynchronous=True,
    isolation="process",
)
def transcribe_video(ctx: OperatorContext) -> None:
    """Transcribe the audio of the input video."""
    run_transcribe(ctx)


@operator(
    "TranscribeAudio",
    media_type="Audio",
    description="Speech to text (Whisper) for audio, stored as Amazon Transcribe JSON.",
    configuration=DEFAULTS,
    asynchronous=True,
    isolation="process",
)
def transcribe_audio(ctx: OperatorContext) -> None:
    """Transcribe the input audio."""
    run_transcribe(ctx)
