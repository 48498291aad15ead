"""Full-text search over every insight (``GET /api/search``): what is indexed from each AWS result shape, where in
the media a hit is, ranking, filters and paging; deletes and re-runs leave no stale hits; a rebuild gives the same
index; the ``mie search`` / ``mie index`` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from mie.cli import client as cli_client
from mie.cli.main import app as cli
from mie.consumers.search_extract import extract
from mie.consumers.search_query import parse_query
from tests.helpers import API_KEY, MP4_BYTES
from tests.unit.test_media_query import (
    JPEG,
    detect_labels,
    make_asset,
    media,
    search_settings,
    start_services,
    store,
    synced,
)


@pytest.fixture
def mq(tmp_path: Path) -> Iterator[TestClient]:
    """A server with the search indexer (automatic analysis off) and a client of it."""
    svc = start_services(search_settings(tmp_path / "data"))
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            yield client
    finally:
        svc.stop()


def transcribe(*words: tuple[str, float, float] | str) -> dict[str, Any]:
    """An AWS Transcribe job result: words with their times (s), and punctuation marks."""
    items: list[dict[str, Any]] = []
    for word in words:
        if isinstance(word, str):
            items.append({"type": "punctuation", "alternatives": [{"confidence": "0.0", "content": word}]})
        else:
            content, start, end = word
            items.append(
                {
                    "start_time": f"{start:.3f}",
                    "end_time": f"{end:.3f}",
                    "type": "pronunciation",
                    "alternatives": [{"confidence": "0.98", "content": content}],
                }
            )
    text = " ".join(w[0] if isinstance(w, tuple) else w for w in words)
    return {
        "jobName": "transcribe-test",
        "accountId": "local",
        "results": {"transcripts": [{"transcript": text}], "items": items},
        "status": "COMPLETED",
    }


SPEECH = transcribe(
    ("Welcome", 0.4, 0.9),
    ("to", 0.9, 1.0),
    ("the", 1.0, 1.1),
    ("harbour", 1.1, 1.7),
    ".",
    ("Tomorrow", 5.2, 5.8),
    ("the", 5.8, 5.9),
    ("lighthouse", 6.0, 6.75),
    ("opens", 6.8, 7.2),
    ("again", 7.2, 7.6),
    ".",
)

ON_SCREEN = [
    {
        "JobStatus": "SUCCEEDED",
        "TextDetections": [
            {"Timestamp": 3000, "TextDetection": {"DetectedText": "EMERGENCY EXIT", "Type": "LINE", "Id": 0}},
            {"Timestamp": 3000, "TextDetection": {"DetectedText": "EMERGENCY", "Type": "WORD", "Id": 1}},
            {"Timestamp": 3500, "TextDetection": {"DetectedText": "EMERGENCY EXIT", "Type": "LINE", "Id": 0}},
        ],
        "NextToken": "page-2",
    },
    {
        "JobStatus": "SUCCEEDED",
        "TextDetections": [
            {"Timestamp": 4000, "TextDetection": {"DetectedText": "EMERGENCY EXIT", "Type": "LINE", "Id": 0}},
            {"Timestamp": 20000, "TextDetection": {"DetectedText": "Platform 9", "Type": "LINE", "Id": 0}},
            {"Timestamp": 41000, "TextDetection": {"DetectedText": "EMERGENCY EXIT", "Type": "LINE", "Id": 0}},
        ],
    },
]


def hits(client: TestClient, q: str, **params: Any) -> list[dict[str, Any]]:
    r = synced(client).get("/api/search", params={"q": q, **params})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["hits"]
    return found


def keys(found: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {(h["asset_id"], h["operator"], h["start_ms"], h["end_ms"]) for h in found}


@pytest.fixture
def library(mq: TestClient) -> dict[str, str]:
    """A video with speech, on-screen text, labels, faces, captions, entities and key phrases; an image; audio."""
    video = make_asset(mq, "upload/harbour_tour.mp4", MP4_BYTES)
    image = make_asset(mq, "upload/street.jpg", JPEG)
    store(mq, video, "TranscribeVideo", SPEECH)
    store(mq, video, "textDetection", ON_SCREEN)
    store(
        mq,
        video,
        "labelDetection",
        [{"Labels": [{"Timestamp": t, "Label": {"Name": "Boat"}} for t in (0, 500, 1000, 8000, 8500)]}],
    )
    store(
        mq,
        video,
        "faceDetection",
        [{"Faces": [{"Timestamp": 2000, "Face": {"Confidence": 99}}, {"Timestamp": 2000, "Face": {"Confidence": 98}}]}],
    )
    store(
        mq,
        video,
        "WebCaptions_en",
        {"WebCaptions": [{"start": 5.2, "end": 7.6, "caption": "Tomorrow the lighthouse opens again."}]},
    )
    store(
        mq,
        video,
        "entities",
        {"Results": [{"Entities": [{"Text": "Atlantic", "Type": "LOCATION", "Score": 0.99, "BeginOffset": 3}]}]},
    )
    store(mq, video, "key_phrases", {"Results": [{"KeyPhrases": [{"Text": "the old pier", "Score": 0.9}]}]})
    store(mq, image, "labelDetection", detect_labels("Street", "Lighthouse", "Car"))
    store(mq, image, "textDetection", {"TextDetections": [{"DetectedText": "NO PARKING", "Type": "LINE"}]})
    store(mq, image, "faceDetection", {"FaceDetails": [{"Confidence": 99.0}, {"Confidence": 97.0}, {"Confidence": 90}]})
    return {"video": video, "image": image}


# --- spoken and shown words at the right moments ----------------------------------------------------------------------


def test_a_spoken_word_is_found_where_it_is_said(mq: TestClient, library: dict[str, str]) -> None:
    (hit,) = hits(mq, "lighthouse", operator="TranscribeVideo")
    assert hit["asset_id"] == library["video"]
    assert hit["name"] == "harbour_tour.mp4"
    assert hit["media_type"] == "video"
    assert hit["kind"] == "transcript"
    assert (hit["start_ms"], hit["end_ms"]) == (6000, 6750)  # the word itself
    assert (hit["segment_start_ms"], hit["segment_end_ms"]) == (5200, 7600)  # its sentence
    assert "<mark>lighthouse</mark>" in hit["snippet"]
    (first,) = hits(mq, "welcome", operator="TranscribeVideo")
    assert (first["start_ms"], first["end_ms"]) == (400, 900)
    # Stemmed: "open" finds "opens", and points at it.
    (stemmed,) = hits(mq, "open", operator="TranscribeVideo")
    assert (stemmed["start_ms"], stemmed["end_ms"]) == (6800, 7200)


def test_an_on_screen_word_is_found_when_it_is_shown(mq: TestClient, library: dict[str, str]) -> None:
    found = hits(mq, "exit", operator="textDetection")
    # Seen at 3.0, 3.5 and 4.0 s (two result pages): one range; seen again at 41 s: another.
    assert sorted((h["start_ms"], h["end_ms"]) for h in found) == [(3000, 4000), (41000, 41000)]
    assert all(h["asset_id"] == library["video"] and h["kind"] == "text" for h in found)
    (platform,) = hits(mq, '"platform 9"')
    assert (platform["start_ms"], platform["end_ms"]) == (20000, 20000)
    (parking,) = hits(mq, "parking")
    assert parking["asset_id"] == library["image"]
    assert parking["start_ms"] is None  # an image: the whole asset


def test_every_kind_of_result_is_searchable(mq: TestClient, library: dict[str, str]) -> None:
    def only(q: str) -> dict[str, Any]:
        (hit,) = hits(mq, q)
        return hit

    assert {h["kind"] for h in hits(mq, "boat")} == {"label"}
    assert sorted((h["start_ms"], h["end_ms"]) for h in hits(mq, "boat")) == [(0, 1000), (8000, 8500)]
    assert only("car")["asset_id"] == library["image"]
    caption = hits(mq, "lighthouse", operator="WebCaptions_en")[0]
    assert (caption["kind"], caption["start_ms"], caption["end_ms"]) == ("caption", 5200, 7600)
    assert only("atlantic")["kind"] == "entity"
    assert only("pier")["kind"] == "keyphrase"
    faces = {(h["asset_id"], h["snippet"], h["start_ms"]) for h in hits(mq, "faces")}
    assert faces == {(library["video"], "2 <mark>faces</mark>", 2000), (library["image"], "3 <mark>faces</mark>", None)}
    assert only("tour")["kind"] == "filename"
    assert only("harbour_tour.mp4")["operator"] == "FileName"


def test_filters_by_media_type_and_operator(mq: TestClient, library: dict[str, str]) -> None:
    everywhere = hits(mq, "lighthouse")
    assert {h["operator"] for h in everywhere} == {"TranscribeVideo", "WebCaptions_en", "labelDetection"}
    assert {h["asset_id"] for h in hits(mq, "lighthouse", **{"media-type": "image"})} == {library["image"]}
    assert {h["asset_id"] for h in hits(mq, "lighthouse", **{"media-type": "video"})} == {library["video"]}
    assert hits(mq, "lighthouse", **{"media-type": "audio"}) == []
    assert {h["operator"] for h in hits(mq, "lighthouse", operator="labelDetection")} == {"labelDetection"}
    assert hits(mq, "lighthouse", operator="NoSuchOperator") == []
    assert hits(mq, "lighthouse", operator="label") == []  # exact operator names, not their words
    assert hits(mq, "lighthouse", **{"media-type": "???"}) == []


def test_all_words_must_occur_phrases_and_prefixes(mq: TestClient, library: dict[str, str]) -> None:
    assert {h["operator"] for h in hits(mq, "lighthouse opens")} == {"TranscribeVideo", "WebCaptions_en"}
    assert hits(mq, '"opens lighthouse"') == []
    assert len(hits(mq, '"lighthouse opens"')) == 2
    assert {h["operator"] for h in hits(mq, "lightho*")} == {"TranscribeVideo", "WebCaptions_en", "labelDetection"}
    # Query syntax of the database is not interpreted: these are just words (or nothing).
    for q in ["NEAR(a b)", "a OR b", "col:umn", "*", '"', "-x", "a AND", "'; DROP TABLE x"]:
        r = synced(mq).get("/api/search", params={"q": q})
        assert r.status_code in (200, 400), (q, r.text)
    assert mq.get("/api/search").status_code == 400
    assert mq.get("/api/search", params={"q": "   "}).status_code == 400


def test_hits_are_ranked(mq: TestClient) -> None:
    focused = make_asset(mq, "upload/a.jpg", JPEG)
    diluted = make_asset(mq, "upload/b.jpg", JPEG)
    store(mq, focused, "labelDetection", detect_labels("Kayak"))
    store(mq, diluted, "labelDetection", detect_labels(*[f"Thing{i}" for i in range(30)], "Kayak"))
    found = hits(mq, "kayak")
    assert [h["asset_id"] for h in found] == [focused, diluted]
    assert found[0]["score"] > found[1]["score"]


def test_paging_through_hits(mq: TestClient) -> None:
    for index in range(5):
        asset_id = make_asset(mq, f"upload/p{index}.jpg", JPEG)
        store(mq, asset_id, "labelDetection", detect_labels("Pelican", *[f"Other{i}" for i in range(index)]))
    seen: list[tuple[str, str]] = []
    token: str | None = None
    while True:
        r = synced(mq).get("/api/search", params={"q": "pelican", "limit": 2, **({"next": token} if token else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [(h["asset_id"], h["operator"]) for h in body["hits"]]
        token = body["next"]
        assert r.headers.get("x-next-token") == token
        if token is None:
            break
        assert len(body["hits"]) == 2
    assert len(seen) == len(set(seen)) == 5
    assert seen == [(h["asset_id"], h["operator"]) for h in hits(mq, "pelican", limit=10)]
    assert mq.get("/api/search", params={"q": "x", "next": "%%%"}).status_code == 400
    assert mq.get("/api/search", params={"q": "x", "limit": 5000}).status_code == 400


# --- deletes, re-runs, rebuild ----------------------------------------------------------------------------------------


def test_deleting_an_asset_or_a_result_removes_its_hits(mq: TestClient, library: dict[str, str]) -> None:
    assert hits(mq, "lighthouse", operator="WebCaptions_en")
    r = mq.delete(f"/api/dataplane/metadata/{library['video']}/WebCaptions_en")
    assert r.status_code == 200, r.text
    assert hits(mq, "lighthouse", operator="WebCaptions_en") == []
    assert hits(mq, "lighthouse", operator="TranscribeVideo")  # other results stay
    assert mq.delete(f"/api/dataplane/metadata/{library['video']}").status_code == 200
    assert {h["asset_id"] for h in hits(mq, "lighthouse")} == {library["image"]}
    assert hits(mq, "exit") == []
    assert hits(mq, "harbour") == []


def test_a_rerun_replaces_the_operators_old_hits(mq: TestClient, library: dict[str, str]) -> None:
    rerun = transcribe(("Storm", 1.0, 1.5), ("warning", 1.5, 2.2), ".")
    store(mq, library["video"], "TranscribeVideo", rerun, workflow="wf-2")
    assert hits(mq, "lighthouse", operator="TranscribeVideo") == []
    (storm,) = hits(mq, "warning")
    assert (storm["start_ms"], storm["end_ms"]) == (1500, 2200)
    # The same workflow id again (MIE appends pages of a paginated result): still no stale text hits.
    store(mq, library["video"], "textDetection", [{"TextDetections": []}], workflow="wf-3")
    assert hits(mq, "exit") == []


def test_a_rebuild_gives_the_same_results(mq: TestClient, library: dict[str, str]) -> None:
    queries = ["lighthouse", "exit", "boat", "faces", "atlantic", "harbour", "parking", "open*"]
    before = {q: keys(hits(mq, q)) for q in queries}
    media_before = media(mq)
    r = mq.post("/api/search/rebuild")
    assert r.status_code == 200, r.text
    assert r.json()["media_items"] == 2
    after = {q: keys(hits(mq, q)) for q in queries}
    assert after == before
    assert all(before.values())
    assert sorted(media(mq), key=lambda i: i["name"]) == sorted(media_before, key=lambda i: i["name"])
    status = mq.get("/api/search/status").json()
    assert status["offset"] == status["head"]
    assert status["backend"] == "sqlite-fts5"


# --- pieces -----------------------------------------------------------------------------------------------------------


def test_extraction_of_image_and_video_labels() -> None:
    image = extract(detect_labels("Dog", "Animal", "Dog"))
    assert image.labels == ("Dog", "Animal")
    assert [s.text for s in image.segments] == ["Dog, Animal"]
    assert extract({"Mediainfo": {"tracks": []}}).labels is None
    assert extract({"Labels": []}).labels == ()  # a label result with no labels: clears the operator's labels


def test_query_parsing() -> None:
    query = parse_query('dog "red  car" light*', operator="labelDetection")
    assert query.terms == (("dog", False), ("red car", False), ("light", True))
    assert query.operator == "labelDetection"
    assert parse_query("e-mail").terms == (("e mail", False),)


# --- the command line -------------------------------------------------------------------------------------------------


class ToApp(httpx.BaseTransport):
    """Hands the CLI's requests to the in-process app."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.client.request(
            request.method, request.url.raw_path.decode(), headers=dict(request.headers), content=request.read()
        )
        return httpx.Response(answer.status_code, headers=dict(answer.headers), content=answer.content)


def test_mie_search_and_index_commands(
    mq: TestClient, library: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_client, "transport_override", ToApp(mq))
    for name in ("MIE_URL", "MIE_API_KEY", "MIE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    synced(mq)
    runner = CliRunner()
    result = runner.invoke(cli, ["search", "lighthouse", "--operator", "TranscribeVideo", "--api-key", API_KEY])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "transcript" in result.output  # a table (wrapped to the test terminal's width)
    assert "<mark>" not in result.output
    result = runner.invoke(cli, ["search", "lighthouse", "-o", "TranscribeVideo", "--json", "--api-key", API_KEY])
    assert result.exit_code == 0, (result.output, result.exception)
    (hit,) = json.loads(result.output)["hits"]
    assert (hit["operator"], hit["start_ms"]) == ("TranscribeVideo", 6000)
    result = runner.invoke(cli, ["search", "nothing-like-this", "--api-key", API_KEY])
    assert result.exit_code == 0, result.output
    assert "no hits" in result.output
    result = runner.invoke(cli, ["index", "rebuild", "--json", "--api-key", API_KEY])
    assert result.exit_code == 0, result.output
    assert '"media_items": 2' in result.output
    result = runner.invoke(cli, ["index", "status", "--api-key", API_KEY])
    assert result.exit_code == 0, result.output
    assert "backend: sqlite-fts5" in result.output
