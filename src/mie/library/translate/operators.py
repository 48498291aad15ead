"""MIE's ``Translate`` and ``TranslateWebCaptions`` operators, translating offline: the neural English <->
Portuguese models where installed, Apertium for every other pair (mie.library.translate.engines).

Inputs, configuration and outputs follow MIE (teardown §5.1 and its ``start_translate.py``/``webcaptions.py``):

* ``Translate`` (Text): reads the Transcribe JSON in ``Media.Text`` (``results.transcripts[0].transcript``; plain
  text and a ``TextTranscriptUri`` in the workflow's MetaData work too), stores ``{"TranslatedText",
  "SourceLanguageCode", "TargetLanguageCode"}`` under its name and points ``Media.Text`` at that result.
* ``TranslateWebCaptions`` (MetadataOnly): reads ``WebCaptions_<source>``, and for each of ``TargetLanguageCodes``
  stores ``WebCaptions_<lang>`` and ``WebCaptionsTranslate_<lang>`` (same timings, ``sourceCaption`` kept), a plain
  text ``translation_<lang>.txt``, and the ``CaptionsCollection`` under its own name.

Both take ``TerminologyNames`` (forced term translations) and ``ParallelDataNames`` (an exact source-sentence
match uses the stored target sentence), stored through ``/api/service/translate/*``.
"""

from __future__ import annotations

import json
from typing import Any

from mie.errors import MieError
from mie.library.translate.engines import Engine, find_engine, translate_units
from mie.library.translate.text import CHUNK_CHARS, Glossary, chunks
from mie.operators import OperatorContext, OperatorDefinition, OperatorError, operator
from mie.resources.glossaries import Reader, select
from mie.resources.translate import Kind
from mie.types import METADATA_ONLY, JSONDict, MediaType

#: Seconds one Apertium run may take: a cold start (about 2 s) plus generous time per character.
_BASE_TIMEOUT = 60.0
_CHARS_PER_SECOND = 200.0


def _source_language(ctx: OperatorContext, detected_key: str) -> str:
    # As MIE: a language detected upstream (Transcribe's auto-detection) wins over the configuration.
    detected = ctx.input_metadata.get(detected_key)
    if isinstance(detected, str) and detected.strip():
        return detected.split("-")[0]
    code = ctx.config("SourceLanguageCode") or "en"
    if not isinstance(code, str):
        raise OperatorError(f"{ctx.name}: SourceLanguageCode must be a language code such as 'en'")
    return code


def _timeout(ctx: OperatorContext, chars: int) -> float:
    limit = _BASE_TIMEOUT + chars / _CHARS_PER_SECOND
    remaining = ctx.remaining_seconds
    return limit if remaining is None else max(1.0, min(limit, remaining))


def _reader(ctx: OperatorContext) -> Reader:
    """Reads the stored terminologies and parallel data (objects of the data-plane bucket)."""
    dataplane = ctx.dataplane
    return lambda key: dataplane.read_object(dataplane.default_bucket, key)


def _glossary(ctx: OperatorContext, source: str, target: str) -> Glossary:
    """The terminologies and parallel data of the configuration that apply to ``source`` -> ``target``."""
    read = _reader(ctx)
    terms: dict[str, str] = {}
    memory: dict[str, str] = {}
    wanted: tuple[tuple[Kind, Any, dict[str, str]], ...] = (
        ("terminology", ctx.config("TerminologyNames"), terms),
        ("parallel-data", ctx.config("ParallelDataNames"), memory),
    )
    for kind, setting, into in wanted:
        used, skipped = select(read, kind, setting=setting, source=source, target=target)
        for resource in used:
            for src, tgt in resource.mapping(source, target).items():
                into.setdefault(src, tgt)  # the first resource named wins
        if skipped:
            ctx.log.info("%s: %s %s not for %s->%s, not used", ctx.name, kind, ", ".join(skipped), source, target)
    return Glossary(terms, memory)


# Translate ---------------------------------------------------------------------------------------------------


def _text_of(raw: bytes) -> str | None:
    """The text in a ``Media.Text`` object: a Transcribe result's transcript, a Translate result's translation,
    or the object itself when it is plain text; None for other JSON."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
    if isinstance(doc, str):
        return doc
    if not isinstance(doc, dict):
        return None
    results = doc.get("results")
    if isinstance(results, dict) and isinstance(results.get("transcripts"), list):
        transcripts = results["transcripts"]
        first = transcripts[0] if transcripts else {}
        return str(first.get("transcript") or "") if isinstance(first, dict) else ""
    if isinstance(doc.get("TranslatedText"), str):
        return str(doc["TranslatedText"])
    return None


def _source_text(ctx: OperatorContext) -> str:
    where = "no Media.Text"
    if MediaType.TEXT in ctx.input_media:
        bucket, key = ctx.media_location("Text")
        text = _text_of(ctx.input_file("Text").read_bytes())
        if text is not None:
            return text
        where = f"Media.Text s3://{bucket}/{key} is JSON but not a Transcribe result"
    ref = ctx.input_metadata.get("TextTranscriptUri")
    if isinstance(ref, dict) and ref.get("S3Bucket") and ref.get("S3Key"):
        try:
            raw = ctx.dataplane.read_object(str(ref["S3Bucket"]), str(ref["S3Key"]))
        except MieError as exc:
            raise OperatorError(f"{ctx.name}: cannot read the transcript TextTranscriptUri: {exc}") from exc
        return raw.decode("utf-8", "replace")
    raise OperatorError(
        f"{ctx.name}: {where} and no TextTranscriptUri in the workflow's MetaData: run TranscribeVideo or "
        "TranscribeAudio in an earlier stage, or give a text file"
    )


def translate_text(ctx: OperatorContext, text: str, pair: Engine, glossary: Glossary) -> str:
    """``text`` translated chunk by chunk (sentence ends), reporting progress and honouring cancellation."""
    parts = chunks(text, CHUNK_CHARS)
    out: list[str] = []
    for index, (chunk, separator) in enumerate(parts):
        ctx.check_cancelled()
        (translated,) = translate_units([glossary.prepare(chunk)], pair, timeout=_timeout(ctx, len(chunk)))
        out.append(translated)
        if separator:
            out.append("\n\n" if "\n\n" in separator else "\n" if "\n" in separator else " ")
        if len(parts) > 1:
            ctx.progress(100.0 * (index + 1) / len(parts), f"translated {index + 1} of {len(parts)} chunks")
    return "".join(out).strip()


@operator(
    "Translate",
    media_type="Text",
    configuration={
        "SourceLanguageCode": "en",
        "TargetLanguageCode": "es",
        "TerminologyNames": [],
        "ParallelDataNames": [],
    },
    description="Translate the transcript offline (neural en<->pt, Apertium elsewhere; MIE's Translate output).",
)
def translate(ctx: OperatorContext) -> JSONDict | None:
    """Translate the transcript from ``SourceLanguageCode`` into ``TargetLanguageCode``."""
    source = _source_language(ctx, "TranscribeSourceLanguage")
    target = ctx.config("TargetLanguageCode") or "es"
    if not isinstance(target, str):
        raise OperatorError(f"{ctx.name}: TargetLanguageCode must be a language code such as 'es'")
    text = _source_text(ctx).strip()
    if not text:
        # As MIE: nothing to translate is a success with no result.
        ctx.log.info("%s: the transcript is empty; nothing to translate", ctx.name)
        return None
    pair = find_engine(source, target)
    glossary = _glossary(ctx, source, target)
    translated = translate_text(ctx, text, pair, glossary)
    result: JSONDict = {"TranslatedText": translated, "SourceLanguageCode": source, "TargetLanguageCode": target}
    stored = ctx.dataplane.store_metadata(
        ctx.asset_id, {"OperatorName": ctx.name, "Results": result, "WorkflowId": ctx.workflow_execution_id}
    )
    # MIE hands the stored translation to later stages as their Text media.
    ctx.media["Text"] = {"S3Bucket": stored["Bucket"], "S3Key": stored["Key"]}
    return None


# TranslateWebCaptions ------------------------------------------------------------------------------------------


def _codes(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [code.strip() for code in value.split(",")]
    if not isinstance(value, list) or not value or not all(isinstance(c, str) and c.strip() for c in value):
        raise OperatorError("TargetLanguageCodes must be a non-empty list of language codes, such as ['es']")
    return list(dict.fromkeys(c.strip() for c in value))


def _web_captions(ctx: OperatorContext, language: str) -> list[JSONDict]:
    name = f"WebCaptions_{language}"
    dataplane = ctx.dataplane
    try:
        page = dataplane.get_operator_metadata(ctx.asset_id, name)
    except MieError as exc:
        raise OperatorError(
            f"{ctx.name}: no {name} result for this asset: run WebCaptions (SourceLanguageCode {language!r}) in an "
            "earlier stage"
        ) from exc
    captions: list[JSONDict] = []
    while True:
        results = page.get("results")
        found = results.get("WebCaptions") if isinstance(results, dict) else None
        if not isinstance(found, list):
            raise OperatorError(f"{ctx.name}: {name} has no WebCaptions list")
        for caption in found:
            if not isinstance(caption, dict) or "start" not in caption or "end" not in caption:
                raise OperatorError(f"{ctx.name}: {name} holds a caption without start/end: {caption!r}")
            captions.append(caption)
        if not page.get("cursor"):
            return captions
        page = dataplane.get_operator_metadata(ctx.asset_id, name, str(page["cursor"]))


def _caption_groups(captions: list[JSONDict]) -> list[list[int]]:
    groups: list[list[int]] = [[]]
    size = 0
    for index, caption in enumerate(captions):
        length = len(str(caption.get("caption") or ""))
        if groups[-1] and size + length > CHUNK_CHARS:
            groups.append([])
            size = 0
        groups[-1].append(index)
        size += length
    return [group for group in groups if group]


def _translate_webcaptions(ctx: OperatorContext) -> JSONDict:
    """Translate ``WebCaptions_<source>`` into each of ``TargetLanguageCodes``, keeping every caption's timing."""
    source = _source_language(ctx, "IdentifiedSourceLanguage")
    targets = _codes(ctx.config("TargetLanguageCodes", ["es"]))
    captions = _web_captions(ctx, source)
    pairs = {target: find_engine(source, target) for target in targets}  # every pair checked before any work
    location = ctx.dataplane.media_path(ctx.asset_id, ctx.workflow_execution_id)
    groups = _caption_groups(captions)
    total = max(1, len(groups) * len(targets))
    done = 0
    collection: list[JSONDict] = []
    for target in targets:
        glossary = _glossary(ctx, source, target)
        texts = [""] * len(captions)
        for group in groups:
            ctx.check_cancelled()
            todo = [i for i in group if str(captions[i].get("caption") or "").strip()]
            units = [glossary.prepare(str(captions[i]["caption"]).strip()) for i in todo]
            chars = sum(len(str(captions[i]["caption"])) for i in todo)
            for i, out in zip(todo, translate_units(units, pairs[target], timeout=_timeout(ctx, chars)), strict=True):
                texts[i] = out
            done += 1
            ctx.progress(100.0 * done / total, f"translated captions into {target}")
        translated: list[JSONDict] = [
            {"start": c["start"], "end": c["end"], "caption": t, "sourceCaption": c.get("caption", "")}
            for c, t in zip(captions, texts, strict=True)
        ]
        for name in (f"WebCaptions_{target}", f"WebCaptionsTranslate_{target}"):
            ctx.save_results({"WebCaptions": translated}, operator_name=name)
        key = f"{location['S3Key']}translation_{target}.txt"
        ctx.dataplane.put_object(location["S3Bucket"], key, " ".join(t for t in texts if t).encode())
        collection.append(
            {
                "OperatorName": f"TranslateWebCaptions_{target}",
                "TranslationText": {"S3Bucket": location["S3Bucket"], "S3Key": key},
                "WorkflowId": ctx.workflow_execution_id,
                "TargetLanguageCode": target,
            }
        )
    ctx.save_results({"CaptionsCollection": collection})
    return {"AssetId": ctx.asset_id, "WorkflowExecutionId": ctx.workflow_execution_id}


# MIE declares TranslateWebCaptions MetadataOnly: it reads earlier results, whatever media the execution has.
translate_webcaptions: OperatorDefinition = operator(
    "TranslateWebCaptions",
    media_type=METADATA_ONLY,
    configuration={
        "SourceLanguageCode": "en",
        "TargetLanguageCodes": ["es"],
        "TerminologyNames": [],
        "ParallelDataNames": [],
    },
    description="Translate WebCaptions offline into each target language, keeping the timings.",
)(_translate_webcaptions)

ALL: tuple[OperatorDefinition, ...] = (translate, translate_webcaptions)
