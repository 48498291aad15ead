"""MIE's Amazon Translate proxy routes, served locally: ``/api/service/translate/*`` (teardown §2.1 #35-39, §10).

Terminologies and parallel data are validated and stored by :class:`mie.resources.translate.TranslateResources`
(the layout is documented there), where the ``Translate`` and ``TranslateWebCaptions`` operators read them; these
routes parse requests and shape MIE's responses.

Bodies and responses are MIE's (boto3-like dicts, ISO timestamps). Differences: an unknown name is a 404 (MIE: a
500 from boto3), a bad CSV/TSV is a 400 naming the line, parallel data may be sent inline in ``parallel_data_csv``
instead of ``ParallelDataConfig.S3Uri``, and ``GET /list_language_pairs`` (ours) lists the installed Apertium
pairs.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from mie.api import schemas, schemas_services
from mie.api.deps import json_body, require_key, services
from mie.errors import InvalidError, MieError
from mie.resources.languages import neural_pairs, parse_mode
from mie.resources.translate import Kind, TranslateResources, check_name
from mie.types import JSONDict

router = APIRouter(dependencies=[Depends(require_key)])
Body = Annotated[Any, Depends(json_body)]


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
    return check_name(_field(body, *keys))


def _text(body: JSONDict, key: str) -> str:
    value = body.get(key)
    return value if isinstance(value, str) else ""


def _resources(request: Request) -> TranslateResources:
    return services(request).resources.translate


def _location(request: Request, doc: JSONDict) -> JSONDict:
    """A signed URL serving the original file (AWS: a presigned S3 URL)."""
    svc = services(request)
    base = svc.settings.public_url or str(request.base_url)
    url = svc.dataplane.download_url(svc.resources.store.bucket, doc["DataKey"], base)
    return {"RepositoryType": "S3", "Location": url}


# Terminologies ---------------------------------------------------------------------------------------------------


@router.post("/create_terminology", openapi_extra=schemas.body(schemas_services.CreateTerminologyRequest))
def create_terminology(request: Request, body: Body) -> JSONDict:
    """Create or overwrite (``MergeStrategy=OVERWRITE``) a terminology from ``terminology_csv``."""
    name = _name(body, "terminology_name")
    data = _field(body, "terminology_csv")
    properties = _resources(request).create_terminology(name, data, _text(body, "description"))
    return {"TerminologyProperties": properties, "ResponseMetadata": _metadata()}


@router.post("/get_terminology", openapi_extra=schemas.body(schemas_services.TerminologyNameRequest))
def get_terminology(request: Request, body: Body) -> JSONDict:
    """A terminology's properties and a signed URL of its CSV."""
    doc = _resources(request).get("terminology", _name(body, "terminology_name"))
    return {"TerminologyProperties": doc["Properties"], "TerminologyDataLocation": _location(request, doc)}


@router.post("/download_terminology", openapi_extra=schemas.body(schemas_services.TerminologyNameRequest))
def download_terminology(request: Request, body: Body) -> JSONDict:
    """The terminology's CSV text (MIE's key is ``terminology``)."""
    return {"terminology": _resources(request).text("terminology", _name(body, "terminology_name"))}


@router.get("/list_terminologies")
def list_terminologies(request: Request) -> JSONDict:
    """Every terminology's properties."""
    found = _resources(request).properties("terminology")
    return {"TerminologyPropertiesList": found, "ResponseMetadata": _metadata()}


@router.post("/delete_terminology", openapi_extra=schemas.body(schemas_services.TerminologyNameRequest))
def delete_terminology(request: Request, body: Body) -> JSONDict:
    """Delete a terminology."""
    _resources(request).delete("terminology", _name(body, "terminology_name"))
    return {"ResponseMetadata": _metadata()}


# Parallel data ---------------------------------------------------------------------------------------------------

_PARALLEL: Kind = "parallel-data"


def _parallel_name(body: Any) -> str:
    # MIE's integration tests send parallel_data_name; its boto3 pass-through takes Name.
    return _name(body, "parallel_data_name", "Name")


@router.post("/create_parallel_data", openapi_extra=schemas.body(schemas_services.CreateParallelDataRequest))
def create_parallel_data(request: Request, body: Body) -> JSONDict:
    """Create parallel data (a translation memory) from ``ParallelDataConfig.S3Uri`` or ``parallel_data_csv``."""
    name = _name(body, "Name", "parallel_data_name")
    resources = _resources(request)
    resources.check_new_parallel_data(name)
    config = body.get("ParallelDataConfig") or {}
    if not isinstance(config, dict):
        raise InvalidError("ParallelDataConfig must be an object {S3Uri, Format}")
    fmt = str(config.get("Format") or "CSV").upper()
    if fmt not in ("CSV", "TSV"):
        raise InvalidError(f"ParallelDataConfig.Format {fmt!r} is not supported: use CSV or TSV")
    data, uri = resources.parallel_data_source(_text(body, "parallel_data_csv"), config.get("S3Uri"))
    resources.create_parallel_data(name, data, fmt=fmt, uri=uri, description=_text(body, "Description"))
    # Imported at once, so already ACTIVE (AWS answers CREATING and clients poll get_parallel_data).
    return {"Name": name, "Status": "ACTIVE", "ResponseMetadata": _metadata()}


@router.post("/get_parallel_data", openapi_extra=schemas.body(schemas_services.ParallelDataNameRequest))
def get_parallel_data(request: Request, body: Body) -> JSONDict:
    """Parallel data's properties and a signed URL of its file."""
    doc = _resources(request).get(_PARALLEL, _parallel_name(body))
    return {
        "ParallelDataProperties": doc["Properties"],
        "DataLocation": _location(request, doc),
        "ResponseMetadata": _metadata(),
    }


@router.post("/download_parallel_data", openapi_extra=schemas.body(schemas_services.ParallelDataNameRequest))
def download_parallel_data(request: Request, body: Body) -> JSONDict:
    """The parallel data file's text (MIE's key is ``parallel_data_csv``, whatever the format)."""
    return {"parallel_data_csv": _resources(request).text(_PARALLEL, _parallel_name(body))}


@router.get("/list_parallel_data")
def list_parallel_data(request: Request) -> JSONDict:
    """Every parallel data set's properties."""
    found = _resources(request).properties(_PARALLEL)
    return {"ParallelDataPropertiesList": found, "ResponseMetadata": _metadata()}


@router.post("/delete_parallel_data", openapi_extra=schemas.body(schemas_services.ParallelDataNameRequest))
def delete_parallel_data(request: Request, body: Body) -> JSONDict:
    """Delete parallel data (gone at once; AWS reports DELETING)."""
    name = _parallel_name(body)
    _resources(request).delete(_PARALLEL, name)
    return {"Name": name, "Status": "DELETING", "ResponseMetadata": _metadata()}


# Language pairs (ours) ---------------------------------------------------------------------------------------------


@router.get("/list_language_pairs")
def list_language_pairs() -> JSONDict:
    """The translation directions installed (not an MIE route): what ``Translate`` and ``TranslateWebCaptions``
    accept as ``SourceLanguageCode``/``TargetLanguageCode(s)``: Apertium's modes in ``LanguagePairs``, the neural
    models' directions (which win over Apertium for their pair) in ``NeuralPairs``."""
    binary = shutil.which("apertium")
    if binary is None:
        return {"Engine": "apertium", "LanguagePairs": [], "NeuralPairs": neural_pairs(),
                "Message": "Apertium is not installed: apt-get install apertium apertium-eng-spa"}  # fmt: skip
    try:
        listed = subprocess.run([binary, "-l"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MieError(f"apertium -l failed: {exc}") from exc
    modes = sorted(set(listed.stdout.decode("utf-8", "replace").split()))
    pairs = [pair.describe() for pair in map(parse_mode, modes) if pair is not None]
    return {"Engine": "apertium", "LanguagePairs": pairs, "NeuralPairs": neural_pairs()}
