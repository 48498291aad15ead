"""The web UI in a real headless browser (Debian's chromium driven by Playwright) against a real ``mie serve``.

One clip is generated (a photo of a person over espeak-ng speech), uploaded by dropping it on the library, analysed
by the real operators (the heaviest ones switched off in the upload options), then: the overlay box drawn at a given
time must sit where the stored bounding box says, a click on a transcript word must seek the video there, a search
for a spoken word must open the player at that word, and an HLS output of a transcode job must play through the
session cookie (its folder name has a space and an accent).

The browser is never downloaded: the system chromium is used. Without it the tests skip, except under ``CI=true``
where they fail. With ``MIE_UI_SCREENSHOTS=1`` the screenshots of the main pages are written to docs/images/.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import REPO_ROOT, MieServer
from tests.helpers import API_KEY

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("MIE_CHROMIUM", "/usr/bin/chromium"))
SPEECH = "Welcome to the lighthouse tour. Every morning the keeper climbs the stairs and makes strong coffee."
#: Operators switched off in the upload options: not needed by these tests and the slowest to run.
SWITCHED_OFF = (
    "GenericDataLookup", "textDetection", "technicalCueDetection", "Translate", "ComprehendKeyPhrases",
    "ComprehendEntities", "DetectSentiment", "CreateSRTCaptions", "TranslateWebCaptions",
)  # fmt: skip
ANALYSIS_SECONDS = 300
SCREENSHOTS = REPO_ROOT / "docs" / "images"


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playwright_browser() -> Iterator[Any]:
    _require(CHROMIUM.exists(), f"no browser at {CHROMIUM}: apt-get install chromium (scripts/setup.sh --dev)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require(False, "playwright is not installed (pip install -e '.[dev]')")
    _require(shutil.which("ffmpeg") is not None and shutil.which("espeak-ng") is not None, "needs ffmpeg and espeak-ng")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of 640x360: scikit-image's astronaut (a face) on grey, over spoken English."""
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp("webclip")
    Image.fromarray(data.astronaut()).save(root / "person.png")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(root / "speech.wav"), SPEECH], check=True)
    out = root / "Lighthouse tour.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-y", "-loop", "1", "-framerate", "25", "-i", str(root / "person.png"),
         "-i", str(root / "speech.wav"), "-filter_complex",
         "[0:v]scale=-2:360,pad=640:360:(ow-iw)/2:0:gray,format=yuv420p[v];[1:a]apad[a]",
         "-map", "[v]", "-map", "[a]", "-t", "6", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(out)],
        check=True, timeout=120,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def console_errors() -> list[str]:
    """Errors the pages logged (script errors, refused requests, Content-Security-Policy violations)."""
    return []


@pytest.fixture(scope="module")
def context(playwright_browser: Any, server: MieServer, console_errors: list[str]) -> Iterator[Any]:
    # bypass_csp: Playwright's own polling evaluates strings in the page, which the pages' policy forbids; the
    # policy itself is checked in a context of its own (test_pages_keep_to_their_content_security_policy).
    ctx = playwright_browser.new_context(
        base_url=server.base_url, viewport={"width": 1200, "height": 820}, bypass_csp=True
    )
    ctx.set_default_timeout(20_000)
    ctx.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    ctx.on("weberror", lambda error: console_errors.append(str(error.error)))
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    """What one test leaves for the next (the module's tests run in order on one server)."""
    return {}


def screenshot(page: Any, name: str) -> None:
    """A small palette PNG of the viewport into docs/images/ when MIE_UI_SCREENSHOTS=1."""
    if os.environ.get("MIE_UI_SCREENSHOTS") != "1":
        return
    from PIL import Image

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(target))
    with Image.open(target) as image:
        image.convert("RGB").quantize(colors=128).save(target, optimize=True)


def test_sign_in(page: Any, server: MieServer, console_errors: list[str]) -> None:
    page.goto("/")
    assert "/login" in page.url
    page.fill("#key", "not-the-key")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text().startswith("That is not")
    # The refused sign-in answers 401, which the browser logs; nothing else may fail later.
    assert console_errors == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
    console_errors.clear()
    page.fill("#key", API_KEY)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.base_url}/")
    cookie = next(c for c in page.context.cookies() if c["name"] == "mie_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # not readable by scripts


@pytest.mark.timeout(ANALYSIS_SECONDS + 60)
def test_drop_a_clip_and_watch_it_analyse(page: Any, context: Any, clip: Path, state: dict[str, Any]) -> None:
    page.goto("/")
    page.click("summary")
    page.select_option("#workflow", "CasVideoWorkflow")
    page.wait_for_selector("#operators input[data-op=TranscribeVideo]")
    for name in SWITCHED_OFF:
        page.uncheck(f"#operators input[data-op={name}]")
    encoded = base64.b64encode(clip.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: "video/mp4" }));
            return dt;
        }""",
        [clip.name, encoded],
    )
    page.dispatch_event("#upload", "drop", {"dataTransfer": transfer})
    item = page.locator("li.upload").first
    item.locator("a", has_text="open").wait_for()
    assert item.locator("progress").get_attribute("value") == "100"
    asset_id = item.get_attribute("data-asset")
    assert asset_id
    state["asset_id"] = asset_id

    # The executions page shows the run live (server-sent events) and drops it when it ends, without a reload.
    live = context.new_page()
    live.goto("/executions")
    run = live.locator(f"#live .run:has(a[href='/assets/{asset_id}'])")
    run.wait_for(timeout=30_000)
    run.locator("progress").first.wait_for()
    screenshot(live, "executions")
    run.wait_for(state="detached", timeout=ANALYSIS_SECONDS * 1000)
    execution_id = item.get_attribute("data-execution")
    live.locator(f"#history tr[data-id='{execution_id}'] .status", has_text="Complete").wait_for(timeout=10_000)
    live.close()
    page.wait_for_function(
        "document.querySelector('li.upload').dataset.status !== undefined", timeout=ANALYSIS_SECONDS * 1000
    )
    assert item.get_attribute("data-status") == "Complete", item.inner_text()
    page.goto("/")
    card = page.locator(f".card[data-asset='{asset_id}']")
    assert card.locator("[data-status]").inner_text() == "Complete"
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    screenshot(page, "library")


def _stored(client: httpx.Client, asset_id: str, operator: str) -> Any:
    answer = client.get(f"/api/dataplane/metadata/{asset_id}/{operator}")
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


def _video_ready(page: Any, at: float) -> None:
    page.wait_for_function(
        f"(() => {{ const v = document.getElementById('player'); return v.readyState >= 2 && !v.seeking"
        f" && Math.abs(v.currentTime - {at}) < 0.05; }})()"
    )


def test_overlay_box_is_drawn_where_the_stored_box_is(page: Any, client: httpx.Client, state: dict[str, Any]) -> None:
    asset_id = state["asset_id"]
    faces = _stored(client, asset_id, "faceDetection")["Faces"]
    assert faces, "faceDetection found no face in the astronaut photo"
    first = faces[0]
    at = first["Timestamp"] / 1000 + 0.25
    page.goto(f"/assets/{asset_id}?t={at}")
    _video_ready(page, at)
    box = page.locator(f".box-face[data-t='{first['Timestamp']}']").first
    drawn = box.bounding_box()
    video = page.locator("#player").bounding_box()
    natural = page.evaluate("[player.videoWidth, player.videoHeight]")
    # object-fit: contain letterboxes the picture inside the element; the stored box is relative to the picture.
    scale = min(video["width"] / natural[0], video["height"] / natural[1])
    width, height = natural[0] * scale, natural[1] * scale
    left = video["x"] + (video["width"] - width) / 2
    top = video["y"] + (video["height"] - height) / 2
    expected = first["Face"]["BoundingBox"]
    assert drawn["x"] == pytest.approx(left + expected["Left"] * width, abs=2)
    assert drawn["y"] == pytest.approx(top + expected["Top"] * height, abs=2)
    assert drawn["width"] == pytest.approx(expected["Width"] * width, abs=2)
    assert drawn["height"] == pytest.approx(expected["Height"] * height, abs=2)
    # Before its sample time the box is not drawn.
    if first["Timestamp"] >= 1000:
        page.evaluate(f"player.currentTime = {first['Timestamp'] / 1000 - 0.5}")
        page.wait_for_function(f"!document.querySelector(\".box-face[data-t='{first['Timestamp']}']\")")
    screenshot(page, "asset")


def test_transcript_word_click_seeks(page: Any, state: dict[str, Any]) -> None:
    words = page.locator("#transcript .word")
    assert words.count() > 5
    word = words.nth(5)
    start = int(word.get_attribute("data-start")) / 1000
    word.click()
    _video_ready(page, start)
    page.wait_for_function("document.querySelector('#transcript .word.current') !== null")
    assert page.locator("#transcript .word.current").get_attribute("data-start") == word.get_attribute("data-start")
    # A click on a timeline segment seeks to its start too.
    segment = page.locator(".track-transcript .seg").last
    seg_start = int(segment.get_attribute("data-start")) / 1000
    segment.click()
    _video_ready(page, seg_start)
    # The captions (WebVTT made from WebCaptions_en) are a track of the player.
    page.evaluate("player.textTracks[0].mode = 'showing'")
    page.wait_for_function("player.textTracks[0].cues && player.textTracks[0].cues.length > 0")
    first_cue = page.evaluate("player.textTracks[0].cues[0].text")
    assert first_cue.split()[0].lower().strip(".,") == page.locator(
        "#transcript .word"
    ).first.inner_text().lower().strip(".,")


def test_search_a_spoken_word_opens_the_player_at_it(page: Any, client: httpx.Client, state: dict[str, Any]) -> None:
    asset_id = state["asset_id"]
    items = _stored(client, asset_id, "TranscribeVideo")["results"]["items"]
    spoken = [i for i in items if i["type"] == "pronunciation"]
    target = max(spoken, key=lambda i: len(i["alternatives"][0]["content"]))
    word = target["alternatives"][0]["content"].strip(".,?!").lower()
    # The search index follows the change feed on its own: give it a moment after the analysis.
    deadline = time.monotonic() + 15
    page.goto(f"/search?q={word}&operator=TranscribeVideo")
    while page.locator("a.hit").count() == 0 and time.monotonic() < deadline:
        page.wait_for_timeout(300)
        page.reload()
    hit = page.locator("a.hit").first
    assert word in hit.locator("mark").first.inner_text().lower()
    screenshot(page, "search")
    hit.click()
    page.wait_for_url(f"**/assets/{asset_id}?t=*")
    _video_ready(page, round(float(target["start_time"]), 3))


@pytest.mark.timeout(180)
def test_hls_output_plays_through_the_session(page: Any, client: httpx.Client, state: dict[str, Any]) -> None:
    asset_id = state["asset_id"]
    source = client.get(f"/api/dataplane/metadata/{asset_id}").json()["results"]
    settings = {
        "Inputs": [{"FileInput": f"s3://{source['S3Bucket']}/{source['S3Key']}"}],
        "OutputGroups": [
            {
                "OutputGroupSettings": {
                    "Type": "HLS_GROUP_SETTINGS",
                    "HlsGroupSettings": {"SegmentLength": 2, "Destination": "s3://media/Fête du phare/hls/tour été"},
                },
                "Outputs": [
                    {
                        "NameModifier": "_180",
                        "ContainerSettings": {"Container": "M3U8"},
                        "VideoDescription": {
                            "Width": 320,
                            "Height": 180,
                            "CodecSettings": {"Codec": "H_264", "H264Settings": {"Bitrate": 400000}},
                        },
                        "AudioDescriptions": [{"CodecSettings": {"Codec": "AAC"}}],
                    }
                ],
            }
        ],
    }
    # The jobs page, open before the job exists, follows it by its events.
    jobs_page = page.context.new_page()
    jobs_page.goto("/jobs")
    created = client.post("/api/jobs", json={"Settings": settings, "UserMetadata": {"assetID": asset_id}})
    assert created.status_code == 201, created.text
    job_id = created.json()["Job"]["id"]
    deadline = time.monotonic() + 120
    while (job := client.get(f"/api/jobs/{job_id}").json())["status"] not in ("COMPLETE", "ERROR"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    assert job["status"] == "COMPLETE", job
    jobs_page.locator(f"tr[data-job='{job_id}'] .status", has_text="COMPLETE").wait_for(timeout=15_000)
    jobs_page.close()
    fetched: list[tuple[str, int]] = []
    page.on("response", lambda r: fetched.append((r.url, r.status)) if "/media/media/" in r.url else None)
    page.goto(f"/assets/{asset_id}")
    page.select_option("#source", index=1)
    page.wait_for_function("window.mieHls !== undefined || player.src.endsWith('.m3u8')")
    page.evaluate("player.muted = true; player.play()")
    page.wait_for_function("player.currentTime > 1.0 && !player.paused", timeout=30_000)
    assert any(".m3u8" in url for url, _ in fetched), fetched
    assert any(url.endswith(".ts") and status in (200, 206) for url, status in fetched), fetched
    assert all(status in (200, 206) for _, status in fetched), fetched
    assert any("F%C3%AAte%20du%20phare" in url for url, _ in fetched), fetched
    # The playlists name their segments as written ("tour été_180…ts"): the player escapes them, we serve them.
    assert any(url.rsplit("/", 1)[-1].startswith("tour%20%C3%A9t%C3%A9") and url.endswith(".ts") for url, _ in fetched)
    page.goto("/jobs")
    assert page.locator(f"tr[data-job='{job_id}'] .status").inner_text() == "COMPLETE"
    screenshot(page, "jobs")
    # The jobs page plays the output too.
    page.click(f"tr[data-job='{job_id}'] a.play")
    page.wait_for_function("(() => { const v = document.getElementById('jobvideo'); return v.currentTime > 0.5; })()")
    page.click("#jobplayer button")


@pytest.mark.timeout(180)
def test_image_upload_gets_boxes_over_the_image(
    page: Any, client: httpx.Client, tmp_path: Path, state: dict[str, Any]
) -> None:
    from PIL import Image
    from skimage import data

    photo = tmp_path / "astronaute été.jpg"
    Image.fromarray(data.astronaut()).save(photo)
    page.goto("/")
    page.set_input_files("#files", str(photo))
    item = page.locator("li.upload").first
    item.locator("a", has_text="open").wait_for()
    asset_id = item.get_attribute("data-asset")
    page.wait_for_function("document.querySelector('li.upload').dataset.status !== undefined", timeout=150_000)
    assert item.get_attribute("data-status") == "Complete", item.inner_text()
    state["image_id"] = asset_id
    # MIE's image operators store their results under the video operator's name.
    faces = _stored(client, asset_id, "faceDetection")["FaceDetails"]
    assert faces, "faceDetectionImage found no face in the astronaut photo"
    page.goto(f"/assets/{asset_id}")
    page.wait_for_function("player.complete && player.naturalWidth > 0")
    drawn = page.locator(".box-face").first.bounding_box()
    shown = page.locator("#player").bounding_box()
    natural = page.evaluate("[player.naturalWidth, player.naturalHeight]")
    scale = min(shown["width"] / natural[0], shown["height"] / natural[1])
    width, height = natural[0] * scale, natural[1] * scale
    expected = faces[0]["BoundingBox"]
    assert drawn["x"] == pytest.approx(shown["x"] + (shown["width"] - width) / 2 + expected["Left"] * width, abs=2)
    assert drawn["y"] == pytest.approx(shown["y"] + (shown["height"] - height) / 2 + expected["Top"] * height, abs=2)
    assert drawn["width"] == pytest.approx(expected["Width"] * width, abs=2)


@pytest.mark.timeout(120)
def test_name_the_person_of_the_photo_on_the_people_page(
    page: Any, client: httpx.Client, server: MieServer, state: dict[str, Any]
) -> None:
    image_id = state["image_id"]
    seen = client.get(f"/api/people/asset/{image_id}").json()["People"]
    assert seen, "peopleRecognitionImage (CasImageWorkflow's PeopleStage) found nobody on the astronaut photo"
    person_id = seen[0]["PersonId"]
    face = next(f for f in seen[0]["Faces"] if f["AssetId"] == image_id)
    page.goto("/")
    page.click("nav a:text-is('People')")
    page.wait_for_url(f"{server.base_url}/people")
    card = page.locator(f".card.person[data-person='{person_id}']")
    frame = card.locator(".face.drawn")
    frame.wait_for()
    # The crop: the face box's centre is the frame's centre (the image scaled and shifted in its frame).
    shown, drawn = frame.bounding_box(), frame.locator("img").bounding_box()
    box = face["BoundingBox"]
    assert drawn["x"] + (box["Left"] + box["Width"] / 2) * drawn["width"] == pytest.approx(
        shown["x"] + shown["width"] / 2, abs=2
    )
    assert drawn["y"] + (box["Top"] + box["Height"] / 2) * drawn["height"] == pytest.approx(
        shown["y"] + shown["height"] / 2, abs=2
    )
    assert drawn["width"] > shown["width"]
    card.click()
    page.wait_for_url(f"{server.base_url}/people/{person_id}")
    assert page.locator(f"#assets .card[data-asset='{image_id}']").count() == 1
    assert page.locator("#person-name").inner_text() == "unnamed"
    page.fill("#name", "Eileen Collins")
    page.click("#rename button[type=submit]")
    page.locator("#person-name", has_text="Eileen Collins").wait_for()
    assert client.get(f"/api/people/{person_id}").json()["Name"] == "Eileen Collins"
    page.locator("#split .face.drawn").first.wait_for()
    screenshot(page, "person")
    page.goto(f"/assets/{image_id}")
    page.locator("#asset-people a", has_text="Eileen Collins").wait_for()
    # The stored peopleRecognition result was stored again with the name: the box over the face says it.
    page.locator(".box-name", has_text="Eileen Collins").first.wait_for()
    # Split the photo's face off into a new person, then merge the named one back into it: the name follows.
    page.goto(f"/people/{person_id}")
    page.check(f"#split input[value='{face['FaceId']}']")
    page.click("#split-button")
    page.wait_for_url(lambda url: "/people/" in url and not url.endswith(person_id))
    new_id = page.url.rsplit("/", 1)[-1]
    assert page.locator("#person-name").inner_text() == "unnamed"
    assert [f["FaceId"] for f in client.get(f"/api/people/{new_id}").json()["Faces"]] == [face["FaceId"]]
    page.select_option("#merge-people", person_id)
    page.click("#merge button[type=submit]")
    page.locator("#person-name", has_text="Eileen Collins").wait_for()
    assert page.url.endswith(f"/people/{new_id}")
    assert client.get(f"/api/people/{person_id}").status_code == 404
    assert page.locator(f"#split input[value='{face['FaceId']}']").count() == 1
    page.goto("/people?q=eileen")
    assert page.locator(".card.person").count() == 1
    page.locator(".card.person .face.drawn").first.wait_for()
    screenshot(page, "people")


def test_pages_fit_a_phone(playwright_browser: Any, server: MieServer, state: dict[str, Any]) -> None:
    phone = playwright_browser.new_context(
        base_url=server.base_url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        page = phone.new_page()
        page.goto("/login")
        page.fill("#key", API_KEY)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.base_url}/")
        for path in ("/", f"/assets/{state['asset_id']}", f"/assets/{state['image_id']}", "/search?q=lighthouse",
                     "/executions", "/jobs", "/workflows", "/people"):  # fmt: skip
            page.goto(path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow} px wider than the phone's screen"
        page.goto(f"/assets/{state['asset_id']}")
        player = page.locator("#player").bounding_box()
        assert 0 < player["width"] <= 390
        screenshot(page, "phone")
    finally:
        phone.close()


@pytest.mark.timeout(180)
def test_start_a_workflow_from_its_form_then_delete_the_asset(
    page: Any, client: httpx.Client, server: MieServer, state: dict[str, Any]
) -> None:
    image_id = state["image_id"]
    page.goto(f"/assets/{image_id}")
    page.click("text=Configure…")
    page.wait_for_url("**/workflows?asset=*")
    page.click("a:text-is('CasImageWorkflow')")
    assert page.locator("#start select[name=asset]").input_value() == image_id
    page.uncheck("#start input[data-op=textDetectionImage][data-key=Enabled]")
    page.click("#start button[type=submit]")
    page.wait_for_url("**/executions")
    runs = client.get(f"/api/workflow/execution/asset/{image_id}").json()
    assert len(runs) == 2
    newest = runs[0]["Id"]
    page.locator(f"#history tr[data-id='{newest}'] .status", has_text="Complete").wait_for(timeout=150_000)
    record = client.get(f"/api/workflow/execution/{newest}").json()
    assert record["Configuration"]["RekognitionStage"]["textDetectionImage"]["Enabled"] is False
    outputs = record["Workflow"]["Stages"]["RekognitionStage"]["Outputs"]
    assert {o["Name"]: o["Status"] for o in outputs}["textDetectionImage"] == "Skipped"

    page.goto(f"/assets/{image_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    page.wait_for_url(f"{server.base_url}/")
    assert page.locator(f".card[data-asset='{image_id}']").count() == 0
    assert client.get(f"/api/dataplane/metadata/{image_id}").status_code == 404


@pytest.mark.timeout(120)
def test_cancel_a_running_execution(page: Any, client: httpx.Client, state: dict[str, Any]) -> None:
    asset_id = state["asset_id"]
    watching = page.context.new_page()  # the asset page, open meanwhile, says what happens to the asset
    watching.goto(f"/assets/{asset_id}")
    page.goto(f"/assets/{asset_id}")
    page.select_option("#rerun-workflow", "CasVideoWorkflow")
    page.click("#rerun")
    page.wait_for_url("**/executions")
    run_id = client.get(f"/api/workflow/execution/asset/{asset_id}").json()[0]["Id"]
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"button[data-cancel='{run_id}']")
    page.locator(f"#history tr[data-id='{run_id}'] .status", has_text="Cancelled").wait_for(timeout=30_000)
    assert page.locator(f"#run-{run_id}").count() == 0
    record = client.get(f"/api/workflow/execution/{run_id}").json()
    assert (record["Status"], record["Message"]) == ("Error", "Cancelled by request")
    watching.locator("#live-message", has_text="The analysis was cancelled").wait_for(timeout=10_000)
    watching.close()


def test_no_page_asked_another_origin(
    page: Any, server: MieServer, state: dict[str, Any], console_errors: list[str]
) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    paths = ("/", f"/assets/{state['asset_id']}", "/search?q=coffee", "/executions", "/jobs", "/workflows", "/api/docs")
    for path in paths:
        page.goto(path)
        # Not "networkidle": the pages keep an event stream open.
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)
    assert "Media Insights Engine" in page.locator(".swagger-ui .info .title").inner_text()
    # "Try it out" runs with the session: its requests carry the session's CSRF token.
    token = page.evaluate("ui.getConfigs().requestInterceptor({headers: {}}).headers['X-CSRF-Token']")
    page.goto("/")
    assert token == page.locator("meta[name=csrf-token]").get_attribute("content")
    assert asked
    foreign = [u for u in asked if not u.startswith(server.base_url) and not u.startswith(("data:", "blob:"))]
    assert not foreign, foreign
    # Over the whole module: no script error, no failed request.
    assert not console_errors, console_errors


def test_pages_keep_to_their_content_security_policy(
    playwright_browser: Any, server: MieServer, state: dict[str, Any]
) -> None:
    strict = playwright_browser.new_context(base_url=server.base_url)
    refused: list[str] = []
    strict.on("console", lambda message: refused.append(message.text) if message.type == "error" else None)
    try:
        page = strict.new_page()
        page.goto("/login")
        page.fill("#key", API_KEY)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.base_url}/")
        for path in (
            "/",
            "/search?q=lighthouse",
            "/executions",
            "/jobs",
            "/workflows?name=CasVideoWorkflow",
            "/people",
        ):
            page.goto(path)
            page.wait_for_load_state("load")
        page.goto("/api/docs")
        page.locator(".swagger-ui .info .title").wait_for()
        page.goto(f"/assets/{state['asset_id']}")
        page.locator("#transcript .word").first.click()
        page.select_option("#source", index=1)  # HLS: hls.js with its Media Source buffers
        page.locator("#player").evaluate("v => { v.muted = true; return v.play(); }")
        page.wait_for_timeout(1500)
        assert page.locator("#player").evaluate("v => v.currentTime") > 0.5
        page.locator("#player").evaluate("v => v.pause()")
        page.click("button[data-op=Mediainfo]")
        page.locator("#json", has_text="tracks").wait_for()
    finally:
        strict.close()
    assert not refused, refused
