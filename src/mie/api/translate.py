"""MIE's Amazon Translate proxy routes, served locally: ``/api/service/translate/*`` (teardown §2.1 #35-39, §10).

Terminologies and parallel data are validated and stored in the data-plane bucket: the uploaded file as it came
(for ``download_*`` and the signed ``Location``) and one JSON object that the ``Translate`` and
``TranslateWebCaptions`` operators read (the format is documented in ``mie.library.translate.resources``)::

    service/translate/terminologies/<Name>.json   + <Name>.csv
    service/translate/parallel-data/<Name>.json   + <Name>.csv | <Name>.tsv

Bodies and responses are MIE's (boto3-like dicts, ISO timestamps). Differences: an unknown name is a 404 (MIE: a
500 from boto3), a bad CSV/TSV is a 400 naming the line, parallel data may be sent inline in ``parallel_data_csv``
instead of ``ParallelDataConfig.S3Uri``, and ``GET /list_language_pairs`` (ours) lists the installed Apertium
pairs.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request

from mie.api import schemas, schemas_services
from mie.api.deps import json_body, require_key, services
from mie.dataplane.service import DataPlane
from mie.errors import ConflictError, InvalidError, MieError, NotFoundError
from mie.types import JSONDict

router = APIRouter(dependencies=[Depends(require_key)])
Body = Annotated[Any, Depends(json_body)]

Kind = Literal["terminology", "parallel-data"]
#: Must match ``mie.library.translate.resources.PREFIXES`` (the operators read these objects).
PREFIXES: dict[str, str] = {
    "terminology": "service/translate/terminologies/",
    "parallel-data": "service/translate/parallel-data/",
}
_LABEL = {"terminology": "terminology", "parallel-data": "parallel data"}
# AWS Translate's resource-name rule; it also keeps names safe as object keys.
_NAME = re.compile(r"^([A-Za-z0-9-]_?)+\Z")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{2,4})?\Z")

#: ISO 639-3 (Apertium's mode names) to 639-1; must match ``mie.library.translate.apertium.ISO_639_3_TO_1``
#: (a test checks): the API layer may not import the operator library.
ISO_639_3_TO_1: dict[str, str] = {
    "afr": "af", "arg": "an", "ara": "ar", "aze": "az", "bel": "be", "bul": "bg", "bre": "br", "hbs": "sr",
    "cat": "ca", "ces": "cs", "cym": "cy", "dan": "da", "deu": "de", "ell": "el", "eng": "en", "epo": "eo",
    "spa": "es", "est": "et", "eus": "eu", "fas": "fa", "fin": "fi", "fao": "fo", "fra": "fr", "gle": "ga",
    "gla": "gd", "glg": "gl", "heb": "he", "hin": "hi", "hun": "hu", "ind": "id", "isl": "is", "ita": "it",
    "kaz": "kk", "kir": "ky", "lit": "lt", "lav": "lv", "mkd": "mk", "msa": "ms", "mlt": "mt", "nob": "nb",
    "nld": "nl", "nno": "nn", "oci": "oc", "pol": "pl", "por": "pt", "ron": "ro", "rus": "ru", "sme": "se",
    "slk": "sk", "slv": "sl", "sqi": "sq", "swe": "sv", "tur": "tr", "tat": "tt", "ukr": "uk", "urd": "ur",
    "uzb": "uz",
}  # fmt: skip
_MODE = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})(?:_([A-Za-z]{2,4}))?\Z")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _metadata() -> JSONDict:
    """boto3's ``ResponseMetadata``, which MIE passes through on most of these routes."""
    return {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}


def _field(body: Any, *names: str) -> str:
    if not isinstance(body, dict):
        raise InvalidError("the request body must be a JSON object")
    for name in names:
        if name in body:
            value = body[name]
            if not isinstance(value, str) or not value:
                raise InvalidError(f"'{name}' must be a non-empty string")
            return value
    raise InvalidError(f"Missing required input: '{names[0]}'")


def _name(body: Any, *keys: str) -> str:
    name = _field(body, *keys)
    if len(name) > 256 or not _NAME.match(name):
        raise InvalidError(f"{name!r} is not a valid name: use letters, digits, '-' and single '_' (at most 256)")
    return name


# Parsing ---------------------------------------------------------------------------------------------------------


def parse_table(text: str, *, fmt: str, what: str, columns: int | None = None) -> tuple[list[str], list[list[str]]]:
    """A CSV/TSV of translations: a header line of language codes (the source first), then one entry per line.

    Every problem is an ``InvalidError`` (400) that names the line, e.g. ``terminology_csv line 3: expected 2
    columns (en,es), found 1``.
    """
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "TSV" else ",", strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InvalidError(f"{what} line {reader.line_num or line}: not valid {fmt} ({exc})") from exc
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if header is None:
            header = _header(cells, what=what, line=line, fmt=fmt, columns=columns)
            continue
        if len(cells) != len(header):
            raise InvalidError(
                f"{what} line {line}: expected {len(header)} columns ({','.join(header)}), found {len(cells)}"
            )
        if not cells[0]:
            raise InvalidError(f"{what} line {line}: the {header[0]} text (column 1) is empty")
        if not any(cells[1:]):
            raise InvalidError(f"{what} line {line}: no translation given (columns 2-{len(header)} are empty)")
        rows.append(cells)
    if header is None:
        raise InvalidError(f"{what} line 1: the file is empty; the first line names the languages, e.g. en,es")
    if not rows:
        raise InvalidError(f"{what} line {reader.line_num + 1}: no entries after the header line")
    return header, rows


def _header(cells: list[str], *, what: str, line: int, fmt: str, columns: int | None) -> list[str]:
    sep = "a tab" if fmt == "TSV" else "a comma"
    for index, code in enumerate(cells, 1):
        if not _LANGUAGE.match(code):
            raise InvalidError(
                f"{what} line {line}: column {index} {code!r} is not a language code; the first line names the "
                f"languages separated by {sep}, e.g. en{',' if fmt == 'CSV' else '<TAB>'}es"
            )
    codes = []
    for code in cells:
        base, _, region = code.partition("-")
        codes.append(base.lower() + (f"-{region}" if region else ""))
    if len(codes) < 2 or (columns is not None and len(codes) != columns):
        want = f"exactly {columns}" if columns is not None else "at least 2"
        raise InvalidError(f"{what} line {line}: {want} language columns are needed, found {len(codes)}")
    if len({c.lower() for c in codes}) != len(codes):
        raise InvalidError(f"{what} line {line}: a language appears twice ({','.join(codes)})")
    return codes


def _table_csv(header: list[str], rows: list[list[str]], fmt: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter="\t" if fmt == "TSV" else ",", lineterminator="\n").writerows([header, *rows])
    return out.getvalue()


# Storage ---------------------------------------------------------------------------------------------------------


class Store:
    """Terminologies and parallel data as objects in the data-plane bucket."""

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane
        self.objects = dataplane.objects
        self.bucket = dataplane.bucket

    def key(self, kind: Kind, name: str) -> str:
        """The JSON object of a resource."""
        return f"{PREFIXES[kind]}{name}.json"

    def get(self, kind: Kind, name: str) -> JSONDict:
        """The stored document; 404 when there is none."""
        try:
            doc: JSONDict = json.loads(self.objects.get_bytes(self.bucket, self.key(kind, name)))
        except NotFoundError as exc:
            raise NotFoundError(f"The {_LABEL[kind]} {name!r} does not exist") from exc
        return doc

    def exists(self, kind: Kind, name: str) -> bool:
        """Whether the resource exists."""
        return self.objects.exists(self.bucket, self.key(kind, name))

    def put(self, kind: Kind, name: str, doc: JSONDict, data: str) -> None:
        """Store the original file, then the document that makes the resource visible."""
        self.objects.put_bytes(self.bucket, str(doc["DataKey"]), data.encode())
        self.objects.put_bytes(self.bucket, self.key(kind, name), json.dumps(doc, ensure_ascii=False).encode())

    def delete(self, kind: Kind, name: str) -> None:
        """Remove the resource; 404 when there is none."""
        doc = self.get(kind, name)
        self.objects.delete(self.bucket, self.key(kind, name))
        self.objects.delete(self.bucket, str(doc["DataKey"]))

    def names(self, kind: Kind) -> list[str]:
        """Every stored name (one ``<Name>.json`` record per resource directly under the kind's prefix)."""
        prefix = PREFIXES[kind]
        names = []
        for key in self.objects.list_keys(self.bucket, prefix):
            rest = key[len(prefix) :]
            if "/" not in rest and rest.endswith(".json") and not rest.startswith("_"):
                names.append(rest[: -len(".json")])
        return sorted(names)

    def location(self, request: Request, doc: JSONDict) -> JSONDict:
        """A signed URL serving the original file (AWS: a presigned S3 URL)."""
        base = services(request).settings.public_url or str(request.base_url)
        return {"RepositoryType": "S3", "Location": self.dataplane.download_url(self.bucket, doc["DataKey"], base)}


def _store(request: Request) -> Store:
    return Store(services(request).dataplane)


def _arn(kind: Kind, name: str) -> str:
    return f"arn:mie:translate:local:{kind.replace('-', '')}/{name}" + ("/LATEST" if kind == "terminology" else "")


# Terminologies ---------------------------------------------------------------------------------------------------


@router.post("/create_terminology", openapi_extra=schemas.body(schemas_services.CreateTerminologyRequest))
def create_terminology(request: Request, body: Body) -> JSONDict:
    """Create or overwrite (``MergeStrategy=OVERWRITE``) a terminology from ``terminology_csv``."""
    name = _name(body, "terminology_name")
    data = _field(body, "terminology_csv")
    header, rows = parse_table(data, fmt="CSV", what="terminology_csv")
    store = _store(request)
    now = _now()
    created = store.get("terminology", name)["Properties"]["CreatedAt"] if store.exists("terminology", name) else now
    description = body.get("description") if isinstance(body.get("description"), str) else ""
    properties: JSONDict = {
        "Name": name,
        "Description": description,
        "Arn": _arn("terminology", name),
        "SourceLanguageCode": header[0],
        "TargetLanguageCodes": header[1:],
        "SizeBytes": len(data.encode()),
        "TermCount": len(rows),
        "CreatedAt": created,
        "LastUpdatedAt": now,
        "Directionality": "UNI",
        "SkippedTermCount": 0,
        "Format": "CSV",
    }
    doc: JSONDict = {
        "Name": name,
        "Kind": "terminology",
        "Languages": header,
        "Entries": rows,
        "Properties": properties,
        "DataKey": f"{PREFIXES['terminology']}{name}.csv",
    }
    store.put("terminology", name, doc, data)
    return {"TerminologyProperties": properties, "ResponseMetadata": _metadata()}


@router.post("/get_terminology", openapi_extra=schemas.body(schemas_services.TerminologyNameRequest))
def get_terminology(request: Request, body: Body) -> JSONDict:
    """A terminology's properties and a signed URL of its CSV."""
    store = _store(request)
    doc = store.get("terminology", _name(body, "terminology_name"))
    return {"TerminologyProperties": doc["Properties"], "TerminologyDataLocation": store.location(request, doc)}


@router.post("/download_terminology", openapi_extra=schemas.body(schemas_services.TerminologyNameRequest))
def download_terminology(request: Request, body: Body) -> JSONDict:
    """The terminology's CSV text (MIE's key is ``terminology``)."""
    store = _store(request)
    doc = store.get("terminology", _name(body, "terminology_name"))
    try:
        text = store.objects.get_bytes(store.bucket, doc["DataKey"]).decode("utf-8")
    except NotFoundError:
        text = _table_csv(doc["Languages"], doc["Entries"], "CSV")
    return {"terminology": text}


@router.get("/list_terminologies")
def list_terminologies(request: Request) -> JSONDict:
    """Every terminology's properties."""
    store = _store(request)
    found = []
    for name in store.names("terminology"):
        try:
            found.append(store.get("terminology", name)["Properties"])
        except NotFoundError:  # deleted meanwhile
            continue
    return {"TerminologyPropertiesList": found, "ResponseMetadata": _metadata()}


@router.post("/delete_terminology", openapi_extra=schemas.body(schemas_services.TerminologyNameRequest))
def delete_terminology(request: Request, body: Body) -> JSONDict:
    """Delete a terminology."""
    _store(request).delete("terminology", _name(body, "terminology_name"))
    return {"ResponseMetadata": _metadata()}


# Parallel data ---------------------------------------------------------------------------------------------------


def _parallel_source(request: Request, body: JSONDict) -> tuple[str, str, str]:
    """``(text, format, S3Uri)`` of the parallel data in a create request."""
    config = body.get("ParallelDataConfig") or {}
    if not isinstance(config, dict):
        raise InvalidError("ParallelDataConfig must be an object {S3Uri, Format}")
    fmt = str(config.get("Format") or "CSV").upper()
    if fmt not in ("CSV", "TSV"):
        raise InvalidError(f"ParallelDataConfig.Format {fmt!r} is not supported: use CSV or TSV")
    inline = body.get("parallel_data_csv")
    if isinstance(inline, str) and inline:
        return inline, fmt, ""
    uri = config.get("S3Uri")
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        raise InvalidError(
            "Missing required input: 'ParallelDataConfig.S3Uri' (s3://bucket/key) or 'parallel_data_csv'"
        )
    bucket, _, key = uri[5:].partition("/")
    try:
        raw = services(request).dataplane.objects.get_bytes(bucket, key)
    except NotFoundError as exc:
        raise InvalidError(f"ParallelDataConfig.S3Uri {uri} does not exist: upload the file first") from exc
    try:
        return raw.decode("utf-8"), fmt, uri
    except UnicodeDecodeError as exc:
        raise InvalidError(f"ParallelDataConfig.S3Uri {uri} is not UTF-8 text") from exc


def _parallel_name(body: Any) -> str:
    # MIE's integration tests send parallel_data_name; its boto3 pass-through takes Name.
    return _name(body, "parallel_data_name", "Name")


@router.post("/create_parallel_data", openapi_extra=schemas.body(schemas_services.CreateParallelDataRequest))
def create_parallel_data(request: Request, body: Body) -> JSONDict:
    """Create parallel data (a translation memory) from ``ParallelDataConfig.S3Uri`` or ``parallel_data_csv``."""
    name = _name(body, "Name", "parallel_data_name")
    store = _store(request)
    if store.exists("parallel-data", name):
        raise ConflictError(f"The parallel data {name!r} already exists: delete it first")
    data, fmt, uri = _parallel_source(request, body)
    header, rows = parse_table(data, fmt=fmt, what="parallel data", columns=2)
    now = _now()
    data_key = f"{PREFIXES['parallel-data']}{name}.{fmt.lower()}"
    description = body.get("Description") if isinstance(body.get("Description"), str) else ""
    properties: JSONDict = {
        "Name": name,
        "Arn": _arn("parallel-data", name),
        "Description": description,
        "Status": "ACTIVE",
        "SourceLanguageCode": header[0],
        "TargetLanguageCodes": header[1:],
        "ParallelDataConfig": {"S3Uri": uri or f"s3://{store.bucket}/{data_key}", "Format": fmt},
        "ImportedDataSize": len(data.encode()),
        "ImportedRecordCount": len(rows),
        "FailedRecordCount": 0,
        "SkippedRecordCount": 0,
        "CreatedAt": now,
        "LastUpdatedAt": now,
    }
    doc: JSONDict = {
        "Name": name,
        "Kind": "parallel-data",
        "Languages": header,
        "Entries": rows,
        "Properties": properties,
        "DataKey": data_key,
    }
    store.put("parallel-data", name, doc, data)
    # Imported at once, so already ACTIVE (AWS answers CREATING and clients poll get_parallel_data).
    return {"Name": name, "Status": "ACTIVE", "ResponseMetadata": _metadata()}


@router.post("/get_parallel_data", openapi_extra=schemas.body(schemas_services.ParallelDataNameRequest))
def get_parallel_data(request: Request, body: Body) -> JSONDict:
    """Parallel data's properties and a signed URL of its file."""
    store = _store(request)
    doc = store.get("parallel-data", _parallel_name(body))
    return {
        "ParallelDataProperties": doc["Properties"],
        "DataLocation": store.location(request, doc),
        "ResponseMetadata": _metadata(),
    }


@router.post("/download_parallel_data", openapi_extra=schemas.body(schemas_services.ParallelDataNameRequest))
def download_parallel_data(request: Request, body: Body) -> JSONDict:
    """The parallel data file's text (MIE's key is ``parallel_data_csv``, whatever the format)."""
    store = _store(request)
    doc = store.get("parallel-data", _parallel_name(body))
    try:
        text = store.objects.get_bytes(store.bucket, doc["DataKey"]).decode("utf-8")
    except NotFoundError:
        text = _table_csv(doc["Languages"], doc["Entries"], str(doc["Properties"]["ParallelDataConfig"]["Format"]))
    return {"parallel_data_csv": text}


@router.get("/list_parallel_data")
def list_parallel_data(request: Request) -> JSONDict:
    """Every parallel data set's properties."""
    store = _store(request)
    found = []
    for name in store.names("parallel-data"):
        try:
            found.append(store.get("parallel-data", name)["Properties"])
        except NotFoundError:
            continue
    return {"ParallelDataPropertiesList": found, "ResponseMetadata": _metadata()}


@router.post("/delete_parallel_data", openapi_extra=schemas.body(schemas_services.ParallelDataNameRequest))
def delete_parallel_data(request: Request, body: Body) -> JSONDict:
    """Delete parallel data (gone at once; AWS reports DELETING)."""
    name = _parallel_name(body)
    _store(request).delete("parallel-data", name)
    return {"Name": name, "Status": "DELETING", "ResponseMetadata": _metadata()}


# Language pairs (ours) ---------------------------------------------------------------------------------------------


@router.get("/list_language_pairs")
def list_language_pairs() -> JSONDict:
    """The translation directions Apertium has installed (not an MIE route): what ``Translate`` and
    ``TranslateWebCaptions`` accept as ``SourceLanguageCode``/``TargetLanguageCode(s)``."""
    binary = shutil.which("apertium")
    if binary is None:
        return {"Engine": "apertium", "LanguagePairs": [], "Message": "Apertium is not installed: "
                "apt-get install apertium apertium-eng-spa"}  # fmt: skip
    try:
        listed = subprocess.run([binary, "-l"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MieError(f"apertium -l failed: {exc}") from exc
    pairs = []
    for mode in sorted(set(listed.stdout.decode("utf-8", "replace").split())):
        match = _MODE.match(mode)
        if match is None:
            continue
        source, target, variant = match.groups()
        target_code = ISO_639_3_TO_1.get(target, target) + (f"-{variant}" if variant else "")
        pairs.append(
            {"SourceLanguageCode": ISO_639_3_TO_1.get(source, source), "TargetLanguageCode": target_code, "Mode": mode}
        )
    return {"Engine": "apertium", "LanguagePairs": pairs}
