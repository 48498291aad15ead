"""``/api/service/transcribe/*``: MIE's custom-vocabulary routes (teardown §2.1 rows 30-34), served locally.

A vocabulary is a table in Amazon Transcribe's format, uploaded to the object store first and named by ``s3uri``
(or given inline as ``phrases``, Transcribe's list form). It is validated and stored by
:class:`mie.resources.vocabularies.Vocabularies` (the layout is documented there), where the ``Transcribe*``
operators read it (``VocabularyName``); these routes parse requests and shape MIE's responses.

Bodies and answers are MIE's (boto3 response shapes with ISO times); differences: vocabularies are ``READY`` at once,
an unknown name is a 404 and a taken one a 409 (MIE turned Transcribe's errors into 500s).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from mie.api import schemas, schemas_services
from mie.api.deps import json_body, require_key, services
from mie.errors import InvalidError, NotFoundError
from mie.resources.vocabularies import Vocabularies, check_language, check_name, table_key
from mie.types import JSONDict

router = APIRouter(dependencies=[Depends(require_key)])
Body = Annotated[Any, Depends(json_body)]


def _name(body: Any) -> str:
    if not isinstance(body, dict):
        raise InvalidError("the request body must be a JSON object")
    name = body.get("vocabulary_name")
    if not isinstance(name, str) or not name:
        raise InvalidError("Key 'vocabulary_name' is required")
    return check_name(name)


def _vocabularies(request: Request) -> Vocabularies:
    return services(request).resources.vocabularies


@router.post("/create_vocabulary", openapi_extra=schemas.body(schemas_services.CreateVocabularyRequest))
def create_vocabulary(request: Request, body: Body) -> JSONDict:
    """Create a custom vocabulary from ``{"vocabulary_name", "language_code", "s3uri"}`` (or ``"phrases"``)."""
    name = _name(body)
    language = check_language(body.get("language_code"))
    return _vocabularies(request).create(name, language, phrases=body.get("phrases"), s3uri=body.get("s3uri"))


@router.post("/get_vocabulary", openapi_extra=schemas.body(schemas_services.VocabularyNameRequest))
def get_vocabulary(request: Request, body: Body) -> JSONDict:
    """Describe one vocabulary; ``DownloadUri`` serves its table for a limited time."""
    summary = _vocabularies(request).describe(_name(body))
    svc = services(request)
    base_url = svc.settings.public_url or str(request.base_url)
    key = table_key(summary["VocabularyName"])
    return {**summary, "DownloadUri": svc.dataplane.download_url(svc.resources.store.bucket, key, base_url)}


@router.post("/download_vocabulary", openapi_extra=schemas.body(schemas_services.VocabularyNameRequest))
def download_vocabulary(request: Request, body: Body) -> JSONDict:
    """The vocabulary's rows: ``{"vocabulary": [{"Phrase", "IPA", "SoundsLike", "DisplayAs"}, ...]}``."""
    return {"vocabulary": _vocabularies(request).rows(_name(body))}


@router.get("/list_vocabularies")
def list_vocabularies(request: Request) -> JSONDict:
    """Every vocabulary, by name (one page: there is no ``NextToken``)."""
    return {"Vocabularies": _vocabularies(request).summaries()}


@router.post("/delete_vocabulary", openapi_extra=schemas.body(schemas_services.VocabularyNameRequest))
def delete_vocabulary(request: Request, body: Body) -> JSONDict:
    """Delete a vocabulary."""
    _vocabularies(request).delete(_name(body))
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
