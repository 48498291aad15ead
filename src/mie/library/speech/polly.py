"""``Polly`` and ``PollyWebCaptions``: speech synthesis of the translated text and of the captions, as MP3 media.

MIE called Amazon Polly; offline, the voice is **espeak-ng** (Debian's ``espeak-ng``, GPL-3.0, run as a separate
program — never linked), a formant synthesiser: clear and intelligible in about a hundred languages, but robotic.
No neural voice with its weights inside a package was found. ffmpeg encodes the result as MP3, as Polly's tasks did.

* ``Polly`` (Text): the text in ``Media.Text`` (``Translate``'s stored translation, a Transcribe result or plain
  text) in its language — ``LanguageCode`` from the configuration, else the translation's ``TargetLanguageCode``,
  else detected (MIE asked Comprehend ``DetectDominantLanguage``; here langdetect) — becomes ``Media.Audio``
  ``…/workflows/<w>/audio.<PollyJobId>.mp3``, MetaData ``PollyJobId``.
* ``PollyWebCaptions`` (MetadataOnly): every caption language's ``WebCaptions_<lang>`` becomes
  ``…/workflows/<w>/audio_only_<lang>.<id>.mp3``; the list is stored as ``PollyWebCaptions`` =
  ``{"PollyCollection": [...]}`` and returned in MetaData ``PollyCollection``.

Voices are espeak-ng's, chosen by language code (:func:`voice_for`); a language espeak-ng cannot speak fails with a
clear error. Long texts are spoken in chunks cut at sentence ends (progress and cancellation between chunks) and
joined into one MP3. Ids are derived from the execution, so a task run twice writes the same objects. As in MIE both
are Async: the start synthesises and stores the audio, the monitor checks it is stored and names the output media.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from mie.errors import NotFoundError, OperatorError
from mie.library.speech.caption_ops import read_result, source_language
from mie.operators import OperatorContext, operator
from mie.operators.media import find_tool
from mie.types import JSONDict

INSTALL = "apt-get install espeak-ng ffmpeg"
#: Characters spoken per espeak-ng call (cut at a sentence end): progress and cancellation between chunks.
CHUNK_CHARS = 3000
#: Longest text synthesised (Amazon Polly's limit for one synthesis task).
MAX_CHARS = 200_000
#: espeak-ng's own speaking rate (words per minute) unless ``SpeechRate`` says otherwise.
DEFAULT_RATE = 175
#: Language codes whose espeak-ng voice has another name (the first match in espeak-ng's list wins).
ALIASES: dict[str, tuple[str, ...]] = {
    "en": ("en-us", "en-gb"),
    "fr": ("fr-fr",),
    "zh": ("cmn",),
    "zh-cn": ("cmn",),
    "zh-tw": ("cmn",),
    "no": ("nb",),
    "nn": ("nb",),
    "es-mx": ("es-419",),
    "es-us": ("es-419",),
    "iw": ("he",),
}
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+")
_NAMESPACE = uuid.UUID("6f0c5c1e-9d0b-4c33-9a55-9b3f3f1f2a10")
_voices: dict[str, str] | None = None


def _tool(name: str) -> str:
    return find_tool(name, INSTALL, needed_by="speech synthesis")


def voices() -> dict[str, str]:
    """espeak-ng's voices: language code (lower case) → the voice to pass to ``-v``. Read once per process."""
    global _voices
    if _voices is None:
        done = subprocess.run([_tool("espeak-ng"), "--voices"], capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise OperatorError(f"espeak-ng --voices failed: {done.stderr.strip()[-300:]}")
        found: dict[str, str] = {}
        for line in done.stdout.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 4:
                found.setdefault(fields[1].lower(), fields[1])
        _voices = found
    return _voices


def voice_for(language: str) -> str:
    """The espeak-ng voice for a language code (``en``, ``en-US``, ``pt-BR``, ``zh``, ``es``): the exact code, else
    its alias, else its base language; an :class:`OperatorError` naming the code when espeak-ng has no voice."""
    available = voices()
    code = language.strip().lower().replace("_", "-")
    base = code.split("-")[0]
    for candidate in (code, *ALIASES.get(code, ()), base, *ALIASES.get(base, ())):
        if candidate in available:
            return available[candidate]
    raise OperatorError(
        f"no espeak-ng voice speaks language {language!r} ({len(available)} voices are installed; "
        "`espeak-ng --voices` lists them)"
    )


def chunks(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, cut after sentence ends (else at spaces)."""
    pieces: list[str] = []
    current = ""
    for whole in _SENTENCE_END.split(text.strip()):
        sentence = whole
        while len(sentence) > size:  # one enormous "sentence": cut at the last space that fits
            cut = sentence.rfind(" ", 0, size)
            cut = cut if cut > 0 else size
            pieces.extend([current] if current else [])
            current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > size:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return [p for p in pieces if p.strip()]


def _rate(ctx: OperatorContext) -> int:
    value = ctx.config("SpeechRate", DEFAULT_RATE)
    try:
        rate = int(value)
    except (TypeError, ValueError):
        rate = 0
    if not 80 <= rate <= 450 or isinstance(value, bool):
        raise OperatorError(f"{ctx.name}: configuration SpeechRate must be 80-450 words per minute, not {value!r}")
    return rate


def synthesise(ctx: OperatorContext, text: str, voice: str, target: Path, what: str) -> float:
    """Speak ``text`` with ``voice`` into the MP3 ``target``; its duration in seconds."""
    espeak, ffmpeg = _tool("espeak-ng"), _tool("ffmpeg")
    pieces = chunks(text)
    if not pieces:
        raise OperatorError(f"{ctx.name}: {what} has no words to speak")
    work = target.parent / f"{target.stem}-parts"
    work.mkdir(parents=True, exist_ok=True)
    rate = _rate(ctx)
    listing = []
    for index, piece in enumerate(pieces):
        ctx.check_cancelled()
        source, wav = work / f"{index:05d}.txt", work / f"{index:05d}.wav"
        source.write_text(piece, encoding="utf-8")
        # -b 1: the input is UTF-8; -f: read a file (no length limit of the command line).
        command = [espeak, "-v", voice, "-s", str(rate), "-b", "1", "-f", str(source), "-w", str(wav)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60 + len(piece) / 20, check=False)
        if done.returncode != 0 or not wav.is_file() or wav.stat().st_size <= 44:
            raise OperatorError(f"{ctx.name}: espeak-ng failed on {what}: {done.stderr.strip()[-300:] or 'no audio'}")
        listing.append(f"file '{wav.name}'")
        ctx.progress(90.0 * (index + 1) / len(pieces), f"{what}: spoke {index + 1} of {len(pieces)} parts")
    (work / "list.txt").write_text("\n".join(listing) + "\n", encoding="utf-8")
    command = [ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(work / "list.txt"),
               "-c:a", "libmp3lame", "-b:a", "48k", "-ar", "22050", "-ac", "1", str(target)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0 or not target.is_file():
        raise OperatorError(f"{ctx.name}: ffmpeg could not encode the speech of {what}: {done.stderr.strip()[-300:]}")
    shutil.rmtree(work, ignore_errors=True)
    return _duration(target)


def _duration(path: Path) -> float:
    probe = shutil.which("ffprobe")
    if probe is None:
        return 0.0
    done = subprocess.run([probe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    try:
        return round(float(done.stdout.strip()), 3)
    except ValueError:
        return 0.0


def _task_id(ctx: OperatorContext, what: str) -> str:
    """A Polly-style task id, the same for every run of this task (so a retry overwrites, never duplicates)."""
    return str(uuid.uuid5(_NAMESPACE, f"{ctx.asset_id}/{ctx.workflow_execution_id}/{ctx.name}/{what}"))


def _store(ctx: OperatorContext, path: Path, name: str) -> JSONDict:
    location = ctx.dataplane.media_path(ctx.asset_id, ctx.workflow_execution_id)
    key = f"{location['S3Key']}{name}"
    with path.open("rb") as fh:
        ctx.dataplane.put_object(location["S3Bucket"], key, fh)
    return {"S3Bucket": location["S3Bucket"], "S3Key": key}


# Polly ----------------------------------------------------------------------------------------------------------


def read_text(raw: bytes) -> tuple[str, str | None]:
    """``(text, language code or None)`` of a ``Media.Text`` object: a Translate result, a Transcribe result (with
    its ``language_code``, when present), or plain UTF-8 text."""
    decoded = raw.decode("utf-8-sig", "replace")
    try:
        doc = json.loads(decoded)
    except ValueError:
        return decoded, None
    if isinstance(doc, str):
        return doc, None
    if isinstance(doc, dict):
        if isinstance(doc.get("TranslatedText"), str):
            target = doc.get("TargetLanguageCode")
            return doc["TranslatedText"], target if isinstance(target, str) and target else None
        results = doc.get("results")
        if isinstance(results, dict) and isinstance(results.get("transcripts"), list):
            first = results["transcripts"][0] if results["transcripts"] else {}
            language = results.get("language_code") or doc.get("language_code")
            text = str(first.get("transcript") or "") if isinstance(first, dict) else ""
            return text, language if isinstance(language, str) and language else None
    raise OperatorError("Media.Text is JSON but neither a Translate nor a Transcribe result")


def detect_language(text: str) -> str | None:
    """The dominant language of ``text`` by langdetect (the nlp extra), as MIE asked Comprehend; None if unknown."""
    try:
        from mie.library.text import models
        from mie.library.text.language import detect
    except ImportError:  # pragma: no cover - the text library is part of this package
        return None
    try:
        factory, lock = models.langdetect_factory()
    except OperatorError:
        return None
    with lock:
        found = detect(factory, [text[:10_000]])
    return str(found[0]["LanguageCode"]) if found else None


@operator(
    "Polly",
    media_type="Text",
    asynchronous=True,
    timeout=3600,
    description="The text (a translation) spoken by espeak-ng as MP3 audio, as MIE's Polly.",
    configuration={"SpeechRate": DEFAULT_RATE},
)
def polly(ctx: OperatorContext) -> JSONDict:
    """Speak ``Media.Text`` in its language; output ``Media.Audio`` and MetaData ``PollyJobId``."""
    bucket, key = ctx.media_location("Text")
    try:
        text, language = read_text(ctx.input_file("Text").read_bytes())
    except OperatorError as exc:
        raise OperatorError(f"{ctx.name}: s3://{bucket}/{key}: {exc}") from exc
    text = text.strip()
    if not text:
        return {"PollyAudio": "skipped: the text is empty", "AssetId": ctx.asset_id,
                "WorkflowExecutionId": ctx.workflow_execution_id}  # fmt: skip
    if len(text) > MAX_CHARS:
        raise OperatorError(f"{ctx.name}: the text has {len(text)} characters, more than {MAX_CHARS} (Polly's limit)")
    configured = ctx.config("LanguageCode")
    code = str(configured) if configured else language or detect_language(text)
    if not code:
        raise OperatorError(f"{ctx.name}: the language of the text is unknown: set LanguageCode in the configuration")
    voice = voice_for(code)
    task = _task_id(ctx, "text")
    target = ctx.scratch / f"audio.{task}.mp3"
    duration = synthesise(ctx, text, voice, target, "the text")
    _store(ctx, target, target.name)
    ctx.progress(100.0, f"spoke {duration:.1f} s")
    return {
        "PollyJobId": task,
        "PollyLanguageCode": code,
        "PollyVoiceId": voice,
        "AssetId": ctx.asset_id,
        "WorkflowExecutionId": ctx.workflow_execution_id,
    }


def _stored(ctx: OperatorContext, ref: JSONDict, what: str) -> JSONDict:
    bucket, key = str(ref.get("S3Bucket") or ""), str(ref.get("S3Key") or "")
    if not bucket or not key or not ctx.dataplane.object_exists(bucket, key):
        raise OperatorError(f"{ctx.name}: the synthesised audio of {what} (s3://{bucket}/{key}) is not in the store")
    return {"S3Bucket": bucket, "S3Key": key}


@polly.monitor
def polly_monitor(ctx: OperatorContext) -> None:
    """MIE's monitor: the task's MP3 is in the store; name it as the output ``Media.Audio``."""
    job = ctx.metadata.get("PollyJobId")
    if not isinstance(job, str) or not job:
        return  # nothing was spoken (an empty text)
    location = ctx.dataplane.media_path(ctx.asset_id, ctx.workflow_execution_id)
    ref = {"S3Bucket": location["S3Bucket"], "S3Key": f"{location['S3Key']}audio.{job}.mp3"}
    ctx.media["Audio"] = _stored(ctx, ref, "the text")


# PollyWebCaptions -----------------------------------------------------------------------------------------------


def _caption_languages(ctx: OperatorContext) -> tuple[list[str], bool]:
    """The languages to speak and whether they were asked for (then a missing language is an error)."""
    targets = ctx.config("TargetLanguageCodes")
    if targets:
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
            raise OperatorError(f"TargetLanguageCodes must be a list of language codes, not {targets!r}")
        return list(dict.fromkeys(targets)), True
    languages = [source_language(ctx)]
    try:
        pages = read_result(ctx, "TranslateWebCaptions")
    except NotFoundError:
        pages = []
    for page in pages:
        for item in page.get("CaptionsCollection") or [] if isinstance(page, dict) else []:
            code = item.get("TargetLanguageCode") if isinstance(item, dict) else None
            if isinstance(code, str) and code:
                languages.append(code)
    return list(dict.fromkeys(languages)), False


def _caption_text(ctx: OperatorContext, language: str) -> str | None:
    try:
        pages = read_result(ctx, f"WebCaptions_{language}")
    except NotFoundError:
        return None
    lines = [
        str(caption["caption"]).strip()
        for page in pages
        if isinstance(page, dict)
        for caption in page.get("WebCaptions") or []
        if isinstance(caption, dict) and isinstance(caption.get("caption"), str)
    ]
    return " ".join(line for line in lines if line)


@operator(
    "PollyWebCaptions",
    media_type="MetadataOnly",
    asynchronous=True,
    timeout=3600,
    description="Every caption language's WebCaptions spoken by espeak-ng as MP3 audio, as MIE's PollyWebCaptions.",
    configuration={"SourceLanguageCode": "en", "SpeechRate": DEFAULT_RATE},
)
def polly_web_captions(ctx: OperatorContext) -> JSONDict:
    """Speak ``WebCaptions_<lang>`` of each caption language; store ``{"PollyCollection": [...]}``."""
    languages, asked = _caption_languages(ctx)
    collection: list[JSONDict] = []
    for language in languages:
        text = _caption_text(ctx, language)
        if text is None:
            if asked:
                raise OperatorError(f"{ctx.name}: asset {ctx.asset_id} has no WebCaptions_{language}")
            continue
        if not text:
            continue
        if len(text) > MAX_CHARS:
            raise OperatorError(f"{ctx.name}: the {language} captions have more than {MAX_CHARS} characters")
        voice = voice_for(language)
        task = _task_id(ctx, language)
        target = ctx.scratch / f"audio_only_{language}.{task}.mp3"
        duration = synthesise(ctx, text, voice, target, f"the {language} captions")
        collection.append(
            {
                "OperatorName": f"PollyWebCaptions_{language}",
                "LanguageCode": language,
                "VoiceId": voice,
                "PollyTaskId": task,
                "PollyAudio": _store(ctx, target, target.name),
                "DurationSeconds": duration,
                "WorkflowId": ctx.workflow_execution_id,
            }
        )
    ctx.save_results({"PollyCollection": collection})
    return {"PollyCollection": collection, "AssetId": ctx.asset_id, "WorkflowExecutionId": ctx.workflow_execution_id}


@polly_web_captions.monitor
def polly_web_captions_monitor(ctx: OperatorContext) -> None:
    """MIE's monitor: every MP3 of the collection is in the store."""
    for entry in ctx.metadata.get("PollyCollection") or []:
        if isinstance(entry, dict) and isinstance(entry.get("PollyAudio"), dict):
            _stored(ctx, entry["PollyAudio"], f"the {entry.get('LanguageCode')} captions")
