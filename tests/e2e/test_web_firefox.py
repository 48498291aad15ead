"""The web UI in Firefox: Debian's ``firefox-esr`` driven over WebDriver BiDi by puppeteer-core (Node.js) against a
real ``mie serve``.

Playwright's Firefox is a patched build of its own (a download), and geckodriver is neither in Debian nor on PyPI
for Linux; puppeteer-core speaks WebDriver BiDi, which Firefox implements itself, so the system browser is enough.
The clip of tests/e2e/test_web_ui.py is analysed by the real operators, then tests/e2e/firefox/ui.mjs signs in,
opens the library, the asset page (the overlay box's geometry at a given time, a transcript word and a timeline
segment that seek, the captions track, a result tab), a search hit that opens the player at the word, the people
pages, the other pages, and a phone-sized viewport, and prints what it saw as JSON; the assertions are here.

Setup: ``scripts/setup.sh --dev`` (apt-get install firefox-esr, ``npm ci`` in tests/e2e/firefox/). Without Firefox,
Node.js or the npm packages the test skips, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import REPO_ROOT, MieServer
from tests.e2e.test_web_ui import SWITCHED_OFF, _require, _stored, clip  # noqa: F401 (clip: the fixture)
from tests.helpers import API_KEY, upload

pytestmark = pytest.mark.e2e

FIREFOX = Path(os.environ.get("MIE_TEST_FIREFOX", "/usr/bin/firefox-esr"))
DRIVER_DIR = REPO_ROOT / "tests" / "e2e" / "firefox"
ANALYSIS_SECONDS = 300
PHONE_PATHS = ("/", "/search?q=lighthouse", "/executions", "/jobs", "/workflows", "/people")


def _start(client: httpx.Client, path: Path, workflow: str, media: str) -> str:
    """Upload ``path`` and start ``workflow`` on it with the slowest operators off; returns the execution id."""
    key = f"upload/firefox/{path.name}"
    upload(client, key, path.read_bytes())
    stages = client.get(f"/api/workflow/configuration/{workflow}").json()
    configuration = {
        stage: {op: {"Enabled": False} for op in ops if op in SWITCHED_OFF} for stage, ops in stages.items()
    }
    body = {
        "Name": workflow,
        "Input": {"Media": {media: {"S3Bucket": "dataplane", "S3Key": key}}},
        "Configuration": {stage: ops for stage, ops in configuration.items() if ops},
    }
    started = client.post("/api/workflow/execution", json=body)
    assert started.status_code == 200, started.text
    return str(started.json()["Id"])


def _analyse(client: httpx.Client, clip_path: Path, photo: Path) -> tuple[str, str]:
    """The clip through CasVideoWorkflow and a photo through CasImageWorkflow, side by side; their asset ids."""
    runs = [_start(client, clip_path, "CasVideoWorkflow", "Video"), _start(client, photo, "CasImageWorkflow", "Image")]
    assets = []
    deadline = time.monotonic() + ANALYSIS_SECONDS
    for run in runs:
        while (record := client.get(f"/api/workflow/execution/{run}").json())["Status"] not in ("Complete", "Error"):
            assert time.monotonic() < deadline, record["Status"]
            time.sleep(1.0)
        assert record["Status"] == "Complete", record.get("Message")
        assets.append(str(record["AssetId"]))
    return assets[0], assets[1]


def _search_target(client: httpx.Client, asset_id: str) -> tuple[str, float]:
    """The longest spoken word, once the search index has it (it follows the change feed on its own)."""
    items = _stored(client, asset_id, "TranscribeVideo")["results"]["items"]
    spoken = [i for i in items if i["type"] == "pronunciation"]
    target = max(spoken, key=lambda i: len(i["alternatives"][0]["content"]))
    word = target["alternatives"][0]["content"].strip(".,?!").lower()
    deadline = time.monotonic() + 20
    while (
        not client.get("/api/search", params={"q": word, "operator": "TranscribeVideo"}).json().get("hits")
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    return word, round(float(target["start_time"]), 3)


@pytest.mark.timeout(ANALYSIS_SECONDS + 240)
def test_the_ui_works_in_firefox(
    server: MieServer,
    client: httpx.Client,
    clip: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    _require(FIREFOX.exists(), f"no Firefox at {FIREFOX}: apt-get install firefox-esr (scripts/setup.sh --dev)")
    node = shutil.which("node")
    _require(node is not None, "no node: the Firefox test drives the browser from Node.js (scripts/setup.sh --dev)")
    _require(
        (DRIVER_DIR / "node_modules" / "puppeteer-core").is_dir(),
        "puppeteer-core is not installed: npm ci --prefix tests/e2e/firefox (scripts/setup.sh --dev)",
    )
    _require(shutil.which("ffmpeg") is not None and shutil.which("espeak-ng") is not None, "needs ffmpeg and espeak-ng")
    from PIL import Image
    from skimage import data

    photo = tmp_path / "astronaute été.jpg"
    Image.fromarray(data.astronaut()).save(photo)
    asset_id, image_id = _analyse(client, clip, photo)
    image_faces = _stored(client, image_id, "faceDetection")["FaceDetails"]
    assert image_faces, "faceDetectionImage found no face in the astronaut photo"
    faces = _stored(client, asset_id, "faceDetection")["Faces"]
    assert faces, "faceDetection found no face in the astronaut photo"
    face = faces[0]
    word, word_start = _search_target(client, asset_id)
    # The photo's person: its face has a box, so the People pages draw a crop of it.
    seen = client.get(f"/api/people/asset/{image_id}").json()["People"]
    assert seen, "peopleRecognitionImage found nobody on the astronaut photo"
    person_id = seen[0]["PersonId"]
    config = {
        "base": server.base_url, "key": API_KEY, "firefox": str(FIREFOX), "assetId": asset_id,
        "face": {"t": face["Timestamp"], "box": face["Face"]["BoundingBox"]},
        "search": {"word": word, "start": word_start}, "personId": person_id, "imageId": image_id,
        "phonePaths": [*PHONE_PATHS, f"/assets/{asset_id}", f"/assets/{image_id}"],
    }  # fmt: skip
    assert node is not None
    ran = subprocess.run(
        [node, str(DRIVER_DIR / "ui.mjs"), json.dumps(config)],
        cwd=DRIVER_DIR, capture_output=True, text=True, timeout=200, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, f"ui.mjs exited {ran.returncode}:\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(ran.stdout.strip().splitlines()[-1])
    steps: dict[str, dict[str, Any]] = report["steps"]
    failed = {name: result["error"] for name, result in steps.items() if "error" in result}
    assert not failed, json.dumps(failed, indent=2)
    assert "Firefox/" in report["userAgent"], report["userAgent"]

    signed = steps["sign_in"]
    assert "/login" in signed["redirected"]
    assert signed["alert"].startswith("That is not")
    assert signed["landed"] == f"{server.base_url}/"
    assert signed["cookies"] == [
        {"httpOnly": True, "sameSite": "Lax", "expires": pytest.approx(time.time() + 43200, abs=600)}
    ]
    assert signed["scriptCookie"] == ""

    library = steps["library"]
    assert library["status"] == "Complete"
    assert library["thumbnail"][0] > 0
    assert library["dropZone"]

    # The overlay box sits where the stored box says, inside the letterboxed picture (object-fit: contain).
    overlay = steps["overlay"]
    video, drawn, natural = overlay["video"], overlay["drawn"], overlay["natural"]
    scale = min(video["width"] / natural[0], video["height"] / natural[1])
    width, height = natural[0] * scale, natural[1] * scale
    left = video["x"] + (video["width"] - width) / 2
    top = video["y"] + (video["height"] - height) / 2
    box = config["face"]["box"]
    assert drawn["x"] == pytest.approx(left + box["Left"] * width, abs=2)
    assert drawn["y"] == pytest.approx(top + box["Top"] * height, abs=2)
    assert drawn["width"] == pytest.approx(box["Width"] * width, abs=2)
    assert drawn["height"] == pytest.approx(box["Height"] * height, abs=2)
    assert overlay["goneBefore"] in (True, None)
    assert any("track-transcript" in track for track in overlay["tracks"]), overlay["tracks"]

    transcript = steps["transcript"]
    assert transcript["words"] > 5
    assert transcript["current"] == pytest.approx(transcript["start"], abs=0.001)
    assert transcript["currentTime"] == pytest.approx(transcript["segStart"], abs=0.05)
    assert transcript["firstCue"].split()[0].lower().strip(".,") == transcript["firstWord"].lower().strip(".,")
    assert steps["tabs"]["json"] > 0

    search = steps["search"]
    assert word in search["mark"].lower()
    assert search["thumb"] >= 1
    assert search["landed"].startswith(f"{server.base_url}/assets/{asset_id}?t=")
    assert search["currentTime"] == pytest.approx(word_start, abs=0.05)

    # The photo: the face box over the image, where the stored box says.
    image = steps["image"]
    shown, drawn, natural = image["shown"], image["drawn"], image["natural"]
    scale = min(shown["width"] / natural[0], shown["height"] / natural[1])
    width, height = natural[0] * scale, natural[1] * scale
    box = image_faces[0]["BoundingBox"]
    assert drawn["x"] == pytest.approx(shown["x"] + (shown["width"] - width) / 2 + box["Left"] * width, abs=2)
    assert drawn["y"] == pytest.approx(shown["y"] + (shown["height"] - height) / 2 + box["Top"] * height, abs=2)
    assert drawn["width"] == pytest.approx(box["Width"] * width, abs=2)

    people = steps["people"]
    assert people["landed"] == f"{server.base_url}/people"
    assert people["cards"] >= 1
    # The crop: the face box's centre is the frame's centre (the image scaled and shifted in its frame).
    frame, img = people["frame"], people["img"]
    face_box = next(f for f in seen[0]["Faces"] if f["AssetId"] == image_id)["BoundingBox"]
    assert img["x"] + (face_box["Left"] + face_box["Width"] / 2) * img["width"] == pytest.approx(
        frame["x"] + frame["width"] / 2, abs=2
    )
    assert img["y"] + (face_box["Top"] + face_box["Height"] / 2) * img["height"] == pytest.approx(
        frame["y"] + frame["height"] / 2, abs=2
    )
    assert img["width"] > frame["width"]
    assert people["person"] == f"{server.base_url}/people/{person_id}"
    assert image_id in people["assets"]

    pages = steps["other_pages"]
    assert "Media Insights Engine" in pages["docsTitle"]
    assert "Complete" in pages["history"]

    phone = steps["phone"]
    assert phone["width"] == 390
    too_wide = {path: px for path, px in phone["overflow"].items() if px > 0}
    assert not too_wide, f"pages wider than the phone's screen (px): {too_wide}; sticking out: {phone['wide']}"
    assert 0 < phone["player"]["width"] <= 390

    # Over every page: no script error, no refused Content-Security-Policy, no failed request.
    assert not report["console"], report["console"]
    assert not report["failed"], report["failed"]
