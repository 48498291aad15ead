"""People across the library (ours): ``/api/people``.

The people operators (``peopleRecognitionImage`` / ``peopleRecognition``) cluster the faces of every asset into
people; these routes list and show them, and name, merge and split them. After a change, the ``peopleRecognition``
result of every asset where the changed people are seen is stored again with the new names, so the change feed,
the search index and MIE clients see the names (as ``CelebrityFaces`` / ``Celebrities``, the shapes search reads).
See docs/api.md, "People".
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from mie.api import schemas
from mie.api.deps import json_body, page_params, require_key, services, set_next
from mie.errors import InvalidError, NotFoundError
from mie.operators.faces import people_result
from mie.storage.people import AssetFace, People, Person
from mie.types import JSONDict

log = logging.getLogger(__name__)
router = APIRouter(dependencies=[Depends(require_key)])
Body = Annotated[Any, Depends(json_body)]
DEFAULT_LIMIT = 100


def _people(request: Request) -> People:
    found = services(request).people
    if found is None:
        raise NotFoundError("this engine has no people store")
    return found


def _face(face: AssetFace) -> JSONDict:
    record: JSONDict = {
        "FaceId": face.face_id,
        "AssetId": face.asset_id,
        "BoundingBox": face.bounding_box,
        "Confidence": face.confidence,
        "Operator": face.source,
    }
    if face.timestamp is not None:
        record["Timestamp"] = face.timestamp
    return record


def _ids(body: Any, key: str) -> list[str]:
    if not isinstance(body, dict):
        raise InvalidError("the request body must be a JSON object")
    ids = body.get(key)
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise InvalidError(f"'{key}' must be a non-empty list of ids")
    return ids


def restore_results(request: Request, people: People, person_ids: list[str]) -> int:
    """Store again the people result of every asset where these people are seen (names changed); returns how
    many results were stored. An asset deleted meanwhile has its faces forgotten."""
    dataplane = services(request).dataplane
    stored = 0
    for asset_id, source, workflow_id in people.assets_of(person_ids):
        faces = [f for f in people.asset_faces(asset_id) if f.source == source]
        known = people.people([f.person_id for f in faces if f.person_id])
        names = {person_id: person.name for person_id, person in known.items()}
        result = people_result(faces, names, video=any(f.timestamp is not None for f in faces))
        try:
            dataplane.store_metadata(asset_id, {"OperatorName": source, "Results": result, "WorkflowId": workflow_id})
        except NotFoundError:
            log.info("asset %s is gone: forgetting its faces", asset_id)
            people.forget_asset(asset_id)
            continue
        stored += 1
    return stored


def _answer(request: Request, people: People, person: Person, changed: list[str]) -> JSONDict:
    restored = restore_results(request, people, changed)
    return {**people.get_person(person.person_id).record(), "ResultsUpdated": restored}


@router.get("")
@router.get("/", include_in_schema=False)
def list_people(
    request: Request,
    response: Response,
    *,
    name: Annotated[str | None, Query(description="only people of this exact name")] = None,
    limit: Annotated[int | None, Query(description=f"page size (default {DEFAULT_LIMIT})")] = None,
    token: Annotated[str | None, Query(alias="next", description="the X-Next-Token of the previous page")] = None,
) -> JSONDict:
    """``{"People": [...]}``: every person (PersonId, Name, FaceCount, AssetCount), in id order."""
    size, after = page_params(limit, token)
    found, last = _people(request).list_people(after, size or DEFAULT_LIMIT, name)
    set_next(request, response, last)
    return {"People": [person.record() for person in found]}


@router.get("/asset/{asset_id}")
def asset_people(request: Request, asset_id: str) -> JSONDict:
    """The people seen on an asset, each with their faces there."""
    people = _people(request)
    services(request).dataplane.get_asset(asset_id)  # 404 for an unknown asset
    faces = people.asset_faces(asset_id)
    known = people.people([f.person_id for f in faces if f.person_id])
    listed: dict[str, JSONDict] = {}
    for face in faces:
        if face.person_id in known:
            entry = listed.setdefault(
                face.person_id, {"PersonId": face.person_id, "Name": known[face.person_id].name, "Faces": []}
            )
            entry["Faces"].append(_face(face))
    return {"AssetId": asset_id, "People": list(listed.values())}


@router.get("/{person_id}")
def get_person(
    request: Request,
    person_id: str,
    limit: Annotated[int, Query(ge=1, le=10000, description="most faces listed (nearest first)")] = 100,
) -> JSONDict:
    """One person, their faces (nearest to the person's mean first) and the assets they are seen in."""
    people = _people(request)
    person = people.get_person(person_id)
    faces = people.person_faces(person_id, limit)
    assets = sorted({asset_id for asset_id, _source, _workflow in people.assets_of([person_id])})
    return {**person.record(), "Faces": [_face(face) for face in faces], "AssetIds": assets}


@router.put("/{person_id}", openapi_extra=schemas.body(schemas.NamePersonRequest))
@router.post("/{person_id}/name", openapi_extra=schemas.body(schemas.NamePersonRequest))
def name_person(request: Request, person_id: str, body: Body) -> JSONDict:
    """Name a person: ``{"Name": "Eileen Collins"}`` (``null`` forgets the name)."""
    if not isinstance(body, dict) or "Name" not in body:
        raise InvalidError("send {'Name': 'the name'} (or null to forget it)")
    people = _people(request)
    person = people.name_person(person_id, body["Name"])
    return _answer(request, people, person, [person_id])


@router.post("/{person_id}/merge", openapi_extra=schemas.body(schemas.PersonIdsRequest))
def merge_people(request: Request, person_id: str, body: Body) -> JSONDict:
    """Merge other people into this one: ``{"PersonIds": [...]}``."""
    people = _people(request)
    person = people.merge_people(person_id, _ids(body, "PersonIds"))
    return _answer(request, people, person, [person_id])


@router.post("/{person_id}/split", openapi_extra=schemas.body(schemas.FaceIdsRequest))
def split_person(request: Request, person_id: str, body: Body) -> JSONDict:
    """Move some faces of this person to a new person: ``{"FaceIds": [...]}``; answers the new person."""
    people = _people(request)
    person = people.split_person(person_id, _ids(body, "FaceIds"))
    return _answer(request, people, person, [person_id, person.person_id])
