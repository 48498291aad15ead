"""Request-body schemas of MIE's service routes (``/service/transcribe``, ``/service/translate``), for the OpenAPI
document only (see :mod:`mie.api.schemas`); the routes keep their own checks and messages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def _config(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="allow", json_schema_extra={"examples": [example]})


class CreateVocabularyRequest(BaseModel):
    """``create_vocabulary``: from a vocabulary file in the object store (``s3uri``) or a list of ``phrases``."""

    model_config = _config({"vocabulary_name": "space-terms", "language_code": "en-US", "phrases": ["Soyuz"]})
    vocabulary_name: str = Field(description="1-200 letters, digits, '.', '_' or '-'")
    language_code: str = Field(description="a language code such as en-US")
    s3uri: str | None = Field(None, description="s3://bucket/key of a Transcribe vocabulary table")
    phrases: list[str] | None = Field(None, description="phrases, when there is no s3uri")


class VocabularyNameRequest(BaseModel):
    """``get_vocabulary``, ``download_vocabulary``, ``delete_vocabulary``."""

    model_config = _config({"vocabulary_name": "space-terms"})
    vocabulary_name: str = Field(description="the vocabulary")


class LanguageModelRequest(BaseModel):
    """``describe_language_model``."""

    model_config = _config({"model_name": "my-model"})
    model_name: str = Field(description="the custom language model")


class CreateTerminologyRequest(BaseModel):
    """``create_terminology``: create or overwrite a terminology from a CSV table."""

    model_config = _config(
        {"terminology_name": "space", "terminology_csv": "en,fr\nspacewalk,sortie extravéhiculaire\n"}
    )
    terminology_name: str = Field(description="the terminology")
    terminology_csv: str = Field(description="CSV: a header of language codes, then one term per row")
    description: str | None = Field(None, description="free text")


class TerminologyNameRequest(BaseModel):
    """``get_terminology``, ``download_terminology``, ``delete_terminology``."""

    model_config = _config({"terminology_name": "space"})
    terminology_name: str = Field(description="the terminology")


class ParallelDataLocation(BaseModel):
    """Where the parallel data file is."""

    model_config = ConfigDict(extra="allow")
    S3Uri: str | None = Field(None, description="s3://bucket/key of the file")
    Format: str | None = Field(None, description="CSV (default) or TSV")


class CreateParallelDataRequest(BaseModel):
    """``create_parallel_data``: name it with ``Name`` or ``parallel_data_name``; the data inline or in a file."""

    model_config = _config({"Name": "space-memory", "parallel_data_csv": "en,fr\nHello,Bonjour\n"})
    Name: str | None = Field(None, description="the parallel data (or parallel_data_name)")
    parallel_data_name: str | None = Field(None, description="the parallel data (or Name)")
    parallel_data_csv: str | None = Field(None, description="CSV with a header of two language codes")
    ParallelDataConfig: ParallelDataLocation | None = Field(None, description="the file, when not inline")
    Description: str | None = Field(None, description="free text")


class ParallelDataNameRequest(BaseModel):
    """``get_parallel_data``, ``download_parallel_data``, ``delete_parallel_data``."""

    model_config = _config({"parallel_data_name": "space-memory"})
    parallel_data_name: str | None = Field(None, description="the parallel data (or Name)")
    Name: str | None = Field(None, description="the parallel data (or parallel_data_name)")


#: Every model of this module, published by :func:`mie.api.schemas.install`.
MODELS: tuple[type[BaseModel], ...] = (
    CreateVocabularyRequest,
    VocabularyNameRequest,
    LanguageModelRequest,
    CreateTerminologyRequest,
    TerminologyNameRequest,
    CreateParallelDataRequest,
    ParallelDataNameRequest,
)
