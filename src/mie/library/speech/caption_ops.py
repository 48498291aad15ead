"""Caption operators with MIE's names and results: ``WebCaptions``, ``CreateSRTCaptions``, ``CreateVTTCaptions``,
``WebToSRTCaptions``, ``WebToVTTCaptions`` (MIE ``source/operators/captions/webcaptions.py``).

They read metadata, not media. MIE declares them ``MetadataOnly``; the operator SDK declares media types only, so
they are declared ``Text`` (the transcript every one of them needs brings ``Text``) and a workflow may still set
``MediaType: MetadataOnly`` in their configuration.

Data-plane results (operator names as MIE):

* ``WebCaptions`` stores ``WebCaptions<TranscribeOperator>_<lang>`` (captions as Transcribe made them) and
  ``WebCaptions_<lang>`` (the working copy: replaced by ``ExistingSubtitlesObject`` when given), each
  ``{"WebCaptions": [{"start", "end", "caption", "wordConfidence"}]}``.
* The SRT/VTT operators write ``Captions_<lang>.srt|.vtt`` next to the execution's other files and store, under their
  own name, ``{"CaptionsCollection": [{"OperatorName": "Captions_<lang>", "Results": {"S3Bucket", "S3Key"},
  "WorkflowId", "LanguageCode"}]}``, one entry per language of ``TargetLanguageCodes`` plus the source language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mie.errors import NotFoundError, OperatorError
from mie.library.speech.captions import from_vtt, to_srt, to_vtt, web_captions
from mie.operators import OperatorContext, operator
from mie.types import JSONDict

#: Where WebCaptions looks for a transcript (MIE's successor reads ``TranscribeVideo``; audio workflows need the other).
TRANSCRIBE_OPERATORS = ("TranscribeVideo", "TranscribeAudio")


def source_language(ctx: OperatorContext) -> str:
    """MIE's rule: ``IdentifiedSourceLanguage`` from an earlier operator, else ``SourceLanguageCode`` (``en``)."""
    identified = ctx.input_metadata.get("IdentifiedSourceLanguage")
    if isinstance(identified, str) and identified:
        return identified.split("-")[0]
    code = ctx.config("SourceLanguageCode", "en")
    if not isinstance(code, str) or not code:
        raise OperatorError(f"SourceLanguageCode must be a language code such as 'en', not {code!r}")
    return code


def read_result(ctx: OperatorContext, operator_name: str) -> list[Any]:
    """Every page of an operator's stored result for this asset (one element when it was stored whole)."""
    dataplane = ctx.dataplane
    page = dataplane.get_operator_metadata(ctx.asset_id, operator_name)
    pages = [page.get("results")]
    while page.get("cursor"):
        page = dataplane.get_operator_metadata(ctx.asset_id, operator_name, str(page["cursor"]))
        pages.append(page.get("results"))
    return pages


def find_transcript(ctx: OperatorContext) -> tuple[str, list[Any]]:
    """``(operator name, pages)`` of the transcript to caption: ``TranscribeOperator`` when configured, else the
    one this execution made, else ``TranscribeVideo``'s, else ``TranscribeAudio``'s."""
    configured = ctx.config("TranscribeOperator")
    names: Sequence[str] = [str(configured)] if configured else TRANSCRIBE_OPERATORS
    found: list[tuple[str, list[Any]]] = []
    for name in names:
        try:
            pages = read_result(ctx, name)
        except NotFoundError:
            continue
        if (
            pages
            and isinstance(pages[0], dict)
            and pages[0].get("jobName") == f"transcribe-{ctx.workflow_execution_id}"
        ):
            return name, pages
        found.append((name, pages))
    if found:
        return found[0]
    raise OperatorError(
        f"{ctx.name} found no transcript for asset {ctx.asset_id}: run {' or '.join(names)} in an earlier stage"
    )


def _existing_subtitles(ctx: OperatorContext, location: Any) -> list[JSONDict]:
    if not isinstance(location, dict):
        raise OperatorError('ExistingSubtitlesObject must be {"Bucket": ..., "Key": ...}')
    bucket = location.get("Bucket") or location.get("S3Bucket")
    key = location.get("Key") or location.get("S3Key")
    if not bucket or not key:
        raise OperatorError('ExistingSubtitlesObject must be {"Bucket": ..., "Key": ...}')
    try:
        text = ctx.dataplane.read_object(str(bucket), str(key)).decode("utf-8-sig")
        return from_vtt(text)
    except NotFoundError as exc:
        raise OperatorError(f"ExistingSubtitlesObject s3://{bucket}/{key} does not exist") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise OperatorError(f"ExistingSubtitlesObject s3://{bucket}/{key} is not a WebVTT file: {exc}") from exc


@operator(
    "WebCaptions",
    media_type="Text",
    description="Caption segments (MIE's WebCaptions) from the asset's Transcribe result.",
    configuration={"SourceLanguageCode": "en"},
)
def web_captions_operator(ctx: OperatorContext) -> None:
    """Segment the transcript into captions: at most 120 characters or 25 words, split on 1.5 s of silence."""
    language = source_language(ctx)
    transcribe_operator, pages = find_transcript(ctx)
    captions = web_captions(page for page in pages if isinstance(page, dict))
    ctx.save_results({"WebCaptions": captions}, operator_name=f"WebCaptions{transcribe_operator}_{language}")
    existing = ctx.config("ExistingSubtitlesObject")
    if existing:
        captions = _existing_subtitles(ctx, existing)
    ctx.save_results({"WebCaptions": captions}, operator_name=f"WebCaptions_{language}")


def _languages(ctx: OperatorContext, default: Sequence[str] | None) -> list[str]:
    targets = ctx.config("TargetLanguageCodes", default)
    if targets is None:
        targets = []
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
        raise OperatorError(f"TargetLanguageCodes must be a list of language codes, not {targets!r}")
    languages: list[str] = []
    for code in [*targets, source_language(ctx)]:
        if code not in languages:
            languages.append(code)
    return languages


def _caption_files(ctx: OperatorContext, extension: str, render: Callable[[list[JSONDict]], str], default: Any) -> None:
    location = ctx.dataplane.media_path(ctx.asset_id, ctx.workflow_execution_id)
    collection: list[JSONDict] = []
    for language in _languages(ctx, default):
        try:
            (stored,) = read_result(ctx, f"WebCaptions_{language}")[:1]
        except NotFoundError as exc:
            hint = "run WebCaptions" if language == source_language(ctx) else "translate the captions first"
            raise OperatorError(f"{ctx.name}: no WebCaptions_{language} for asset {ctx.asset_id} ({hint})") from exc
        captions = stored.get("WebCaptions") if isinstance(stored, dict) else None
        if not isinstance(captions, list):
            raise OperatorError(f"{ctx.name}: WebCaptions_{language} holds no WebCaptions list")
        name = f"Captions_{language}"
        key = f"{location['S3Key']}{name}.{extension}"
        ctx.dataplane.put_object(location["S3Bucket"], key, render(captions).encode("utf-8"))
        collection.append(
            {
                "OperatorName": name,
                "Results": {"S3Bucket": location["S3Bucket"], "S3Key": key},
                "WorkflowId": ctx.workflow_execution_id,
                "LanguageCode": language,
            }
        )
    ctx.save_results({"CaptionsCollection": collection})


@operator(
    "CreateSRTCaptions",
    media_type="Text",
    description="SubRip (.srt) caption files from the asset's WebCaptions, one per language.",
    configuration={"SourceLanguageCode": "en"},
)
def create_srt_captions(ctx: OperatorContext) -> None:
    """Write ``Captions_<lang>.srt`` for each language of ``TargetLanguageCodes`` and the source language."""
    _caption_files(ctx, "srt", to_srt, None)


@operator(
    "CreateVTTCaptions",
    media_type="Text",
    description="WebVTT (.vtt) caption files from the asset's WebCaptions, one per language.",
    configuration={"SourceLanguageCode": "en"},
)
def create_vtt_captions(ctx: OperatorContext) -> None:
    """Write ``Captions_<lang>.vtt`` for each language of ``TargetLanguageCodes`` and the source language."""
    _caption_files(ctx, "vtt", to_vtt, None)


@operator(
    "WebToSRTCaptions",
    media_type="Text",
    description="SubRip (.srt) caption files from the asset's WebCaptions (MIE's metadata-only variant).",
    configuration={"SourceLanguageCode": "en", "TargetLanguageCodes": ["en"]},
)
def web_to_srt_captions(ctx: OperatorContext) -> None:
    """Write ``Captions_<lang>.srt`` for each language of ``TargetLanguageCodes`` and the source language."""
    _caption_files(ctx, "srt", to_srt, ["en"])


@operator(
    "WebToVTTCaptions",
    media_type="Text",
    description="WebVTT (.vtt) caption files from the asset's WebCaptions (MIE's metadata-only variant).",
    configuration={"SourceLanguageCode": "en", "TargetLanguageCodes": ["en"]},
)
def web_to_vtt_captions(ctx: OperatorContext) -> None:
    """Write ``Captions_<lang>.vtt`` for each language of ``TargetLanguageCodes`` and the source language."""
    _caption_files(ctx, "vtt", to_vtt, ["en"])
