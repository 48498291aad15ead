"""The People pages in process: the grid of people with a face crop each, filtered by name and paged; a person's
faces, assets (video ones at the face's moment) and the forms, whose writes go to /api/people with the session's
CSRF token; the asset page's links to its people. Faces are stored in the people store as the operators store them
(the operators themselves run on real photos in tests/library/test_faces_people.py)."""

from __future__ import annotations

import html
import io
import json
import re

import numpy
import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.storage.people import NewAssetFace
from mie.web import people as people_page
from tests.unit.test_web import BASE, browser, sign_in  # noqa: F401 (the fixture)

BOX = {"Width": 0.2, "Height": 0.22, "Left": 0.36, "Top": 0.08}


def _embedding(seed: int, jitter: int = 0) -> bytes:
    """A unit vector per ``seed`` (one person each), moved a little by ``jitter`` (another face of them)."""
    rng = numpy.random.default_rng(seed)
    vector = rng.normal(size=128)
    if jitter:
        vector = vector + numpy.random.default_rng(1000 + jitter).normal(scale=0.01, size=128)
    return (vector / numpy.linalg.norm(vector) * 0.5).astype("<f4").tobytes()


def _image(services: Services, name: str) -> str:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "JPEG", quality=85)
    services.dataplane.objects.put_bytes("uploads", f"photos/{name}.jpg", buffer.getvalue())
    return str(services.dataplane.create_asset("uploads", f"photos/{name}.jpg", "Image")["AssetId"])


def _video(services: Services) -> str:
    services.dataplane.objects.put_bytes("uploads", "clips/tour.mp4", b"\x00" * 64)
    return str(services.dataplane.create_asset("uploads", "clips/tour.mp4", "Video")["AssetId"])


def _faces(services: Services, asset_id: str, seeds: list[int], timestamps: list[int | None], source: str) -> None:
    assert services.people is not None
    pairs = enumerate(zip(seeds, timestamps, strict=True))
    faces = [NewAssetFace(_embedding(seed, i + 1), BOX, 99.0, ts) for i, (seed, ts) in pairs]
    services.people.replace_asset_faces(asset_id, source, "wf-1", faces, max_distance=0.3)


def _library(services: Services) -> tuple[str, str, str, str]:
    """Two photos of one person, a video where they are seen at 2.5 s, and a second person on the video."""
    first, second, video = _image(services, "astronaut"), _image(services, "astronaut again"), _video(services)
    _faces(services, first, [1], [None], "peopleRecognition")
    _faces(services, second, [1], [None], "peopleRecognition")
    _faces(services, video, [1, 2], [2500, 4000], "peopleRecognition")
    assert services.people is not None
    listed, _ = services.people.list_people()
    assert sorted(p.face_count for p in listed) == [1, 3]
    main = next(p.person_id for p in listed if p.face_count == 3)
    other = next(p.person_id for p in listed if p.face_count == 1)
    return first, video, main, other


def test_people_page_lists_people_with_a_face_crop(browser: TestClient, services: Services) -> None:  # noqa: F811
    assert browser.get("/people").status_code == 303
    csrf = sign_in(browser)
    empty = browser.get("/people")
    assert empty.status_code == 200
    assert "Nobody yet" in empty.text
    assert '<a href="/people" class="on">People</a>' in empty.text
    first, _video_id, main, other = _library(services)
    page = browser.get("/people")
    assert page.status_code == 200
    assert "2 people" in page.text
    cards = re.findall(r'<a class="card person" href="/people/([^"]+)"', page.text)
    assert sorted(cards) == sorted([main, other])
    assert page.text.count("unnamed") == 2
    assert re.search(r"3 faces ·\s+3 assets", page.text)
    # The crop's box is the stored one, in an attribute the script reads (escaped JSON).
    boxes = [json.loads(html.unescape(b)) for b in re.findall(r'data-box="([^"]+)"', page.text)]
    assert BOX in boxes
    assert re.search(r"<img loading=\"lazy\" src=\"/media/[^\"]+astronaut[^\"]*\.jpg\"", page.text), page.text
    assert "/static/people.js" in page.text

    named = browser.post(f"/api/people/{main}/name", json={"Name": "Eileen Collins"}, headers={"X-CSRF-Token": csrf})
    assert named.status_code == 200, named.text
    assert browser.post(f"/api/people/{main}/name", json={"Name": "x"}).status_code in (401, 403)
    filtered = browser.get("/people?q=eileen")
    assert re.findall(r'<a class="card person" href="/people/([^"]+)"', filtered.text) == [main]
    assert "Eileen Collins" in filtered.text
    assert "Nobody of that name" in browser.get("/people?q=hopper").text
    # The asset page links to the people seen on it, by name.
    asset = browser.get(f"/assets/{first}")
    assert f'<a href="/people/{main}" class="">Eileen Collins</a>' in asset.text


def test_people_page_pages(browser: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    sign_in(browser)
    _library(services)
    monkeypatch.setattr(people_page, "PAGE_SIZE", 1)
    first = browser.get("/people")
    assert "page 1 of 2" in first.text
    assert 'href="/people?page=2"' in first.text
    second = browser.get("/people?page=2")
    assert "page 2 of 2" in second.text
    ids = [re.findall(r'class="card person" href="/people/([^"]+)"', p.text)[0] for p in (first, second)]
    assert len(set(ids)) == 2
    assert "page 2 of 2" in browser.get("/people?page=99").text


def test_person_page_shows_faces_assets_and_forms(browser: TestClient, services: Services) -> None:  # noqa: F811
    sign_in(browser)
    first, video, main, other = _library(services)
    page = browser.get(f"/people/{main}")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert services.people is not None
    face_ids = [f.face_id for f in services.people.person_faces(main)]
    assert sorted(re.findall(r'name="face" value="([^"]+)"', page.text)) == sorted(face_ids)
    # Seen in: both photos and the video, opened at the face's moment.
    links = re.findall(r'<a class="card" href="([^"]+)" data-asset', page.text)
    assert f"/assets/{video}?t=2.5" in links
    assert f"/assets/{first}" in links
    assert len(links) == 3
    # The video face is not cropped at a box of another moment: only the photos' faces carry a box.
    assert len(re.findall(r'class="face crop" data-box=', page.text)) == 2
    # Merge offers everyone else.
    assert re.findall(r'<option value="([^"]+)">', page.text) == [other]
    for form in ('id="rename"', 'id="merge"', 'id="split"'):
        assert form in page.text
    assert browser.get("/people/nobody").status_code == 404


def test_people_script_writes_with_the_csrf_token() -> None:
    from mie.web.base import STATIC_DIR

    script = (STATIC_DIR / "people.js").read_text()
    for route in ('"/name"', '"/merge"', '"/split"'):
        assert route in script
    # Writes go through mie.api, which adds the X-CSRF-Token header.
    assert "window.mie" in script
    assert "fetch(" not in script
    assert "X-CSRF-Token" in (STATIC_DIR / "app.js").read_text()
