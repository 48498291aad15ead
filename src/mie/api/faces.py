"""Rekognition face collections, served locally: ``/api/service/rekognition/*``.

``create_collection``, ``describe_collection``, ``list_collections``, ``delete_collection``, ``index_faces``,
``list_faces``, ``delete_faces``, ``search_faces`` and ``search_faces_by_image`` take and return the JSON of the
Rekognition calls of the same names (``CollectionId``, ``Image{Bytes|S3Object}``, ``ExternalImageId``, ``MaxFaces``,
``FaceMatchThreshold``...); errors are Rekognition's exception names in MIE's error body. Our addition: an
``Image`` may be ``{"AssetId": ...}``, the image of an asset of the data plane. ``S3Object`` names an object of
this engine's own object store.

The face model is injected by the composition root (:class:`mie.operators.faces.FaceEmbedder`): this layer never
imports the operator library. See docs/api.md, "Face collections".
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from mie.api import schemas
from mie.api.deps import json_body, require_key, services
from mie.errors import InvalidError, NotFoundError
from mie.operators.faces import (
    DEFAULT_FACE_MATCH_THRESHOLD,
    EmbeddedFace,
    FaceEmbedder,
    max_distance,
    similarity,
)
from mie.storage.faces import (
    CollectionInfo,
    FaceCollections,
    InvalidParameterError,
    NewFace,
    check_collection_id,
    check_external_image_id,
)
from mie.types import JSONDict

router = APIRouter(dependencies=[Depends(require_key)])
Body = Annotated[Any, Depends(json_body)]

#: Rekognition's limits.
MAX_FACES_INDEX = 100
MAX_FACES_SEARCH = 4096
MAX_RESULTS = 4096
#: ``QualityFilter`` -> the least detection ``Confidence`` a face needs (NONE: any; AUTO is LOW).
QUALITY_CONFIDENCE = {"NONE": 0.0, "AUTO": 50.0, "LOW": 50.0, "MEDIUM": 70.0, "HIGH": 90.0}
#: Namespace of ``ImageId`` for an asset's image (the same asset always has the same ImageId).
_ASSET_IMAGES = uuid.UUID("6f1f4a52-7f1e-4a4e-9a59-2b6c1c0f0a11")


class InvalidImageFormatError(InvalidError):
    """Rekognition's ``InvalidImageFormatException`` (HTTP 400)."""

    code = "InvalidImageFormatException"


class InvalidS3ObjectError(InvalidError):
    """Rekognition's ``InvalidS3ObjectException`` (HTTP 400)."""

    code = "InvalidS3ObjectException"


def _store(request: Request) -> FaceCollections:
    store = services(request).faces
    if store is None:
        raise InvalidParameterError("this engine has no face store")
    return store


def _embedder(request: Request) -> FaceEmbedder:
    embedder = services(request).face_embedder
    if embedder is None:
        raise InvalidParameterError("this engine has no face model")
    return embedder


def _object(body: Any) -> JSONDict:
    if not isinstance(body, dict):
        raise InvalidParameterError("the request body must be a JSON object")
    return body


def _int(body: JSONDict, key: str, default: int, high: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidParameterError(f"{key} must be an integer from 1 to {high}")
    return value


def _threshold(body: JSONDict) -> float:
    value = body.get("FaceMatchThreshold", DEFAULT_FACE_MATCH_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise InvalidParameterError("FaceMatchThreshold must be a number from 0 to 100")
    return float(value)


def _quality(body: JSONDict) -> float:
    value = body.get("QualityFilter", "AUTO")
    if value not in QUALITY_CONFIDENCE:
        raise InvalidParameterError(f"QualityFilter must be one of {', '.join(QUALITY_CONFIDENCE)}")
    return QUALITY_CONFIDENCE[str(value)]


def _token(body: JSONDict) -> str | None:
    token = body.get("NextToken")
    if token is None:
        return None
    if not isinstance(token, str) or not token or len(token) > 255:
        raise InvalidParameterError("NextToken is not a token this API issued")
    return token


def _image(request: Request, body: JSONDict) -> tuple[bytes, str, str]:
    """The image's bytes, a name for messages, and its ``ImageId``."""
    image = body.get("Image")
    if not isinstance(image, dict):
        raise InvalidParameterError("Image is required: {'Bytes': base64} or {'S3Object': {...}} or {'AssetId': id}")
    dataplane = services(request).dataplane
    if "Bytes" in image:
        data = image["Bytes"]
        try:
            raw = base64.b64decode(data, validate=True) if isinstance(data, str) else b""
        except (binascii.Error, ValueError) as exc:
            raise InvalidParameterError("Image.Bytes is not base64") from exc
        if not raw:
            raise InvalidParameterError("Image.Bytes is empty")
        return raw, "Image.Bytes", str(uuid.uuid4())
    if "S3Object" in image:
        ref = image["S3Object"]
        bucket = ref.get("Bucket") if isinstance(ref, dict) else None
        key = ref.get("Name") if isinstance(ref, dict) else None
        if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
            raise InvalidParameterError("Image.S3Object needs Bucket and Name")
        try:
            return dataplane.objects.get_bytes(bucket, key), key, str(uuid.uuid4())
        except (NotFoundError, InvalidError) as exc:
            raise InvalidS3ObjectError(f"cannot read s3://{bucket}/{key}: {exc}") from exc
    if "AssetId" in image:
        asset_id = image["AssetId"]
        if not isinstance(asset_id, str) or not asset_id:
            raise InvalidParameterError("Image.AssetId must be an asset id")
        try:
            asset = dataplane.get_asset(asset_id)
        except NotFoundError as exc:
            raise NotFoundError(f"Asset {asset_id} does not exist") from exc
        if str(asset.get("media_type") or "").lower() != "image":
            raise InvalidParameterError(
                f"asset {asset_id} is not an image; index a video's faces with the faceSearch/faceIndexing operators"
            )
        try:
            raw = dataplane.objects.get_bytes(str(asset["s3_bucket"]), str(asset["s3_key"]))
        except NotFoundError as exc:
            raise InvalidS3ObjectError(f"the image of asset {asset_id} is missing: {exc}") from exc
        return raw, str(asset["s3_key"]).rsplit("/", 1)[-1], str(uuid.uuid5(_ASSET_IMAGES, asset_id))
    raise InvalidParameterError("Image needs Bytes, S3Object or AssetId")


def _faces(request: Request, body: JSONDict) -> tuple[list[EmbeddedFace], str]:
    data, name, image_id = _image(request, body)
    try:
        return _embedder(request).embed_image_bytes(data, name), image_id
    except InvalidError as exc:
        raise InvalidImageFormatError(exc.message) from exc


def _arn(collection_id: str) -> str:
    return f"aws:rekognition:local:mie:collection/{collection_id}"


# Collections -----------------------------------------------------------------------------------------------------


@router.post("/create_collection", openapi_extra=schemas.body(schemas.CollectionRequest))
def create_collection(request: Request, body: Body) -> JSONDict:
    """``CreateCollection``: ``{"CollectionId"}`` -> ``{"StatusCode", "CollectionArn", "FaceModelVersion"}``."""
    collection_id = check_collection_id(_object(body).get("CollectionId"))
    info = _store(request).create_collection(collection_id, _embedder(request).face_model_version)
    return {"StatusCode": 200, "CollectionArn": _arn(collection_id), "FaceModelVersion": info.face_model_version}


@router.post("/describe_collection", openapi_extra=schemas.body(schemas.CollectionRequest))
def describe_collection(request: Request, body: Body) -> JSONDict:
    """``DescribeCollection``: ``{"CollectionId"}`` -> face count, model version, ARN, creation time."""
    info = _store(request).describe_collection(check_collection_id(_object(body).get("CollectionId")))
    return _describe(info)


def _describe(info: CollectionInfo) -> JSONDict:
    return {
        "FaceCount": info.face_count,
        "FaceModelVersion": info.face_model_version,
        "CollectionARN": _arn(info.collection_id),
        "CreationTimestamp": info.created,
    }


@router.post("/list_collections", openapi_extra=schemas.body(schemas.ListCollectionsRequest, required=False))
def list_collections(request: Request, body: Body) -> JSONDict:
    """``ListCollections``: ``{"MaxResults"?, "NextToken"?}`` -> ``{"CollectionIds", "FaceModelVersions"}``."""
    args = _object(body or {})
    page, after = _store(request).list_collections(_token(args), _int(args, "MaxResults", 1000, MAX_RESULTS))
    result: JSONDict = {
        "CollectionIds": [c.collection_id for c in page],
        "FaceModelVersions": [c.face_model_version for c in page],
    }
    if after is not None:
        result["NextToken"] = after
    return result


@router.post("/delete_collection", openapi_extra=schemas.body(schemas.CollectionRequest))
def delete_collection(request: Request, body: Body) -> JSONDict:
    """``DeleteCollection``: ``{"CollectionId"}`` -> ``{"StatusCode": 200}``."""
    _store(request).delete_collection(check_collection_id(_object(body).get("CollectionId")))
    return {"StatusCode": 200}


# Faces -----------------------------------------------------------------------------------------------------------


@router.post("/index_faces", openapi_extra=schemas.body(schemas.IndexFacesRequest))
def index_faces(request: Request, body: Body) -> JSONDict:
    """``IndexFaces``: the image's faces, largest first up to ``MaxFaces``, into the collection."""
    args = _object(body)
    collection_id = check_collection_id(args.get("CollectionId"))
    external = check_external_image_id(args.get("ExternalImageId"))
    max_faces = _int(args, "MaxFaces", MAX_FACES_INDEX, MAX_FACES_INDEX)
    least = _quality(args)
    store = _store(request)
    info = store.describe_collection(collection_id)  # 404 before the (slow) embedding
    found, image_id = _faces(request, args)
    unindexed: list[JSONDict] = []
    kept: list[EmbeddedFace] = []
    for face in sorted(found, key=lambda f: -f.area):
        if face.embedding is None:
            unindexed.append({"Reasons": [face.reason or "LOW_FACE_QUALITY"], "FaceDetail": face.detail})
        elif float(face.detail.get("Confidence", 0.0)) < least:
            unindexed.append({"Reasons": ["LOW_CONFIDENCE"], "FaceDetail": face.detail})
        elif len(kept) >= max_faces:
            unindexed.append({"Reasons": ["EXCEEDS_MAX_FACES"], "FaceDetail": face.detail})
        else:
            kept.append(face)
    stored = store.index_faces(
        collection_id,
        [
            NewFace(
                embedding=face.embedding,
                bounding_box=face.detail["BoundingBox"],
                confidence=float(face.detail.get("Confidence", 0.0)),
                image_id=image_id,
                external_image_id=external,
            )
            for face in kept
            if face.embedding is not None
        ],
    )
    return {
        "FaceRecords": [
            {"Face": record.rekognition(), "FaceDetail": face.detail} for record, face in zip(stored, kept, strict=True)
        ],
        "FaceModelVersion": info.face_model_version,
        "UnindexedFaces": unindexed,
    }


@router.post("/list_faces", openapi_extra=schemas.body(schemas.ListFacesRequest))
def list_faces(request: Request, body: Body) -> JSONDict:
    """``ListFaces``: ``{"CollectionId", "MaxResults"?, "NextToken"?}`` -> ``{"Faces", "FaceModelVersion"}``."""
    args = _object(body)
    collection_id = check_collection_id(args.get("CollectionId"))
    store = _store(request)
    info = store.describe_collection(collection_id)
    page, after = store.list_faces(collection_id, _token(args), _int(args, "MaxResults", 1000, MAX_RESULTS))
    result: JSONDict = {"Faces": [face.rekognition() for face in page], "FaceModelVersion": info.face_model_version}
    if after is not None:
        result["NextToken"] = after
    return result


@router.post("/delete_faces", openapi_extra=schemas.body(schemas.DeleteFacesRequest))
def delete_faces(request: Request, body: Body) -> JSONDict:
    """``DeleteFaces``: ``{"CollectionId", "FaceIds"}`` -> ``{"DeletedFaces", "UnsuccessfulFaceDeletions"}``."""
    args = _object(body)
    collection_id = check_collection_id(args.get("CollectionId"))
    ids = args.get("FaceIds")
    if not isinstance(ids, list) or not ids or len(ids) > 4096 or not all(isinstance(i, str) and i for i in ids):
        raise InvalidParameterError("FaceIds must be a list of 1 to 4096 face ids")
    deleted = _store(request).delete_faces(collection_id, ids)
    gone = set(deleted)
    return {
        "DeletedFaces": deleted,
        "UnsuccessfulFaceDeletions": [
            {"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]} for face_id in dict.fromkeys(ids) if face_id not in gone
        ],
    }


@router.post("/search_faces_by_image", openapi_extra=schemas.body(schemas.SearchFacesByImageRequest))
def search_faces_by_image(request: Request, body: Body) -> JSONDict:
    """``SearchFacesByImage``: the image's largest face searched in the collection."""
    args = _object(body)
    collection_id = check_collection_id(args.get("CollectionId"))
    max_faces = _int(args, "MaxFaces", 80, MAX_FACES_SEARCH)
    threshold = _threshold(args)
    store = _store(request)
    info = store.describe_collection(collection_id)
    found, _image_id = _faces(request, args)
    usable = sorted((f for f in found if f.embedding is not None), key=lambda f: -f.area)
    if not usable:
        raise InvalidParameterError("There are no faces in the image that can be searched (none, or too small)")
    face = usable[0]
    assert face.embedding is not None  # filtered above
    matches = store.search(collection_id, face.embedding, max_distance(threshold), max_faces)
    return {
        "SearchedFaceBoundingBox": face.detail["BoundingBox"],
        "SearchedFaceConfidence": face.detail.get("Confidence", 0.0),
        "FaceMatches": [
            {"Similarity": round(similarity(match.distance), 3), "Face": match.face.rekognition()} for match in matches
        ],
        "FaceModelVersion": info.face_model_version,
    }


@router.post("/search_faces", openapi_extra=schemas.body(schemas.SearchFacesRequest))
def search_faces(request: Request, body: Body) -> JSONDict:
    """``SearchFaces``: the faces of the collection like one of its faces (``FaceId``), that face left out."""
    args = _object(body)
    collection_id = check_collection_id(args.get("CollectionId"))
    face_id = args.get("FaceId")
    if not isinstance(face_id, str) or not face_id:
        raise InvalidParameterError("FaceId is required")
    max_faces = _int(args, "MaxFaces", 80, MAX_FACES_SEARCH)
    threshold = _threshold(args)
    store = _store(request)
    info = store.describe_collection(collection_id)
    embedding = store.face_embedding(collection_id, face_id)
    found = store.search(collection_id, embedding, max_distance(threshold), max_faces + 1)
    matches = [m for m in found if m.face.face_id != face_id][:max_faces]
    return {
        "SearchedFaceId": face_id,
        "FaceMatches": [
            {"Similarity": round(similarity(match.distance), 3), "Face": match.face.rekognition()} for match in matches
        ],
        "FaceModelVersion": info.face_model_version,
    }
