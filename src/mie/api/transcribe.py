"""``/api/service/transcribe/*``: MIE's custom-vocabulary routes (teardown §2.1 rows 30-34), served locally.

A vocabulary is a table in Amazon Transcribe's format, uploaded to the object store first and named by ``s3uri``
(or given inline as ``phrases``, Transcribe's list form). It is validated (a bad table is a 400 naming the line),
then stored as one JSON object in the data-plane bucket, where the ``Transcribe*`` operators read it
(``VocabularyName``; layout in ``mie.library.speech.vocabulary``). No database tables: the objects are the records,
listed by their keys.

Bodies and answers are MIE's (boto3 response shapes with ISO times); differences: vocabularies are ``READY`` at once,
an unknown name is a 404 and a taken one a 409 (MIE turned Transcribe's errors into 500s).
"""

from __future__ import annotations

import csv
import json
import re
import threading
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

from fastapi import APIRouter, Depends, Request

from mie.api import schemas, schemas_services
from mie.api.deps import json_body, require_key, services
from mie.errors import ConflictError, InvalidError, NotFoundError
from mie.types import JSONDict

router = APIRouter(dependencies=[Depends(require_key)])
Body = Annotated[Any, Depends(json_body)]

#: Key layout shared with ``mie.library.speech.vocabulary`` (the API may not import the library).
PREFIX = "service/transcribe/vocabularies/"
COLUMNS = ("Phrase", "IPA", "SoundsLike", "DisplayAs")
MAX_FILE_BYTES = 1_000_000
_NAME = re.compile(r"^[0-9A-Za-z._-]{1,200}\Z")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?\Z")
_PHRASE = re.compile(r"^[^\W\d_](?:[^\W\d_]|['.\-])*\Z")
_SOUNDS_LIKE = re.compile(r"^[^\W\d_]+(?:[- ][^\W\d_]+)*\Z")
_lock = threading.Lock()


# Parsing --------------------------------------------------------------------------------------------------------


def _bad(line: int, message: str) -> InvalidError:
    return InvalidError(f"vocabulary line {line}: {message}")


def _check_entry(line: int, entry: dict[str, str]) -> dict[str, str]:
    phrase = entry["Phrase"]
    if not phrase:
        raise _bad(line, "Phrase is empty")
    if any(ch.isspace() for ch in phrase):
        raise _bad(line, f"Phrase {phrase!r} contains spaces; join the words of a phrase with hyphens (Los-Angeles)")
    if len(phrase) > 256:
        raise _bad(line, "Phrase is longer than 256 characters")
    if not _PHRASE.match(phrase):
        raise _bad(
            line,
            f"Phrase {phrase!r} may contain only letters, apostrophes, hyphens and periods (spell numbers out)",
        )
    if entry["IPA"] and entry["SoundsLike"]:
        raise _bad(line, "a row may have IPA or SoundsLike, not both")
    if entry["SoundsLike"] and not _SOUNDS_LIKE.match(entry["SoundsLike"]):
        raise _bad(line, f"SoundsLike {entry['SoundsLike']!r} must be letters, with hyphens between syllables")
    if len(entry["DisplayAs"]) > 256:
        raise _bad(line, "DisplayAs is longer than 256 characters")
    return entry


def parse_vocabulary(text: str) -> list[dict[str, str]]:
    """Entries of a vocabulary file: Transcribe's table (a ``Phrase`` header, optionally ``IPA``, ``SoundsLike``,
    ``DisplayAs``; tab-separated, or comma-separated) or its list form (one phrase per line).
    :class:`InvalidError` names the first bad line."""
    lines = text.lstrip("\ufeff").splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise InvalidError("the vocabulary file is empty")
    header_line = lines[first]
    delimiter = "\t" if "\t" in header_line or "," not in header_line else ","
    header = [cell.strip() for cell in header_line.split(delimiter)]
    entries: list[dict[str, str]] = []
    if "Phrase" not in header and (len(header) > 1 or header[0] in COLUMNS):
        raise _bad(first + 1, f"the header must name the Phrase column (columns: {', '.join(COLUMNS)})")
    if "Phrase" in header:
        for name in header:
            if name not in COLUMNS:
                raise _bad(first + 1, f"unknown column {name!r} (columns: {', '.join(COLUMNS)})")
        if len(set(header)) != len(header):
            raise _bad(first + 1, "a column is named twice")
        for index in range(first + 1, len(lines)):
            raw = lines[index]
            if not raw.strip():
                continue
            cells = next(csv.reader([raw], delimiter=delimiter)) if delimiter == "," else raw.split("\t")
            if len(cells) > len(header):
                raise _bad(index + 1, f"{len(cells)} columns where the header has {len(header)}")
            values = dict.fromkeys(COLUMNS, "")
            values.update({name: cell.strip() for name, cell in zip(header, cells, strict=False)})
            entries.append(_check_entry(index + 1, values))
    else:
        for index in range(first, len(lines)):
            phrase = lines[index].strip()
            if phrase:
                if "\t" in phrase or "," in phrase:
                    raise _bad(index + 1, "a list vocabulary has one phrase per line (or start with a Phrase header)")
                entries.append(
                    _check_entry(index + 1, {"Phrase": phrase, "IPA": "", "SoundsLike": "", "DisplayAs": ""})
                )
    if not entries:
        raise InvalidError("the vocabulary has no phrases")
    return entries


def to_table(entries: list[dict[str, str]]) -> str:
    """The vocabulary as Transcribe's tab-separated table (what ``DownloadUri`` serves)."""
    rows = ["\t".join(COLUMNS)] + ["\t".join(entry.get(c, "") for c in COLUMNS) for entry in entries]
    return "\n".join(rows) + "\n"


def _s3_location(uri: Any) -> tuple[str, str]:
    """``s3://bucket/key`` or a path-style ``https://s3.<region>.amazonaws.com/bucket/key``."""
    if not isinstance(uri, str) or not uri:
        raise InvalidError("Key 's3uri' is required in 'create_vocabulary' input (or give 'phrases')")
    parsed = urlparse(uri)
    if parsed.scheme == "s3" and parsed.netloc and parsed.path.strip("/"):
        return parsed.netloc, unquote(parsed.path.lstrip("/"))
    if parsed.scheme in ("http", "https"):
        bucket, _, key = unquote(parsed.path.lstrip("/")).partition("/")
        if bucket and key:
            return bucket, key
    raise InvalidError(f"s3uri {uri!r} must look like s3://bucket/key")


# Storage ---------------------------------------------------------------------------------------------------------


def _name(body: Any) -> str:
    if not isinstance(body, dict):
        raise InvalidError("the request body must be a JSON object")
    name = body.get("vocabulary_name")
    if not isinstance(name, str) or not name:
        raise InvalidError("Key 'vocabulary_name' is required")
    if not _NAME.match(name):
        raise InvalidError(f"vocabulary_name {name!r} must be 1-200 letters, digits, '.', '_' or '-'")
    return name


def _read_json(request: Request, key: str) -> Any:
    dataplane = services(request).dataplane
    return json.loads(dataplane.objects.get_bytes(dataplane.bucket, key))


def _write(request: Request, key: str, data: bytes) -> None:
    dataplane = services(request).dataplane
    dataplane.objects.put_bytes(dataplane.bucket, key, data)


def _index(request: Request) -> dict[str, JSONDict]:
    """Every vocabulary's summary, by name: one ``<Name>.json`` record per vocabulary under the prefix."""
    dataplane = services(request).dataplane
    found: dict[str, JSONDict] = {}
    for key in dataplane.objects.list_keys(dataplane.bucket, PREFIX):
        rest = key[len(PREFIX) :]
        if "/" in rest or not rest.endswith(".json") or rest.startswith("_"):
            continue
        try:
            record = _read_json(request, key)
        except (NotFoundError, ValueError):  # deleted meanwhile, or not one of ours
            continue
        if isinstance(record, dict) and "VocabularyName" in record:
            found[str(record["VocabularyName"])] = _summary(record)
    return found


def _record(request: Request, name: str) -> JSONDict:
    try:
        record: JSONDict = _read_json(request, f"{PREFIX}{name}.json")
    except NotFoundError as exc:
        raise NotFoundError(f"The requested vocabulary {name!r} couldn't be found") from exc
    return record


def _summary(record: JSONDict) -> JSONDict:
    return {key: record[key] for key in ("VocabularyName", "LanguageCode", "VocabularyState", "LastModifiedTime")}


# Routes ----------------------------------------------------------------------------------------------------------


@router.post("/create_vocabulary", openapi_extra=schemas.body(schemas_services.CreateVocabularyRequest))
def create_vocabulary(request: Request, body: Body) -> JSONDict:
    """Create a custom vocabulary from ``{"vocabulary_name", "language_code", "s3uri"}`` (or ``"phrases"``)."""
    name = _name(body)
    language = body.get("language_code")
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        raise InvalidError("Key 'language_code' is required: a language code such as 'en-US'")
    phrases = body.get("phrases")
    if phrases is not None and body.get("s3uri") is None:
        if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
            raise InvalidError("phrases must be a list of strings")
        source = "phrases"
        entries = parse_vocabulary("\n".join(phrases))
    else:
        bucket, key = _s3_location(body.get("s3uri"))
        objects = services(request).dataplane.objects
        try:
            if objects.size(bucket, key) > MAX_FILE_BYTES:
                raise InvalidError(f"the vocabulary file is larger than {MAX_FILE_BYTES} bytes")
            raw = objects.get_bytes(bucket, key)
        except NotFoundError as exc:
            raise InvalidError(f"the vocabulary file s3://{bucket}/{key} does not exist") from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidError(f"the vocabulary file is not UTF-8 text: {exc}") from exc
        source = f"s3://{bucket}/{key}"
        entries = parse_vocabulary(text)
    record: JSONDict = {
        "VocabularyName": name,
        "LanguageCode": language,
        "VocabularyState": "READY",
        "LastModifiedTime": datetime.now(UTC).isoformat(),
        "Source": source,
        "Entries": entries,
    }
    with _lock:
        index = _index(request)
        if name in index:
            raise ConflictError(f"The requested vocabulary name {name!r} already exists")
        _write(request, f"{PREFIX}{name}.tsv", to_table(entries).encode())
        _write(request, f"{PREFIX}{name}.json", json.dumps(record, ensure_ascii=False).encode())
    return _summary(record)


@router.post("/get_vocabulary", openapi_extra=schemas.body(schemas_services.VocabularyNameRequest))
def get_vocabulary(request: Request, body: Body) -> JSONDict:
    """Describe one vocabulary; ``DownloadUri`` serves its table for a limited time."""
    record = _record(request, _name(body))
    svc = services(request)
    base_url = svc.settings.public_url or str(request.base_url)
    key = f"{PREFIX}{record['VocabularyName']}.tsv"
    return {**_summary(record), "DownloadUri": svc.dataplane.download_url(svc.dataplane.bucket, key, base_url)}


@router.post("/download_vocabulary", openapi_extra=schemas.body(schemas_services.VocabularyNameRequest))
def download_vocabulary(request: Request, body: Body) -> JSONDict:
    """The vocabulary's rows: ``{"vocabulary": [{"Phrase", "IPA", "SoundsLike", "DisplayAs"}, ...]}``."""
    record = _record(request, _name(body))
    return {"vocabulary": [{c: str(entry.get(c, "")) for c in COLUMNS} for entry in record.get("Entries", [])]}


@router.get("/list_vocabularies")
def list_vocabularies(request: Request) -> JSONDict:
    """Every vocabulary, by name (one page: there is no ``NextToken``)."""
    index = _index(request)
    return {"Vocabularies": [index[name] for name in sorted(index)]}


@router.post("/delete_vocabulary", openapi_extra=schemas.body(schemas_services.VocabularyNameRequest))
def delete_vocabulary(request: Request, body: Body) -> JSONDict:
    """Delete a vocabulary."""
    name = _name(body)
    dataplane = services(request).dataplane
    with _lock:
        index = _index(request)
        existed = dataplane.objects.delete(dataplane.bucket, f"{PREFIX}{name}.json")
        dataplane.objects.delete(dataplane.bucket, f"{PREFIX}{name}.tsv")
        if name not in index and not existed:
            raise NotFoundError(f"The requested vocabulary {name!r} couldn't be found")
    return {"ResponseMetadata": {"HTTPStatusCode": 200}}


@router.get("/list_language_models")
def list_language_models() -> JSONDict:
    """Custom language models (MIE v4): none can be made here, so the list is empty."""
    return {"Models": []}


@router.post("/describe_language_model", openapi_extra=schemas.body(schemas_services.LanguageModelRequest))
def describe_language_model(body: Body) -> JSONDict:
    """Describe a custom language model: there are none (use a larger Whisper model via ``ModelPath`` instead)."""
    name = body.get("model_name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidError("Key 'model_name' is required")
    raise NotFoundError(
        f"custom language model {name!r} does not exist: this engine has no custom language models; "
        "configure a larger Whisper model with the Transcribe operators' ModelPath instead"
    )
