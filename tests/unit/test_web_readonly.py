"""Read-only keys in the web UI: a key of ``MIE_API_KEYS_READONLY`` signs in and browses every page, the pages leave
out (or disable) the write actions, and the server refuses every write of such a session with 403, whatever the
request looks like (the session's own CSRF token, a same-origin form post). tests/e2e/test_web_readonly.py does the
same in a real browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.config import Settings
from mie.web import session
from mie.web.base import media_url
from tests.conftest import fast_settings
from tests.helpers import API_KEY, upload
from tests.unit.test_web import BASE, browser, sign_in  # noqa: F401 (the fixture)
from tests.unit.test_web_people import _library

READ_KEY = "read-only-key-0123456789"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return fast_settings(tmp_path / "data", api_keys_readonly=f"another-read-key-98765, {READ_KEY}")


def sign_in_read_only(client: TestClient) -> str:
    """Sign in with the read-only key; returns the session's CSRF token."""
    answer = client.post("/login", data={"key": READ_KEY, "next": "/people"}, headers={"Origin": BASE})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/people"
    page = client.get("/")
    assert page.status_code == 200
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_read_only_key_signs_in_and_browses_every_page(browser: TestClient, services: Services) -> None:  # noqa: F811
    first, video, main, _other = _library(services)
    sign_in_read_only(browser)
    for path in ("/", "/search?q=astronaut", "/people", f"/people/{main}", "/executions", "/jobs", "/workflows",
                 "/workflows?name=CasImageWorkflow", f"/assets/{first}", f"/assets/{video}", "/api/docs"):  # fmt: skip
        page = browser.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        if path != "/api/docs":
            assert 'data-read-only="1"' in page.text, path
            assert ">read-only</span>" in page.text, path
    # The API's reads work with the session too, and so do the media the pages load.
    assert browser.get("/api/workflow").status_code == 200
    stored = browser.get(f"/api/dataplane/metadata/{first}")
    assert stored.status_code == 200
    source = stored.json()["results"]
    assert browser.get(media_url(source["S3Bucket"], source["S3Key"])).status_code == 200


def test_pages_leave_the_write_actions_out(browser: TestClient, services: Services) -> None:  # noqa: F811
    first, _video, main, _other = _library(services)
    sign_in(browser)  # first as admin: the actions are there (so the checks below can fail)
    admin_pages = {p: browser.get(p).text for p in ("/", f"/assets/{first}", f"/people/{main}", "/workflows")}
    browser.cookies.clear()
    sign_in_read_only(browser)
    read_pages = {p: browser.get(p).text for p in admin_pages}
    marks = {
        "/": ['id="upload"', 'id="files"'],
        f"/assets/{first}": ['id="delete"', 'id="rerun"', "Configure…"],
        f"/people/{main}": ['id="rename"', 'id="merge"', 'id="split-button"', 'name="face"'],
        "/workflows": ['<button type="submit">Start</button>'],
    }
    for path, needles in marks.items():
        for needle in needles:
            assert needle in admin_pages[path], (path, needle)
            assert needle not in read_pages[path], (path, needle)
    assert 'id="read-only-notice"' in read_pages["/"]
    # The workflow configuration stays readable, in a disabled fieldset.
    assert re.search(r'<fieldset class="plain" disabled>', read_pages["/workflows"])
    assert 'data-key="Enabled"' in read_pages["/workflows"]
    assert 'id="read-only-notice"' not in admin_pages["/"]


def test_every_write_of_a_read_only_session_is_403(
    browser: TestClient,  # noqa: F811
    client: TestClient,
    services: Services,
) -> None:
    first, _video, main, other = _library(services)
    assert services.people is not None
    face = services.people.person_faces(main)[0].face_id
    csrf = sign_in_read_only(browser)
    # The session's own token and this origin: everything a genuine page of the UI would send.
    genuine = {"X-CSRF-Token": csrf, "Origin": BASE}
    writes = [
        ("POST", "/api/dataplane/upload", {"S3Bucket": "dataplane", "S3Key": "upload/x/clip.mp4"}),
        ("POST", "/api/workflow/execution", {"Name": "CasImageWorkflow", "Input": {"AssetId": first}}),
        ("DELETE", f"/api/dataplane/metadata/{first}", None),
        ("POST", f"/api/people/{main}/name", {"Name": "Mallory"}),
        ("POST", f"/api/people/{main}/merge", {"PersonIds": [other]}),
        ("POST", f"/api/people/{main}/split", {"FaceIds": [face]}),
        ("POST", "/api/workflow/execution/nope/cancel", None),
        ("POST", "/api/system/configuration", {"Name": "MaxConcurrentWorkflows", "Value": 1}),
    ]
    for method, path, body in writes:
        answer = browser.request(method, path, json=body, headers=genuine)
        assert answer.status_code == 403, (method, path, answer.text)
        assert "read-only" in answer.json()["Message"], (method, path, answer.text)
        # A forged form post (urlencoded, the token in a field, as an HTML form would send it) is refused as well.
        forged = browser.request(method, path, data={"csrf_token": csrf, "Name": "Mallory"}, headers={"Origin": BASE})
        assert forged.status_code == 403, (method, path, forged.text)
    # Nothing changed.
    assert client.get(f"/api/dataplane/metadata/{first}").status_code == 200
    person = client.get(f"/api/people/{main}").json()
    assert person["Name"] in (None, "")
    assert client.get(f"/api/people/{other}").status_code == 200
    assert client.get("/api/workflow/execution/asset/" + first).json() == []
    # The admin key's session still writes (the refusals above are the scope, not a broken route).
    browser.cookies.clear()
    admin_csrf = sign_in(browser)
    renamed = browser.post(f"/api/people/{main}/name", json={"Name": "Eileen"}, headers={"X-CSRF-Token": admin_csrf})
    assert renamed.status_code == 200, renamed.text


def test_read_only_session_signs_out(browser: TestClient) -> None:  # noqa: F811
    csrf = sign_in_read_only(browser)
    assert browser.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
    browser.cookies.clear()
    assert browser.get("/").status_code == 303


def test_read_only_key_in_a_header_reads_media(client: TestClient, browser: TestClient) -> None:  # noqa: F811
    upload(client, "clips/a b.txt", b"hello", bucket="media")
    assert browser.get("/media/media/clips/a%20b.txt", headers={"x-api-key": READ_KEY}).status_code == 200
    assert browser.get("/media/media/clips/a%20b.txt", headers={"x-api-key": "wrong-key-0123456789"}).status_code == 401


def test_read_only_cookies_are_signed_with_their_key_and_scope() -> None:
    value, found = session.new_cookie(READ_KEY, now=1000.0, scope="read")
    assert found.read_only
    assert session.read_cookie(value, API_KEY, now=1001.0, readonly_keys=[READ_KEY]) == found
    # Without the read-only key configured (removed from MIE_API_KEYS_READONLY) the cookie is no session at all.
    assert session.read_cookie(value, API_KEY, now=1001.0) is None
    assert session.read_cookie(value, API_KEY, now=1001.0, readonly_keys=["another-read-key-98765"]) is None
    # Its signature is over the scope: read as the admin key's cookie, even with the same key, it fails.
    assert session.read_cookie(value, READ_KEY, now=1001.0) is None
    # An admin cookie stays admin when read-only keys are configured, and its CSRF token differs from a read one's.
    admin_value, admin = session.new_cookie(API_KEY, now=1000.0)
    again = session.read_cookie(admin_value, API_KEY, now=1001.0, readonly_keys=[READ_KEY])
    assert again == admin
    assert not admin.read_only
    late = 1000.0 + session.SESSION_SECONDS + 1
    assert session.read_cookie(value, API_KEY, now=late, readonly_keys=[READ_KEY]) is None
    assert session.check_key(READ_KEY, API_KEY, [READ_KEY]) == "read"
    assert session.check_key(API_KEY, API_KEY, [READ_KEY]) == "admin"
    assert session.check_key("not-a-key", API_KEY, [READ_KEY]) is None
    assert session.split_keys(" a, ,b ") == ("a", "b")
