"""Request-body schemas for the OpenAPI document, and the document's API-key security schemes.

The routes read their bodies with :func:`mie.api.deps.json_body` and validate them by hand, so that error bodies
and messages stay MIE's. FastAPI therefore sees no body parameter and documents none. The models here describe
the bodies for ``/api/openapi.json`` only: :func:`body` gives a route's ``openapi_extra``, and :func:`install`
adds the models to ``components.schemas`` and the security schemes to the document. Nothing here validates a
request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from mie.api import schemas_services
from mie.api.deps import require_key

_NAME = "1-128 of A-Z a-z 0-9 _ - ., not starting with - or ."
_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"


def _config(example: dict[str, Any], *, extra: Literal["allow", "forbid", "ignore"] = "allow") -> ConfigDict:
    return ConfigDict(extra=extra, json_schema_extra={"examples": [example]})


# Workflow API -------------------------------------------------------------------------------------------------


class OperationConfiguration(BaseModel):
    """An operation's default configuration: ``MediaType`` and ``Enabled``, plus any operator keys."""

    model_config = ConfigDict(extra="allow")
    MediaType: str = Field(description="the media type the operator works on (Video, Audio, Image, Text...)")
    Enabled: bool = Field(description="whether the operator runs; executions may override it")


class OperationRequest(BaseModel):
    """``POST``/``PUT /workflow/operation`` (MIE's ``create_operation_request``); extra keys are kept."""

    model_config = _config(
        {
            "Name": "video-test-sync",
            "Type": "Sync",
            "Configuration": {"MediaType": "Video", "Enabled": True},
            "StartLambdaArn": "VideoSyncOKLambda",
        }
    )
    Name: str = Field(description=_NAME, pattern=_NAME_PATTERN)
    Type: Literal["Sync", "Async"] = Field(description="Async operations also need MonitorLambdaArn")
    Configuration: OperationConfiguration = Field(description="MediaType and Enabled, plus any operator keys")
    StartLambdaArn: str = Field(
        min_length=1,
        description="a registered handler or native operator name, python:module:function, an http(s) URL, "
        "or a Lambda ARN ending in -<registered name>",
    )
    MonitorLambdaArn: str | None = Field(None, description="required for an Async operation")
    TimeoutSeconds: float | None = Field(None, gt=0, description="seconds one call may take (our addition)")
    MaxConcurrent: int | None = Field(None, ge=1, description="at most this many calls run at once (our addition)")


class StageRequest(BaseModel):
    """``POST``/``PUT /workflow/stage``: operations run in parallel."""

    model_config = _config({"Name": "video-sync", "Operations": ["video-test-sync"]})
    Name: str = Field(description=_NAME, pattern=_NAME_PATTERN)
    Operations: list[str] = Field(min_length=1, description="operation names, without repeats")


class WorkflowStage(BaseModel):
    """A stage of a workflow: ``{"Next": stage}`` or ``{"End": true}``."""

    model_config = ConfigDict(extra="allow")
    Next: str | None = Field(None, description="the stage that runs after this one")
    End: bool | None = Field(None, description="true on the last stage (exactly one)")


class WorkflowRequest(BaseModel):
    """``POST /workflow``: stages linked by ``Next``/``End``; extra keys are kept."""

    model_config = _config({"Name": "video-wf", "StartAt": "video-sync", "Stages": {"video-sync": {"End": True}}})
    Name: str = Field(description=_NAME, pattern=_NAME_PATTERN)
    StartAt: str = Field(description="the first stage; must be a key of Stages")
    Stages: dict[str, WorkflowStage] = Field(description="every stage reachable from StartAt, no cycles")


class WorkflowUpdateRequest(BaseModel):
    """``PUT /workflow``: with only ``Name``, re-snapshots the current stage records."""

    model_config = _config({"Name": "video-wf", "StartAt": "video-sync", "Stages": {"video-sync": {"End": True}}})
    Name: str = Field(description="the workflow to change")
    StartAt: str | None = Field(None, description="the new first stage")
    Stages: dict[str, WorkflowStage] | None = Field(None, description="the new stages")


class S3Location(BaseModel):
    """An object of the object store."""

    model_config = _config({"S3Bucket": "dataplane", "S3Key": "upload/clip.mp4"})
    S3Bucket: str = Field(description="bucket name (the data plane's is 'dataplane')")
    S3Key: str = Field(description="object key")


class ExecutionMedia(BaseModel):
    """The input media: only the first key is used; its name is the asset's ``MediaType``."""

    model_config = ConfigDict(extra="allow")
    Video: S3Location | None = Field(None, description="a video object")
    Image: S3Location | None = Field(None, description="an image object")
    Audio: S3Location | None = Field(None, description="an audio object")
    Text: S3Location | None = Field(None, description="a text object")


class ExecutionInput(BaseModel):
    """``Media`` (new media, moved into a new asset) or ``AssetId`` (run again on an asset), or both."""

    model_config = ConfigDict(extra="allow")
    Media: ExecutionMedia | None = Field(None, description="new media: {Video|Image|Audio|Text: {S3Bucket, S3Key}}")
    AssetId: str | None = Field(None, description="an existing asset; 409 while another execution of it is active")
    MetaData: dict[str, Any] | None = Field(None, description="passed to the operators")


class ExecutionRequest(BaseModel):
    """``POST /workflow/execution``."""

    model_config = _config(
        {"Name": "video-wf", "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/clip.mp4"}}}}
    )
    Name: str = Field(description="the workflow to run")
    Input: ExecutionInput = Field(description='must contain "AssetId" or "Media"')
    Configuration: dict[str, dict[str, dict[str, Any]]] | None = Field(
        None, description="{stage: {operation: {key: value}}} overriding operator configuration for this run"
    )


class ResumeRequest(BaseModel):
    """``PUT /workflow/execution/{Id}``: resume a ``Waiting`` execution; without the key, nothing happens."""

    model_config = _config({"WaitingStageName": "wait-stage"})
    WaitingStageName: str | None = Field(None, description="the stage the execution waits at")


class ConfigurationItem(BaseModel):
    """``POST /system/configuration``: one item, replacing one of the same name."""

    model_config = _config({"Name": "MaxConcurrentWorkflows", "Value": 2})
    Name: str = Field(description="e.g. MaxConcurrentWorkflows (a whole number >= 1, in force at once)")
    Value: Any = Field(description="any JSON value")


# Data plane ---------------------------------------------------------------------------------------------------


class AssetInput(BaseModel):
    """The uploaded object that becomes an asset."""

    model_config = ConfigDict(extra="allow")
    S3Bucket: str = Field(description="bucket of the uploaded object")
    S3Key: str = Field(description="key of the uploaded object")
    MediaType: str | None = Field(None, description="Video, Audio, Image or Text; recognised when missing")


class CreateAssetRequest(BaseModel):
    """``POST /dataplane/create``: the object moves into the new asset."""

    model_config = _config({"Input": {"S3Bucket": "dataplane", "S3Key": "upload/clip.mp4", "MediaType": "Video"}})
    Input: AssetInput = Field(description="the uploaded object")


class MetadataRequest(BaseModel):
    """``POST /dataplane/metadata/{asset_id}``: an operator's results, or one page (``?paginated=true[&end=true]``)."""

    model_config = _config(
        {"OperatorName": "labelDetection", "WorkflowId": "wf-1", "Results": {"Labels": [{"Name": "Dog"}]}}
    )
    OperatorName: str = Field(description=_NAME)
    WorkflowId: str = Field(description="the execution that produced the results")
    Results: dict[str, Any] = Field(description="the results (a JSON object), or one page of them")


class CheckoutRequest(BaseModel):
    """``POST /dataplane/checkout/{asset_id}``: lock an asset (advisory)."""

    model_config = _config({"LockedBy": "alice"})
    LockedBy: str = Field(description="who works on the asset")


# Feature APIs -------------------------------------------------------------------------------------------------


class SubscriptionRequest(BaseModel):
    """``POST /notifications``: exactly one of ``Url`` (a webhook) or ``Email``."""

    model_config = _config({"Url": "https://example.com/hook", "Events": ["execution"]}, extra="forbid")
    Url: str | None = Field(None, description="webhook URL (the outbound URL policy applies)")
    Email: str | None = Field(None, description="e-mail address")
    Events: list[str] | None = Field(None, min_length=1, description="event types; default every type")
    Statuses: list[str] | None = Field(None, min_length=1, description="statuses to notify; default every one")
    Secret: str | None = Field(None, description="webhook signing secret; generated when missing")


class JobRequest(BaseModel):
    """``POST /jobs``: a MediaConvert CreateJob body (or bare ``Settings``); 400 names an unsupported setting."""

    model_config = _config(
        {
            "Settings": {
                "Inputs": [{"FileInput": "s3://dataplane/upload/clip.mp4"}],
                "OutputGroups": [
                    {
                        "OutputGroupSettings": {
                            "Type": "FILE_GROUP_SETTINGS",
                            "FileGroupSettings": {"Destination": "s3://dataplane/out/clip"},
                        },
                        "Outputs": [
                            {
                                "NameModifier": "_small",
                                "ContainerSettings": {"Container": "MP4"},
                                "VideoDescription": {
                                    "Width": 640,
                                    "Height": 360,
                                    "CodecSettings": {
                                        "Codec": "H_264",
                                        "H264Settings": {"RateControlMode": "CBR", "Bitrate": 1000000},
                                    },
                                },
                            }
                        ],
                    }
                ],
            }
        }
    )
    Settings: dict[str, Any] | None = Field(None, description="MediaConvert JobSettings: Inputs, OutputGroups...")
    UserMetadata: dict[str, str] | None = Field(None, description="string pairs kept with the job")
    StatusUpdateInterval: str | None = Field(None, description="e.g. SECONDS_10")


# Face collections (Rekognition's calls) and people ------------------------------------------------------------

_COLLECTION = Field(description="1-255 of a-z A-Z 0-9 _ . -")


class CollectionRequest(BaseModel):
    """``create_collection``, ``describe_collection``, ``delete_collection``."""

    model_config = _config({"CollectionId": "family"})
    CollectionId: str = _COLLECTION


class ListCollectionsRequest(BaseModel):
    """``list_collections`` (the body may be empty)."""

    model_config = _config({"MaxResults": 10})
    NextToken: str | None = Field(None, description="the NextToken of the previous page")
    MaxResults: int | None = Field(None, ge=0, description="page size")


class FaceS3Object(BaseModel):
    """An object of the object store, named as Rekognition names it."""

    model_config = ConfigDict(extra="allow")
    Bucket: str = Field(description="bucket name")
    Name: str = Field(description="object key")


class FaceImage(BaseModel):
    """One of ``Bytes`` (base64), ``S3Object`` or ``AssetId`` (the image of a data-plane asset)."""

    model_config = ConfigDict(extra="allow")
    Bytes: str | None = Field(None, description="the image file, base64")
    S3Object: FaceS3Object | None = Field(None, description="an object of the object store")
    AssetId: str | None = Field(None, description="an Image asset of the data plane")


class IndexFacesRequest(BaseModel):
    """``index_faces``: detect the faces of an image and add them to a collection."""

    model_config = _config(
        {"CollectionId": "family", "Image": {"S3Object": {"Bucket": "dataplane", "Name": "upload/photo.jpg"}}}
    )
    CollectionId: str = _COLLECTION
    Image: FaceImage = Field(description="the image")
    ExternalImageId: str | None = Field(None, description="your id for the image, kept with its faces")
    MaxFaces: int | None = Field(None, ge=1, description="most faces indexed, largest first")
    QualityFilter: Literal["NONE", "AUTO", "LOW", "MEDIUM", "HIGH"] | None = Field(
        None, description="drop faces detected with less confidence (default AUTO)"
    )


class ListFacesRequest(BaseModel):
    """``list_faces``."""

    model_config = _config({"CollectionId": "family", "MaxResults": 100})
    CollectionId: str = _COLLECTION
    NextToken: str | None = Field(None, description="the NextToken of the previous page")
    MaxResults: int | None = Field(None, ge=0, description="page size")


class DeleteFacesRequest(BaseModel):
    """``delete_faces``."""

    model_config = _config({"CollectionId": "family", "FaceIds": ["0b683aed-a0f1-48b2-9b5e-139e9cc2a757"]})
    CollectionId: str = _COLLECTION
    FaceIds: list[str] = Field(min_length=1, max_length=4096, description="ids of the faces to delete")


class SearchFacesByImageRequest(BaseModel):
    """``search_faces_by_image``: the faces of a collection that match the largest face of an image."""

    model_config = _config(
        {"CollectionId": "family", "Image": {"S3Object": {"Bucket": "dataplane", "Name": "upload/photo.jpg"}}}
    )
    CollectionId: str = _COLLECTION
    Image: FaceImage = Field(description="the image")
    MaxFaces: int | None = Field(None, ge=1, description="most matches")
    FaceMatchThreshold: float | None = Field(None, ge=0, le=100, description="least similarity, 0-100")


class SearchFacesRequest(BaseModel):
    """``search_faces``: the faces of a collection that match an indexed face."""

    model_config = _config({"CollectionId": "family", "FaceId": "0b683aed-a0f1-48b2-9b5e-139e9cc2a757"})
    CollectionId: str = _COLLECTION
    FaceId: str = Field(description="an indexed face")
    MaxFaces: int | None = Field(None, ge=1, description="most matches")
    FaceMatchThreshold: float | None = Field(None, ge=0, le=100, description="least similarity, 0-100")


class NamePersonRequest(BaseModel):
    """``PUT /people/{id}`` or ``POST /people/{id}/name``: ``null`` forgets the name."""

    model_config = _config({"Name": "Eileen Collins"})
    Name: str | None = Field(description="the person's name, or null")


class PersonIdsRequest(BaseModel):
    """``POST /people/{id}/merge``: people merged into this one."""

    model_config = _config({"PersonIds": ["5d1b4c1e-9d5b-4a4f-8a55-0d6b2b7f3c11"]})
    PersonIds: list[str] = Field(min_length=1, description="ids of the people to merge in")


class FaceIdsRequest(BaseModel):
    """``POST /people/{id}/split``: faces moved to a new person."""

    model_config = _config({"FaceIds": ["0b683aed-a0f1-48b2-9b5e-139e9cc2a757"]})
    FaceIds: list[str] = Field(min_length=1, description="ids of the faces to move")


#: Every model published in ``components.schemas``.
MODELS: tuple[type[BaseModel], ...] = (
    OperationRequest,
    StageRequest,
    WorkflowRequest,
    WorkflowUpdateRequest,
    ExecutionRequest,
    ResumeRequest,
    ConfigurationItem,
    S3Location,
    CreateAssetRequest,
    MetadataRequest,
    CheckoutRequest,
    SubscriptionRequest,
    JobRequest,
    CollectionRequest,
    ListCollectionsRequest,
    IndexFacesRequest,
    ListFacesRequest,
    DeleteFacesRequest,
    SearchFacesByImageRequest,
    SearchFacesRequest,
    NamePersonRequest,
    PersonIdsRequest,
    FaceIdsRequest,
    *schemas_services.MODELS,
)


def body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """A route's ``openapi_extra``: its JSON request body is ``model`` (documentation only)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"content": {"application/json": {"schema": schema}}, "required": required}}


#: Names of the security schemes; a keyed route accepts either.
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "the API key"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "the API key as 'Authorization: Bearer KEY'"},
}


def _keyed_operations(routers: Iterable[tuple[APIRouter, str]]) -> Iterator[tuple[str, str]]:
    """``(path, method)`` of every documented route that needs the key (``require_key`` on it or its router)."""
    for router, prefix in routers:
        router_keyed = any(dep.dependency is require_key for dep in router.dependencies)
        for route in router.routes:
            if not (isinstance(route, APIRoute) and route.include_in_schema):
                continue
            if router_keyed or any(dep.dependency is require_key for dep in route.dependencies):
                for method in route.methods or ():
                    yield prefix + route.path_format, method.lower()


def install(app: FastAPI, routers: Iterable[tuple[APIRouter, str]]) -> None:
    """Make ``app.openapi()`` publish the body models, and the API-key security of the keyed routes of ``routers``
    (the ``(router, prefix)`` pairs included in the app)."""
    keyed = list(_keyed_operations(routers))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
        )
        _, defs = models_json_schema([(m, "validation") for m in MODELS], ref_template="#/components/schemas/{model}")
        components = doc.setdefault("components", {})
        components.setdefault("schemas", {}).update(defs.get("$defs", {}))
        components["securitySchemes"] = SECURITY_SCHEMES
        security: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]
        for path, method in keyed:
            operation = doc["paths"].get(path, {}).get(method)
            if operation is not None:
                operation["security"] = security
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
