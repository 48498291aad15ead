"""The people pages: everyone the people operators found across the library, and one person's faces and assets.

The pages read the people store directly (``web`` may not import ``api``); every change (name, merge, split) is
made by the page's script through ``/api/people/...`` with the session's CSRF token, so the API stores the assets'
results again with the new names (docs/api.md, "People"). A face is drawn as a crop of the image it was found on:
the image itself for an image asset; for a video, the asset's thumbnail, which is not the face's frame, so it is
shown whole rather than cropped at a box of another moment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mie.consumers.media_index import media_name
from mie.errors import MieError, NotFoundError
from mie.storage.people import AssetFace, People, Person
from mie.web import library
from mie.web.base import require_session, services
from mie.web.pages import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 24
#: People read for the name filter (the store filters by exact name only; the page by part of a name).
MAX_PEOPLE = 10000
#: Faces shown on a person's page (nearest to the person's mean first).
MAX_FACES = 200


@dataclass
class Face:
    """A face as the pages draw it: the image it is cut from and, when the crop is right, its box."""

    face_id: str
    asset_id: str
    image: tuple[str, str] | None
    box: str | None
    seconds: float | None

    @property
    def link(self) -> str:
        """The asset page, at the face's moment for a video face."""
        return f"/assets/{self.asset_id}" + (f"?t={self.seconds:g}" if self.seconds is not None else "")


def store(request: Request) -> People | None:
    """The people store, when this engine has one."""
    return services(request).people


class _Assets:
    """Assets' rows and thumbnails, each read once per page."""

    def __init__(self, request: Request) -> None:
        self.svc = services(request)
        self.rows: dict[str, dict[str, Any] | None] = {}
        self.thumbs: dict[str, tuple[str, str] | None] = {}

    def row(self, asset_id: str) -> dict[str, Any] | None:
        if asset_id not in self.rows:
            try:
                self.rows[asset_id] = self.svc.dataplane.get_asset(asset_id)
            except MieError:
                self.rows[asset_id] = None
        return self.rows[asset_id]

    def thumbnail(self, asset_id: str) -> tuple[str, str] | None:
        if asset_id not in self.thumbs:
            row = self.row(asset_id)
            self.thumbs[asset_id] = library.thumbnail_and_status(self.svc, row)[0] if row else None
        return self.thumbs[asset_id]

    def face(self, face: AssetFace) -> Face:
        row = self.row(face.asset_id)
        image = (row.get("media_type") or "") == "Image" if row else False
        # The box is right only on the image the face was found on: an image asset, or a face without a moment.
        croppable = image or face.timestamp is None
        box = json.dumps(face.bounding_box) if croppable else None
        seconds = face.timestamp / 1000 if face.timestamp is not None else None
        return Face(face.face_id, face.asset_id, self.thumbnail(face.asset_id), box, seconds)


def _matching(people: People, text: str) -> list[Person]:
    """Everyone (in id order) whose name holds ``text`` (any case); ``text`` empty: everyone."""
    found: list[Person] = []
    after: str | None = None
    while len(found) < MAX_PEOPLE:
        chunk, after = people.list_people(after, 500)
        needle = text.casefold()
        found.extend(p for p in chunk if not needle or needle in (p.name or "").casefold())
        if not after or not chunk:
            break
    return found


@router.get("/people")
def people_page(request: Request, q: str = "", page: int = 1) -> HTMLResponse:
    """Everyone the people operators found, as cards with a face, the name and counts; filtered by name, paged."""
    require_session(request)
    people = store(request)
    everyone = _matching(people, q.strip()) if people is not None else []
    pages = max(1, -(-len(everyone) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    assets = _Assets(request)
    cards = []
    for person in everyone[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]:
        # The nearest face that can be cropped (a video face is shown as its asset's whole thumbnail).
        faces = [assets.face(f) for f in people.person_faces(person.person_id, 8)] if people is not None else []
        cards.append((person, next((f for f in faces if f.box), faces[0] if faces else None)))
    base = f"q={quote(q)}&" if q else ""
    return render(
        request, "people.html", "people", cards=cards, total=len(everyone), page=page, pages=pages, q=q, base=base,
        enabled=people is not None,
    )  # fmt: skip


@router.get("/people/{person_id}")
def person_page(request: Request, person_id: str) -> HTMLResponse:
    """One person: their faces (to split some off), the assets they are seen in, naming and merging."""
    require_session(request)
    people = store(request)
    if people is None:
        raise NotFoundError("this engine has no people store")
    person = people.get_person(person_id)
    assets = _Assets(request)
    faces = [assets.face(f) for f in people.person_faces(person_id, MAX_FACES)]
    # Where in each asset: the first moment a video face was seen (the faces listed; else the asset's start).
    moments: dict[str, float | None] = {}
    for face in sorted(faces, key=lambda f: f.seconds or 0.0):
        moments.setdefault(face.asset_id, face.seconds)
    seen = []
    for asset_id in sorted({a for a, _source, _workflow in people.assets_of([person_id])}):
        row = assets.row(asset_id)
        if row is None:
            continue
        at = moments.get(asset_id)
        link = f"/assets/{asset_id}" + (f"?t={at:g}" if at is not None else "")
        seen.append({"id": asset_id, "name": media_name(row["s3_key"]), "type": row.get("media_type") or "",
                     "thumbnail": assets.thumbnail(asset_id), "link": link})  # fmt: skip
    others = [p for p in _matching(people, "") if p.person_id != person_id]
    return render(
        request, "person.html", "people", person=person, faces=faces, seen=seen, others=others, max_faces=MAX_FACES
    )


def asset_people(request: Request, asset_id: str) -> list[tuple[str, str | None]]:
    """``(person id, name)`` of the people seen on an asset (for the asset page's links), named ones first."""
    people = store(request)
    if people is None:
        return []
    try:
        ids = [f.person_id for f in people.asset_faces(asset_id) if f.person_id]
        known = people.people(ids)
    except MieError:
        return []
    listed = [(pid, known[pid].name) for pid in dict.fromkeys(ids) if pid in known]
    return sorted(listed, key=lambda p: (p[1] is None, (p[1] or "").casefold()))
