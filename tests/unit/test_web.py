"""The web UI in process: offline API docs, sign-in and session cookie, CSRF, pages, media with the cookie, and the
insights the asset page draws (tests/e2e/test_web_ui.py drives a real browser)."""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.web import session
from mie.web.base import STATIC_DIR
from mie.web.insights import collect, web_captions_vtt
from mie.web.pages import _safe_next, snippet_html
from tests.helpers import API_KEY, make_workflow, operation, start, upload, wait_for

BASE = "http://testserver"


@pytest.fixture
def browser(services: Services) -> Iterator[TestClient]:
    """A client without the API key header: what a browser sends."""
    with TestClient(services.app(), base_url=BASE, follow_redirects=False) as test_client:
        yield test_client


def sign_in(client: TestClient) -> str:
    """Sign in; returns the CSRF token of the session."""
    answer = client.post("/login", data={"key": API_KEY, "next": "/"}, headers={"Origin": BASE})
    assert answer.status_code == 303, answer.text
    page = client.get("/")
    assert page.status_code == 200
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


# Offline API docs ------------------------------------------------------------------------------------------------


def test_api_docs_reference_only_same_origin_files(browser: TestClient) -> None:
    page = browser.get("/api/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "http://" not in page.text
    assert "https://" not in page.text
    for url in urls:
        assert browser.get(url).status_code == 200, url
    assert 'data-csrf=""' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    csrf = sign_in(browser)
    assert f'data-csrf="{csrf}"' in browser.get("/api/docs").text


def test_vendored_files_match_their_recorded_checksums() -> None:
    vendor = STATIC_DIR / "vendor"
    listed = re.findall(r"^([0-9a-f]{64})  (\S+)$", (vendor / "VENDORED.md").read_text(), re.MULTILINE)
    assert len(listed) == 4
    for digest, name in listed:
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    for licence in ("swagger-ui/LICENSE", "hls.js/LICENSE"):
        assert "Apache License" in (vendor / licence).read_text()


def test_pages_load_nothing_from_another_origin(browser: TestClient) -> None:
    sign_in(browser)
    for path in ("/", "/search", "/executions", "/jobs", "/workflows", "/login"):
        page = browser.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-security-policy"].startswith("default-src 'self'"), path
        assert page.headers["x-frame-options"] == "DENY"
        assert not re.search(r"""(src|href)=["'](https?:)?//""", page.text), path


# Sign-in, cookie, CSRF -----------------------------------------------------------------------------------------


def test_pages_redirect_to_sign_in(browser: TestClient) -> None:
    answer = browser.get("/assets/abc?t=3")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/assets/abc%3Ft%3D3"
    assert browser.get("/api/workflow").status_code == 401


def test_wrong_key_is_refused(browser: TestClient) -> None:
    answer = browser.post("/login", data={"key": "nope", "next": "/"})
    assert answer.status_code == 401
    assert "not this server" in answer.text
    assert session.COOKIE not in answer.cookies


def test_cookie_is_http_only_lax_and_expiring(browser: TestClient) -> None:
    answer = browser.post("/login", data={"key": API_KEY, "next": "/search"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/search"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert f"max-age={session.SESSION_SECONDS}" in cookie
    assert "secure" not in cookie  # plain http here
    secure = browser.post(
        "/login", data={"key": API_KEY}, headers={"x-forwarded-proto": "https", "Origin": "https://testserver"}
    )
    assert "secure" in secure.headers["set-cookie"].lower()


def test_sign_in_is_no_open_redirect() -> None:
    assert _safe_next("//evil.example/x") == "/"
    assert _safe_next("https://evil.example/") == "/"
    assert _safe_next("/assets/a?t=1") == "/assets/a?t=1"


def test_session_authorises_api_reads_and_csrf_guards_writes(browser: TestClient) -> None:
    csrf = sign_in(browser)
    assert browser.get("/api/workflow").status_code == 200
    body = {"Name": "MaxConcurrentWorkflows", "Value": 3}
    refused = browser.post("/api/system/configuration", json=body)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["Message"]
    assert browser.post("/api/system/configuration", json=body, headers={"X-CSRF-Token": "x" * 64}).status_code == 403
    foreign = {"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    assert browser.post("/api/system/configuration", json=body, headers=foreign).status_code == 403
    ok = browser.post("/api/system/configuration", json=body, headers={"X-CSRF-Token": csrf, "Origin": BASE})
    assert ok.status_code == 200, ok.text


def test_api_key_clients_are_unaffected(browser: TestClient) -> None:
    sign_in(browser)
    # A header credential is checked as before, cookie or not: a wrong key is 401 even with a valid session.
    assert browser.get("/api/workflow", headers={"x-api-key": "wrong"}).status_code == 401
    body = {"Name": "MaxConcurrentWorkflows", "Value": 2}
    assert browser.post("/api/system/configuration", json=body, headers={"x-api-key": API_KEY}).status_code == 200


def test_tampered_or_expired_cookies_are_refused() -> None:
    value, found = session.new_cookie(API_KEY, now=1000.0)
    assert session.read_cookie(value, API_KEY, now=1001.0) == found
    assert session.read_cookie(value, API_KEY, now=1000.0 + session.SESSION_SECONDS + 1) is None
    assert session.read_cookie(value, "another-key", now=1001.0) is None
    expires, nonce, signature = value.split(".")
    assert session.read_cookie(f"{int(expires) + 999}.{nonce}.{signature}", API_KEY, now=1001.0) is None
    assert session.read_cookie("garbage", API_KEY) is None


def test_sign_out_needs_the_token_and_clears_the_cookie(browser: TestClient) -> None:
    csrf = sign_in(browser)
    assert browser.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
    answer = browser.post("/logout", data={"csrf_token": csrf})
    assert answer.status_code == 303
    assert 'mie_session=""' in answer.headers["set-cookie"] or "max-age=0" in answer.headers["set-cookie"].lower()
    browser.cookies.clear()
    assert browser.get("/").status_code == 303


# Media with the cookie --------------------------------------------------------------------------------------------


def test_media_route_serves_names_with_spaces_and_unicode(browser: TestClient, client: TestClient) -> None:
    key = "media out/Fête du film/master 1.m3u8"
    upload(client, key, b"#EXTM3U\n#EXT-X-VERSION:3\nsegment 1.ts\n", bucket="media")
    url = "/media/media/media%20out/F%C3%AAte%20du%20film/master%201.m3u8"
    assert browser.get(url).status_code == 401
    sign_in(browser)
    answer = browser.get(url)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    part = browser.get(url, headers={"Range": "bytes=0-6"})
    assert part.status_code == 206
    assert part.content == b"#EXTM3U"
    assert browser.get("/media/media/nothing-here.ts").status_code == 404


# Insights -------------------------------------------------------------------------------------------------------

BOX = {"Left": 0.25, "Top": 0.5, "Width": 0.125, "Height": 0.25}


def test_insights_collects_boxes_tracks_words_and_captions() -> None:
    results = {
        "faceDetection": [{"Faces": [{"Timestamp": 1000, "Face": {"BoundingBox": BOX, "Confidence": 99.1}}]}],
        "labelDetection": [
            {"Labels": [{"Timestamp": 0, "Label": {"Name": "Cat", "Instances": [{"BoundingBox": BOX}]}}]},
            {"Labels": [{"Timestamp": 2000, "Label": {"Name": "Cat", "Instances": []}}]},
        ],
        "TranscribeVideo": [
            {
                "results": {
                    "items": [
                        {
                            "start_time": "0.5",
                            "end_time": "0.9",
                            "type": "pronunciation",
                            "alternatives": [{"content": "Hello"}],
                        },
                        {"type": "punctuation", "alternatives": [{"content": "."}]},
                        {
                            "start_time": "1.2",
                            "end_time": "1.6",
                            "type": "pronunciation",
                            "alternatives": [{"content": "Cat"}],
                        },
                    ]
                }
            }
        ],
        "WebCaptions_es": [{"WebCaptions": [{"start": 0.5, "end": 1.6, "caption": "Hola."}]}],
        "shotDetection": [{"Segments": [{"Type": "SHOT", "StartTimestampMillis": 0, "EndTimestampMillis": 3000}]}],
    }
    found = collect(results)
    assert [(b["kind"], b["t"], b["box"]) for b in found.boxes] == [("object", 0, BOX), ("face", 1000, BOX)]
    assert found.sample_ms == 1000
    assert found.words == [{"start": 500, "end": 900, "text": "Hello."}, {"start": 1200, "end": 1600, "text": "Cat"}]
    groups = {t["group"]: t for t in found.tracks}
    assert groups["labels"]["items"] == [{"start": 0, "end": 3000, "label": "Cat"}]
    assert set(groups) == {"labels", "faces", "shots", "transcript"}
    assert found.captions == [{"op": "WebCaptions_es", "lang": "es", "label": "captions (es)"}]
    image = collect({"labelDetectionImage": [{"Labels": [{"Name": "Dog", "Instances": [{"BoundingBox": BOX}]}]}]})
    assert image.boxes[0]["t"] is None
    assert image.labels == ["Dog"]


def test_web_captions_become_webvtt() -> None:
    vtt = web_captions_vtt([{"WebCaptions": [{"start": 61.5, "end": 63.25, "caption": "a --> b"}]}])
    assert vtt == "WEBVTT\n\n1\n00:01:01.500 --> 00:01:03.250\na -> b\n"


def test_snippets_keep_only_the_index_marks() -> None:
    html = str(snippet_html("<script>x</script> the <mark>cat</mark>"))
    assert html == "&lt;script&gt;x&lt;/script&gt; the <mark>cat</mark>"


def test_asset_page_of_an_image_with_results(browser: TestClient, client: TestClient, tmp_path: Path) -> None:
    from PIL import Image
    from skimage import data

    Image.fromarray(data.chelsea()).save(tmp_path / "cat.jpg")
    upload(client, "upload/chelsea the cat.jpg", (tmp_path / "cat.jpg").read_bytes())
    asset = client.post(
        "/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": "upload/chelsea the cat.jpg"}}
    )
    asset_id = asset.json()["AssetId"]
    results = {"Labels": [{"Name": "Cat", "Confidence": 90.0, "Instances": [{"BoundingBox": BOX}]}]}
    stored = client.post(
        f"/api/dataplane/metadata/{asset_id}",
        json={"OperatorName": "labelDetectionImage", "WorkflowId": "wf-1", "Results": results},
    )
    assert stored.status_code == 200
    sign_in(browser)
    page = browser.get(f"/assets/{asset_id}")
    assert page.status_code == 200
    assert "chelsea the cat.jpg" in page.text
    assert '"kind": "object"' in page.text
    assert "/media/dataplane/private/assets/" in page.text
    library = browser.get("/")
    assert "chelsea the cat.jpg" in library.text
    assert browser.get(f"/assets/{asset_id}/captions/labelDetectionImage.vtt").status_code == 404
    everything = browser.get(f"/assets/{asset_id}/results.json")
    assert everything.status_code == 200
    assert everything.json() == {"labelDetectionImage": results}


def test_event_stream_needs_a_session_and_sends_execution_events(browser: TestClient, client: TestClient) -> None:
    assert browser.get("/ui/events").status_code == 401
    sign_in(browser)
    make_workflow(client, "web-wf", [[operation("web-op")]])
    run = start(client, "web-wf", "upload/clip.mp4")
    wait_for(client, run["Id"], {"Complete"})
    with browser.stream("GET", "/ui/events?after=0") as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        text = "".join(answer.iter_text())
    assert text.startswith("retry: 500\nid: 0\n")
    events = re.findall(r"id: (\d+)\nevent: execution\ndata: (.+)\n", text)
    statuses = [json.loads(body)["Status"] for _, body in events if json.loads(body)["Id"] == run["Id"]]
    assert statuses[0] == "Queued"
    assert statuses[-1] == "Complete"
    assert ": tick" in text  # the stream ends by itself (the browser reconnects with Last-Event-ID)
    # Resuming after the last event sends nothing again.
    last = events[-1][0]
    with browser.stream("GET", "/ui/events", headers={"Last-Event-ID": last}) as answer:
        assert "event: execution" not in "".join(answer.iter_text())


def test_workflow_form_round_trips_list_values(browser: TestClient, client: TestClient) -> None:
    stored = client.get("/api/workflow/configuration/CasVideoWorkflow").json()
    cue_types = stored["defaultVideoStage"]["technicalCueDetection"]["CueTypes"]
    assert isinstance(cue_types, list)
    sign_in(browser)
    page = browser.get("/workflows?name=CasVideoWorkflow")
    assert page.status_code == 200
    found = re.search(r'data-key="CueTypes" data-type="json" value="([^"]*)"', page.text)
    assert found is not None, page.text
    assert json.loads(html.unescape(found.group(1))) == cue_types


def _cards(page_text: str) -> list[str]:
    return re.findall(r'<span class="name" title="([^"]+)">', page_text)


def test_library_filters_sorts_and_pages(browser: TestClient, client: TestClient, tmp_path: Path) -> None:
    from PIL import Image
    from skimage import data

    Image.fromarray(data.coffee()).save(tmp_path / "c.png")
    for key, body in (("upload/b-clip.mp4", None), ("upload/a-photo.png", (tmp_path / "c.png").read_bytes()),
                      ("upload/c-clip.mp4", None)):  # fmt: skip
        upload(client, key, body) if body else upload(client, key)
        created = client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": key}})
        assert created.status_code == 200, created.text
    deadline = time.monotonic() + 10
    while len(client.get("/api/media").json()) < 3:
        assert time.monotonic() < deadline, "the media index did not catch up"
        time.sleep(0.05)
    sign_in(browser)
    assert _cards(browser.get("/").text) == ["c-clip.mp4", "a-photo.png", "b-clip.mp4"]  # newest first
    assert _cards(browser.get("/?sort=oldest").text) == ["b-clip.mp4", "a-photo.png", "c-clip.mp4"]
    assert _cards(browser.get("/?sort=name").text) == ["a-photo.png", "b-clip.mp4", "c-clip.mp4"]
    assert _cards(browser.get("/?type=image").text) == ["a-photo.png"]
    assert _cards(browser.get("/?type=video&sort=name").text) == ["b-clip.mp4", "c-clip.mp4"]
    assert _cards(browser.get("/?q=photo").text) == ["a-photo.png"]  # file names are indexed text
    assert _cards(browser.get("/?label=Nothing").text) == []
    assert "Not analysed" in browser.get("/").text


def test_library_pages(browser: TestClient, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from mie.web import library

    monkeypatch.setattr(library, "PAGE_SIZE", 2)
    for index in range(3):
        upload(client, f"upload/v{index}.mp4")
        client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": f"upload/v{index}.mp4"}})
    sign_in(browser)
    first = browser.get("/?sort=name")
    assert _cards(first.text) == ["v0.mp4", "v1.mp4"]
    assert "page 1 of 2" in first.text
    assert _cards(browser.get("/?sort=name&page=2").text) == ["v2.mp4"]
    assert _cards(browser.get("/?sort=name&page=99").text) == ["v2.mp4"]  # past the end: the last page


def test_caption_tracks_prefer_the_stored_vtt_files() -> None:
    from mie.web.pages import caption_tracks

    vtt = {"S3Bucket": "dataplane", "S3Key": "private/assets/a/workflows/w/Captions_en.vtt"}
    results = {"CreateVTTCaptions": [{"CaptionsCollection": [{"LanguageCode": "en", "Results": vtt}]}]}
    captions = [{"op": f"WebCaptions_{lang}", "lang": lang, "label": ""} for lang in ("en", "es")]
    assert caption_tracks("a", results, captions) == [
        {"src": "/media/dataplane/private/assets/a/workflows/w/Captions_en.vtt", "lang": "en", "label": "en (VTT)"},
        {"src": "/assets/a/captions/WebCaptions_es.vtt", "lang": "es", "label": "es (WebCaptions_es)"},
    ]


def test_insights_draw_tracked_persons_and_named_people() -> None:
    found = collect(
        {
            "personTracking": [{"Persons": [{"Timestamp": 0, "Person": {"Index": 0, "BoundingBox": BOX}}]}],
            "peopleRecognition": [
                {
                    "Celebrities": [{"Timestamp": 1000, "Celebrity": {"Name": "Eileen Collins", "Face": {}}}],
                    "People": [{"PersonId": "p1", "Name": "Eileen Collins", "BoundingBox": BOX, "Timestamp": 1000}],
                }
            ],
            "celebrityRecognition": [{"CelebrityFaces": [{"Name": "Grace Hopper", "Face": {"BoundingBox": BOX}}]}],
        }
    )
    kinds = [(b["kind"], b["label"], b["t"]) for b in found.boxes]
    assert kinds == [("person", "person 0", 0), ("name", "Eileen Collins", 1000), ("name", "Grace Hopper", None)]
    groups = {t["group"]: t for t in found.tracks}
    assert groups["people"]["name"] == "Eileen Collins"
    assert groups["persons"]["items"] == [{"start": 0, "end": 1000, "label": "person 0"}]
    assert found.summary["people"] == ["Eileen Collins"]


def test_favicon_is_served(browser: TestClient) -> None:
    # A browser showing a bare API answer (a refused form post, a JSON link) asks for /favicon.ico: no 404 in its log.
    answer = browser.get("/favicon.ico")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert answer.content.startswith(b"\x89PNG")
