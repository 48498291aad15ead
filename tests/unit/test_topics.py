"""``Topics``: an asset's entities and key phrases ranked into what it is about, stored, and searchable (``topic:``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mie.library.text.topics import rank_topics, topics
from mie.testing import Harness, harness
from tests.helpers import API_KEY, MP4_BYTES
from tests.unit.test_media_query import make_asset, search_settings, start_services, store, synced


def entity(text: str, kind: str, score: float = 0.99) -> dict[str, Any]:
    return {"Text": text, "Type": kind, "Score": score, "BeginOffset": 0, "EndOffset": len(text)}


def phrase(text: str, score: float = 0.9) -> dict[str, Any]:
    return {"Text": text, "Score": score, "BeginOffset": 0, "EndOffset": len(text)}


def comprehend(list_key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A result as MIE's Comprehend monitor stores it: one JSON line of the batch output in ``Results``."""
    return {"LanguageCode": "en", "Results": [json.dumps({list_key: items, "File": "transcript.txt"})]}


ENTITIES = [
    entity("Boulder Eats", "TITLE"),
    entity("Jeff Steen", "PERSON"),
    entity("Boulder Eats", "TITLE", 0.97),
    entity("Salt Bistro", "ORGANIZATION"),
    entity("today", "DATE"),  # a fact, not a topic
    entity("Boulder Eats", "TITLE", 0.98),
    entity("twenty dollars", "QUANTITY"),
]
PHRASES = [phrase("the farm"), phrase("farm", 0.8), phrase("Boulder Eats", 0.95), phrase("the table", 0.3), phrase("a")]


def test_ranking_counts_mentions_merges_forms_and_leaves_facts_out() -> None:
    ranked = rank_topics(ENTITIES, PHRASES, limit=10)
    names = [t["Name"] for t in ranked]
    assert names[0] == "Boulder Eats"
    assert ranked[0] == {"Name": "Boulder Eats", "Type": "TITLE", "Score": 1.0, "Mentions": 3,
                         "Sources": ["entities", "key_phrases"]}  # fmt: skip
    assert "today" not in names
    assert "twenty dollars" not in names
    assert "a" not in names  # too short to mean anything
    farm = next(t for t in ranked if t["Name"] == "farm")
    assert (farm["Type"], farm["Mentions"]) == ("KEY_PHRASE", 2)  # "the farm" and "farm" are one topic
    assert all(0 < t["Score"] <= 1 for t in ranked)
    assert [t["Score"] for t in ranked] == sorted((t["Score"] for t in ranked), reverse=True)
    assert rank_topics(ENTITIES, PHRASES, limit=2) == ranked[:2]
    assert rank_topics([], [], limit=5) == []


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with harness(tmp_path / "plane") as found:
        yield found


def test_operator_reads_the_stored_comprehend_results(h: Harness, tmp_path: Path) -> None:
    media = tmp_path / "transcript.txt"
    media.write_text("Welcome back to Boulder Eats.")
    asset, _ = h.add_asset(media, "Text")
    h.dataplane.store_metadata(asset, {"OperatorName": "entities", "Results": comprehend("Entities", ENTITIES),
                                       "WorkflowId": "w"})  # fmt: skip
    h.dataplane.store_metadata(asset, {"OperatorName": "key_phrases", "Results": comprehend("KeyPhrases", PHRASES),
                                       "WorkflowId": "w"})  # fmt: skip
    from tests.library.test_translate import run_on_asset

    run_on_asset(h, topics, asset, {"MaxTopics": 3})
    stored = h.dataplane.get_operator_metadata(asset, "Topics")["results"]["Topics"]
    assert stored == rank_topics(ENTITIES, PHRASES, limit=3)
    # Nothing to rank: an empty list, not an error.
    other, _ = h.add_asset(media, "Text")
    run_on_asset(h, topics, other, {})
    assert h.dataplane.get_operator_metadata(other, "Topics")["results"] == {"Topics": []}


def test_topics_are_searchable_with_the_topic_filter(tmp_path: Path) -> None:
    svc = start_services(search_settings(tmp_path / "data"))
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            show = make_asset(client, "upload/show.mp4", MP4_BYTES)
            other = make_asset(client, "upload/other.mp4", MP4_BYTES)
            store(client, show, "Topics", {"Topics": rank_topics(ENTITIES, PHRASES, limit=10)})
            store(client, other, "Topics", {"Topics": rank_topics([entity("Denver", "LOCATION")], [], limit=10)})
            synced(client)

            def assets(q: str) -> set[str]:
                r = client.get("/api/search", params={"q": q, "mode": "text"})
                assert r.status_code == 200, r.text
                return {hit["asset_id"] for hit in r.json()["hits"]}

            assert assets('topic:"Boulder Eats"') == {show}
            assert assets("topic:denver") == {other}
            assert assets("topic:Denver confidence:>50") == {other}
            assert assets("topic:farm confidence:>90") == set()  # farm is well below the best topic
            assert assets("bistro") == {show}  # the topics' names are searchable words too
    finally:
        svc.stop()
