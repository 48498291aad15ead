"""The Chalice media query API on our engine: ``GET /api/media`` and ``/api/media/{name}``, fed by the indexing
consumer from the change log; automatic analysis of uploads; the indexer's offset across restarts."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from mie.bootstrap import Services, build
from mie.config import Settings, load_settings
from mie.consumers.search import CONSUMER, SearchIndexer
from mie.operators import OperatorContext, operator
from mie.storage.search import MediaQuery
from tests.helpers import API_KEY, MP4_BYTES, make_workflow, upload, wait_for

PIL = pytest.importorskip("PIL.Image")

# Heads of real files of each kind: content sniffing needs nothing more.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm\x00V_VP9" + b"\x00" * 64
MKV = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01matroska\x00V_MPEG4/ISO/AVC" + b"\x00" * 64
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 64
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64

SAMPLE_IMAGE_LABELS = ["Animal", "Canine", "Dog", "German Shepherd", "Mammal", "Pet", "Collie"]


def search_settings(data_dir: Path, **extra: str) -> Settings:
    """Fast settings (as tests/conftest.py) with ``MIE_*`` extras; automatic analysis off unless asked for."""
    # Semantic search (the MiniLM model) only where a test asks for it: tests/unit/test_semantic_search.py.
    environ = {
        "MIE_AUTO_ANALYZE": "off",
        "MIE_SEARCH_SEMANTIC": "off",
        **{f"MIE_{k.upper()}": v for k, v in extra.items()},
    }
    return load_settings(
        environ=environ,
        data_dir=data_dir,
        api_key=API_KEY,
        monitor_interval=0.05,
        monitor_interval_max=0.2,
        retry_interval=0.01,
        workers=4,
    )


def start_services(settings: Settings, idle_wait: float | None = None) -> Services:
    svc = build(settings)
    if idle_wait is not None:
        indexer(svc).idle_wait = idle_wait
    svc.start()
    return svc


def indexer(svc: Services) -> SearchIndexer:
    component = svc.components["search"]
    assert isinstance(component, SearchIndexer)
    return component


@pytest.fixture
def mq_services(tmp_path: Path) -> Iterator[Services]:
    svc = start_services(search_settings(tmp_path / "data"))
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def mq(mq_services: Services) -> Iterator[TestClient]:
    with TestClient(mq_services.app(), headers={"x-api-key": API_KEY}) as client:
        yield client


def make_asset(client: TestClient, key: str, data: bytes = JPEG) -> str:
    """Upload an object and make it an asset (``/api/dataplane/create``, content-sniffed); returns its id."""
    upload(client, key, data)
    r = client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": key}})
    assert r.status_code == 200, r.text
    return str(r.json()["AssetId"])


def store(client: TestClient, asset_id: str, operator_name: str, results: Any, workflow: str = "wf-1") -> None:
    """Store a result through the data plane: a dict whole, a list as pages (``paginated=true``, last ``end``)."""
    if isinstance(results, dict):
        body = {"OperatorName": operator_name, "WorkflowId": workflow, "Results": results}
        r = client.post(f"/api/dataplane/metadata/{asset_id}", json=body)
        assert r.status_code == 200, r.text
        return
    for index, page in enumerate(results):
        end = "&end=true" if index == len(results) - 1 else ""
        body = {"OperatorName": operator_name, "WorkflowId": workflow, "Results": page}
        r = client.post(f"/api/dataplane/metadata/{asset_id}?paginated=true{end}", json=body)
        assert r.status_code == 200, r.text


def synced(client: TestClient) -> TestClient:
    """Apply every committed change to the indexes now (the background thread would, a moment later)."""
    app_services: Services = client.app.state.services  # type: ignore[attr-defined]
    indexer(app_services).catch_up()
    return client


def media(client: TestClient, **params: str) -> list[dict[str, Any]]:
    r = synced(client).get("/api/media", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list)
    return body


def names(items: list[dict[str, Any]]) -> set[str]:
    return {item["name"] for item in items}


def detect_labels(*names_: str) -> dict[str, Any]:
    """A Rekognition DetectLabels response."""
    return {
        "Labels": [{"Name": n, "Confidence": 90.0 - i, "Instances": [], "Parents": []} for i, n in enumerate(names_)]
    }


def label_pages(*pages: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """GetLabelDetection pages of ``(timestamp ms, label)``."""
    return [
        {
            "JobStatus": "SUCCEEDED",
            "Labels": [{"Timestamp": ts, "Label": {"Name": n, "Confidence": 80.0}} for ts, n in page],
        }
        for page in pages
    ]


VIDEO_PAGES = label_pages(
    [(0, "Human"), (0, "Clothing"), (500, "Dog"), (500, "Human"), (1000, "Nest")],
    [(1500, "Person"), (2000, "Dog"), (2000, "Footwear"), (2500, "Bird Nest"), (3000, "Person")],
)
VIDEO_LABELS = ["Human", "Clothing", "Dog", "Nest", "Person", "Footwear", "Bird Nest"]


@pytest.fixture
def sample(mq: TestClient) -> dict[str, str]:
    """The sample's two files and a third one."""
    ids = {
        "sample.jpg": make_asset(mq, "upload/sample.jpg", JPEG),
        "sample.mp4": make_asset(mq, "upload/sample.mp4", MP4_BYTES),
        "other.png": make_asset(mq, "upload/other.png", PNG),
    }
    store(mq, ids["sample.jpg"], "labelDetection", detect_labels(*SAMPLE_IMAGE_LABELS))
    store(mq, ids["sample.mp4"], "labelDetection", VIDEO_PAGES)
    store(mq, ids["other.png"], "labelDetectionImage", detect_labels("Cat", "Animal"))
    return ids


# --- the sample's queries ---------------------------------------------------------------------------------------------


def test_listing_returns_the_samples_items_with_asset_ids(mq: TestClient, sample: dict[str, str]) -> None:
    items = {item["name"]: item for item in media(mq)}
    assert set(items) == {"sample.jpg", "sample.mp4", "other.png"}
    assert items["sample.jpg"] == {
        "name": "sample.jpg",
        "type": "image",
        "labels": SAMPLE_IMAGE_LABELS,  # detector order, as DetectLabels returned them
        "asset_id": sample["sample.jpg"],
    }
    # Video labels: every page read, deduplicated (first appearance order).
    assert items["sample.mp4"]["type"] == "video"
    assert items["sample.mp4"]["labels"] == VIDEO_LABELS


def test_each_query_parameter_alone(mq: TestClient, sample: dict[str, str]) -> None:
    assert names(media(mq, startswith="sample.m")) == {"sample.mp4"}
    assert names(media(mq, startswith="sample")) == {"sample.jpg", "sample.mp4"}
    assert names(media(mq, **{"media-type": "image"})) == {"sample.jpg", "other.png"}
    assert names(media(mq, **{"media-type": "video"})) == {"sample.mp4"}
    assert names(media(mq, label="Person")) == {"sample.mp4"}
    assert names(media(mq, label="Dog")) == {"sample.jpg", "sample.mp4"}
    assert names(media(mq, label="Animal")) == {"sample.jpg", "other.png"}


def test_query_parameters_combine_with_and(mq: TestClient, sample: dict[str, str]) -> None:
    assert names(media(mq, startswith="sample", label="Dog", **{"media-type": "video"})) == {"sample.mp4"}
    assert names(media(mq, startswith="sample", label="Dog")) == {"sample.jpg", "sample.mp4"}
    assert names(media(mq, label="Animal", **{"media-type": "image"})) == {"sample.jpg", "other.png"}
    assert names(media(mq, startswith="o", label="Animal")) == {"other.png"}
    assert media(mq, startswith="sample", label="Cat") == []
    assert media(mq, label="Person", **{"media-type": "image"}) == []
    assert names(media(mq, startswith="sample.", **{"media-type": "image"})) == {"sample.jpg"}


def test_unknown_parameters_are_ignored(mq: TestClient, sample: dict[str, str]) -> None:
    everything = names(media(mq))
    assert names(media(mq, color="red")) == everything
    # The sample only knows the hyphenated name: media_type is just another unknown parameter.
    assert names(media(mq, media_type="video")) == everything


def test_filters_are_exact_and_case_sensitive(mq: TestClient, sample: dict[str, str]) -> None:
    assert media(mq, label="dog") == []
    assert media(mq, label="Do") == []
    assert media(mq, label="German") == []
    assert names(media(mq, label="German Shepherd")) == {"sample.jpg"}
    assert media(mq, **{"media-type": "Image"}) == []
    assert media(mq, **{"media-type": "images"}) == []
    assert media(mq, startswith="Sample") == []
    assert media(mq, label="") == []


def test_get_one_by_name_and_the_samples_404(mq: TestClient, sample: dict[str, str]) -> None:
    r = synced(mq).get("/api/media/sample.mp4")
    assert r.status_code == 200
    assert r.json()["asset_id"] == sample["sample.mp4"]
    assert r.json()["labels"] == VIDEO_LABELS
    missing = mq.get("/api/media/nothing.mp4")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/json")
    assert missing.json() == {"Code": "NotFoundError", "Message": "Media file (nothing.mp4) not found"}
    spaced = mq.get("/api/media/with%20space.jpg")
    assert spaced.json() == {"Code": "NotFoundError", "Message": "Media file (with space.jpg) not found"}


def test_the_same_name_again_is_a_new_item_and_get_returns_the_newest(mq: TestClient) -> None:
    first = make_asset(mq, "upload/a/clip.jpg", JPEG)
    second = make_asset(mq, "upload/b/clip.jpg", JPEG)
    listed = media(mq, startswith="clip")
    assert {item["asset_id"] for item in listed} == {first, second}
    assert mq.get("/api/media/clip.jpg").json()["asset_id"] == second


def test_the_api_needs_the_key(mq: TestClient) -> None:
    assert mq.get("/api/media", headers={"x-api-key": ""}).status_code == 401
    assert mq.get("/api/media/x.jpg", headers={"x-api-key": "wrong"}).status_code == 401


# --- types by content -------------------------------------------------------------------------------------------------


def test_media_types_are_decided_by_content_case_insensitively(mq: TestClient) -> None:
    make_asset(mq, "upload/Photo.JPEG", JPEG)
    make_asset(mq, "upload/UPPER.PNG", PNG)
    make_asset(mq, "upload/clip.webm", WEBM)
    make_asset(mq, "upload/movie.MKV", MKV)
    make_asset(mq, "upload/song.mp3", MP3)
    make_asset(mq, "upload/voice.WAV", WAV)
    make_asset(mq, "upload/misnamed.jpg", MP4_BYTES)  # content wins over the extension
    make_asset(mq, "upload/no-extension", PNG)
    make_asset(mq, "upload/notes.txt", b"just some words, not media\n")
    kinds = {item["name"]: item["type"] for item in media(mq)}
    assert kinds == {
        "Photo.JPEG": "image",
        "UPPER.PNG": "image",
        "clip.webm": "video",
        "movie.MKV": "video",
        "song.mp3": "audio",
        "voice.WAV": "audio",
        "misnamed.jpg": "video",
        "no-extension": "image",
    }
    assert names(media(mq, **{"media-type": "audio"})) == {"song.mp3", "voice.WAV"}


# --- paging -----------------------------------------------------------------------------------------------------------


def test_paging_with_limit_and_next_token(mq: TestClient) -> None:
    ids = {make_asset(mq, f"upload/page-{i}.jpg", JPEG) for i in range(7)}
    for asset_id in ids:
        store(mq, asset_id, "labelDetection", detect_labels("Paper"))
    for params in ({}, {"label": "Paper"}, {"startswith": "page-"}, {"media-type": "image"}):
        seen: list[str] = []
        token: str | None = None
        pages = 0
        while True:
            r = synced(mq).get("/api/media", params={**params, "limit": 3, **({"next": token} if token else {})})
            assert r.status_code == 200, r.text
            body = r.json()
            assert isinstance(body, list)  # the body stays the sample's array
            seen += [item["asset_id"] for item in body]
            pages += 1
            token = r.headers.get("x-next-token")
            if token is None:
                assert "link" not in r.headers
                break
            assert len(body) == 3
            assert 'rel="next"' in r.headers["link"]
        assert pages == 3, params
        assert len(seen) == len(set(seen)) == 7
        assert set(seen) == ids
    assert mq.get("/api/media", params={"next": "not a token!"}).status_code == 400
    assert mq.get("/api/media", params={"limit": 0}).status_code == 400


# --- deletes and re-runs ----------------------------------------------------------------------------------------------


def test_deleting_the_asset_removes_it(mq: TestClient, sample: dict[str, str]) -> None:
    assert "sample.jpg" in names(media(mq))
    assert mq.delete(f"/api/dataplane/metadata/{sample['sample.jpg']}").status_code == 200
    assert "sample.jpg" not in names(media(mq))
    assert names(media(mq, label="Dog")) == {"sample.mp4"}
    assert mq.get("/api/media/sample.jpg").status_code == 404


def test_a_rerun_replaces_the_labels_and_deleting_results_removes_them(mq: TestClient, sample: dict[str, str]) -> None:
    store(mq, sample["sample.jpg"], "labelDetection", detect_labels("Wolf", "Snow"), workflow="wf-2")
    item = mq.get("/api/media/sample.jpg")
    assert synced(mq).get("/api/media/sample.jpg").json()["labels"] == ["Wolf", "Snow"], item.text
    assert names(media(mq, label="Dog")) == {"sample.mp4"}
    assert names(media(mq, label="Wolf")) == {"sample.jpg"}
    r = mq.delete(f"/api/dataplane/metadata/{sample['sample.mp4']}/labelDetection")
    assert r.status_code == 200, r.text
    assert synced(mq).get("/api/media/sample.mp4").json()["labels"] == []
    assert media(mq, label="Person") == []


# --- indexes, not scans -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        MediaQuery(),
        MediaQuery(startswith="sam"),
        MediaQuery(media_type="video"),
        MediaQuery(media_type="image", startswith="s"),
        MediaQuery(label="Dog"),
        MediaQuery(label="Dog", media_type="video", startswith="s"),
    ],
)
def test_every_query_shape_walks_an_index_in_order(mq_services: Services, query: MediaQuery) -> None:
    store_ = indexer(mq_services).store
    statement = store_.media_select(query, limit=10, after=("a", "b"))  # type: ignore[attr-defined]
    compiled = statement.compile(compile_kwargs={"literal_binds": True})
    with mq_services.db.read() as conn:
        plan = " | ".join(row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "USING" in plan, plan
    assert "INDEX" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # no sort: rows come in index order, so LIMIT stops early


# --- the consumer: woken by events, offset kept across restarts -------------------------------------------------------


def test_the_indexer_is_woken_by_changes_not_by_its_timer(tmp_path: Path) -> None:
    idle = 4.0
    svc = start_services(search_settings(tmp_path / "data"), idle_wait=idle)
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            time.sleep(0.2)  # the thread is asleep in ChangeLog.wait, for up to `idle` seconds
            asset_id = make_asset(client, "upload/wake.jpg", JPEG)
            created = time.monotonic()
            while time.monotonic() - created < idle:
                found = client.get("/api/media/wake.jpg")
                if found.status_code == 200:
                    break
                time.sleep(0.01)
            latency = time.monotonic() - created
            assert found.status_code == 200
            assert found.json()["asset_id"] == asset_id
            assert latency < idle / 2, f"indexed after {latency:.2f} s: by the timer, not by the change"
    finally:
        svc.stop()


def test_a_restart_resumes_at_the_stored_offset(tmp_path: Path) -> None:
    settings = search_settings(tmp_path / "data")
    svc = start_services(settings)
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            first = make_asset(client, "upload/before.jpg", JPEG)
            store(client, first, "labelDetection", detect_labels("Boat"))
            offset = indexer(svc).catch_up()
            assert offset == svc.changes.last_seq()
            before = indexer(svc).stats()
    finally:
        svc.stop()
    svc = start_services(settings)
    try:
        assert indexer(svc).store.offset(CONSUMER) == offset
        assert indexer(svc).offset == offset
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            second = make_asset(client, "upload/after.jpg", JPEG)
            store(client, second, "labelDetection", detect_labels("Boat"))
            assert {i["asset_id"] for i in media(client, label="Boat")} == {first, second}
            after = indexer(svc).stats()
            # Nothing indexed twice: exactly the new asset's item and segments (file name, labels) were added.
            assert after.media_items == before.media_items + 1
            assert after.segments == before.segments + 2
    finally:
        svc.stop()


# --- automatic analysis of uploads ------------------------------------------------------------------------------------


@operator("MqShapeLabels", media_type="Image")
def shape_labels(ctx: OperatorContext) -> None:
    """Label an image by its real shape, as DetectLabels would shape the answer."""
    with PIL.open(ctx.input_file("Image")) as image:
        width, height = image.size
    ctx.save_results(detect_labels("Wide" if width > height else "Tall", f"{width}x{height}"))


def png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    PIL.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _auto_services(tmp_path: Path, **extra: str) -> Services:
    svc = start_services(search_settings(tmp_path / "data", **extra))
    svc.registry.register(shape_labels)
    return svc


def _setup_workflow(client: TestClient) -> None:
    r = client.post("/api/operators/MqShapeLabels/register")
    assert r.status_code == 200, r.text
    make_workflow(client, "MqAutoImage", [[r.json()]])


def _executions(client: TestClient, asset_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/workflow/execution/asset/{asset_id}")
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def test_an_upload_without_a_workflow_is_analysed_automatically(tmp_path: Path) -> None:
    svc = _auto_services(
        tmp_path, auto_analyze="on", auto_analyze_delay="0.2", auto_analyze_workflows="image=MqAutoImage"
    )
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            _setup_workflow(client)
            asset_id = make_asset(client, "upload/wide.png", png_bytes(32, 16))
            deadline = time.monotonic() + 20
            while not _executions(client, asset_id) and time.monotonic() < deadline:
                time.sleep(0.05)
            (execution,) = _executions(client, asset_id)
            done = wait_for(client, execution["Id"], {"Complete", "Error"})
            assert done["Status"] == "Complete", done.get("Message")
            assert done["Workflow"]["Name"] == "MqAutoImage"
            assert media(client, label="Wide")[0]["labels"] == ["Wide", "32x16"]
            assert indexer(svc).stats().scheduled == 0
    finally:
        svc.stop()


def test_a_file_uploaded_into_the_media_prefix_is_analysed_and_others_stay_objects(tmp_path: Path) -> None:
    svc = _auto_services(
        tmp_path, auto_analyze="on", auto_analyze_delay="0.2", auto_analyze_workflows="image=MqAutoImage"
    )
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            _setup_workflow(client)
            # The media-query sample's flow: put a file into the media bucket, nothing else.
            upload(client, "media/Tall Photo.png", png_bytes(16, 40))  # type: ignore[arg-type]
            deadline = time.monotonic() + 20
            while not media(client, startswith="Tall") and time.monotonic() < deadline:
                time.sleep(0.05)
            (item,) = media(client, startswith="Tall")
            assert item["name"] == "Tall Photo.png"
            assert item["type"] == "image"
            while not _executions(client, item["asset_id"]) and time.monotonic() < deadline:
                time.sleep(0.05)
            (execution,) = _executions(client, item["asset_id"])
            done = wait_for(client, execution["Id"], {"Complete", "Error"})
            assert done["Status"] == "Complete", done.get("Message")
            deadline = time.monotonic() + 10
            while media(client, startswith="Tall")[0]["labels"] != ["Tall", "16x40"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert media(client, startswith="Tall")[0]["labels"] == ["Tall", "16x40"]
            # MIE clients upload elsewhere, then name the object in their own execution: it stays theirs.
            upload(client, "upload/clip.png", png_bytes(8, 8))  # type: ignore[arg-type]
            time.sleep(0.5)
            assert media(client, startswith="clip") == []
            body = {"Input": {"S3Bucket": "dataplane", "S3Key": "upload/clip.png"}}
            assert client.post("/api/dataplane/create", json=body).status_code == 200
    finally:
        svc.stop()


def test_an_upload_started_with_a_workflow_is_not_analysed_twice(tmp_path: Path) -> None:
    svc = _auto_services(tmp_path, auto_analyze_delay="0.1", auto_analyze_workflows="image=MqAutoImage")
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            _setup_workflow(client)
            # What `mie run` and MIE clients do: upload, then start a workflow with Input.Media.
            upload(client, "upload/tall.png", png_bytes(8, 24))
            body = {
                "Name": "MqAutoImage",
                "Input": {"Media": {"Image": {"S3Bucket": "dataplane", "S3Key": "upload/tall.png"}}},
            }
            r = client.post("/api/workflow/execution", json=body)
            assert r.status_code == 200, r.text
            done = wait_for(client, r.json()["Id"], {"Complete", "Error"})
            assert done["Status"] == "Complete", done.get("Message")
            time.sleep(0.6)  # well past the delay: a second start would have happened by now
            indexer(svc).run_due()
            assert len(_executions(client, done["AssetId"])) == 1
            assert media(client, label="Tall")[0]["asset_id"] == done["AssetId"]
            assert indexer(svc).stats().scheduled == 0
    finally:
        svc.stop()


def test_automatic_analysis_can_be_turned_off(tmp_path: Path) -> None:
    svc = _auto_services(tmp_path, auto_analyze="off", auto_analyze_delay="0")
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            _setup_workflow(client)
            asset_id = make_asset(client, "upload/off.png", png_bytes(4, 4))
            synced(client)
            assert indexer(svc).run_due(now=time.time() + 3600) == []
            assert _executions(client, asset_id) == []
            assert names(media(client)) == {"off.png"}
    finally:
        svc.stop()
