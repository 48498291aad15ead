"""Language operators (``mie.library.text``): real spaCy, YAKE, VADER and langdetect on known texts.

Inputs are made here in exactly the shapes the transcribe operators produce: an AWS Transcribe JSON result
(``results.transcripts[0].transcript``) carrying ``TextTranscriptUri`` = ``{"S3Bucket", "S3Key"}`` of a plain-text
transcript object, the same ``TextTranscriptUri`` in the workflow ``MetaData``, or a plain ``Text`` object.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.errors import OperatorError
from mie.library import text as text_library
from mie.library.text import (
    comprehend_entities,
    comprehend_key_phrases,
    detect_dominant_language,
    detect_sentiment,
    models,
)
from mie.library.text.entities import scored_entities
from mie.library.text.source import iter_chunks
from mie.operators import OperatorContext, operator
from mie.operators.cache import LazyMap
from mie.testing import harness, run_operator
from tests.helpers import make_workflow, upload, wait_for

pytest.importorskip("spacy")
pytest.importorskip("yake")
pytest.importorskip("vaderSentiment")
pytest.importorskip("langdetect")

PARAGRAPH = (
    "Amazon Web Services announced on Tuesday that Andy Jassy will visit Berlin in March 2025 to open a new data "
    "center worth $2 billion. Customers in Germany loved the announcement, but some critics at the European "
    "Commission said the deal was terrible for competition."
)
EXPECTED_ENTITIES = {
    ("Amazon Web Services", "ORGANIZATION"),
    ("Tuesday", "DATE"),
    ("Andy Jassy", "PERSON"),
    ("Berlin", "LOCATION"),
    ("March 2025", "DATE"),
    ("$2 billion", "QUANTITY"),
    ("Germany", "LOCATION"),
}
ALL_OPERATORS = (comprehend_entities, comprehend_key_phrases, detect_sentiment, detect_dominant_language)


@pytest.fixture(scope="module")
def nlp() -> Any:
    """The entity pipeline, loaded once (skips when the model package is not installed)."""
    spacy = pytest.importorskip("spacy")
    if not spacy.util.is_package(models.SPACY_MODEL):
        pytest.skip(f"{models.SPACY_MODEL} is not installed")
    pipeline, _ = models.entity_pipeline()
    return pipeline


@pytest.fixture
def paragraph(tmp_path: Path) -> Path:
    path = tmp_path / "transcript.txt"
    path.write_text(PARAGRAPH, encoding="utf-8")
    return path


def _entities(stored: dict[str, Any]) -> list[dict[str, Any]]:
    """Entities of one stored ``entities`` result (MIE's shape: a JSON line in ``Results[0]``)."""
    assert stored["LanguageCode"] == "en"
    assert isinstance(stored["Results"], list)
    assert len(stored["Results"]) == 1
    line = json.loads(stored["Results"][0])
    assert set(line) == {"Entities", "File"}
    entities: list[dict[str, Any]] = line["Entities"]
    return entities


def _phrases(stored: dict[str, Any]) -> list[dict[str, Any]]:
    assert stored["LanguageCode"] == "en"
    phrases: list[dict[str, Any]] = json.loads(stored["Results"][0])["KeyPhrases"]
    return phrases


def _assert_offsets(text: str, items: list[dict[str, Any]]) -> None:
    for item in items:
        assert text[item["BeginOffset"] : item["EndOffset"]] == item["Text"], item
        assert 0.0 < item["Score"] <= 1.0, item


# Entities ----------------------------------------------------------------------------------------------------------


def test_entities_of_the_known_paragraph(nlp: Any, paragraph: Path) -> None:
    run = run_operator(comprehend_entities, {"Text": paragraph})
    assert run.status == "Complete"
    entities = _entities(run.results["entities"])
    assert all(set(e) == {"BeginOffset", "EndOffset", "Score", "Text", "Type"} for e in entities)
    _assert_offsets(PARAGRAPH, entities)
    found = {(e["Text"], e["Type"]) for e in entities}
    assert found >= EXPECTED_ENTITIES
    assert any(t == "ORGANIZATION" and "European Commission" in s for s, t in found)
    # Exactly spaCy's own greedy entities: scoring them re-runs the same decoding, it does not change it.
    reference = nlp(PARAGRAPH)
    assert [(e["BeginOffset"], e["EndOffset"]) for e in entities] == [
        (s.start_char, s.end_char) for s in reference.ents
    ]
    assert all(e["Score"] > 0.95 for e in entities)


def test_entity_scores_are_lower_where_the_model_hesitates(nlp: Any) -> None:
    text = "Jordan went to Jordan with Paris Hilton last spring."
    entities = scored_entities(nlp, text)
    _assert_offsets(text, entities)
    by_offset = {e["BeginOffset"]: e for e in entities}
    person, country = by_offset[0], by_offset[15]
    assert (person["Type"], country["Type"]) == ("PERSON", "LOCATION")
    assert person["Score"] < 0.8 < country["Score"]
    assert max(e["Score"] for e in entities) > 0.99


def test_long_text_is_chunked_with_right_offsets_and_paged(nlp: Any, tmp_path: Path) -> None:
    # 40 paragraphs, 1,000-character chunks (each paragraph is 265): offsets must still point into the whole text.
    long_text = "\r\n".join(PARAGRAPH for _ in range(40))
    source = tmp_path / "long.txt"
    source.write_bytes(long_text.encode("utf-8"))
    run = run_operator(comprehend_entities, {"Text": source}, configuration={"ChunkCharacters": 1000, "PageSize": 50})
    pages = run.results["entities"]
    assert isinstance(pages, list)
    entities = [e for page in pages for e in _entities(page)]
    assert len(pages) == math.ceil(len(entities) / 50)
    _assert_offsets(long_text, entities)
    assert len(entities) == 40 * len(nlp(PARAGRAPH).ents)
    assert [e["BeginOffset"] for e in entities] == sorted(e["BeginOffset"] for e in entities)


def test_chunks_cover_the_text_and_cut_at_boundaries() -> None:
    text = "First line.\nSecond sentence here. Third one! " + "x" * 300 + " tail words " * 20
    chunks = list(iter_chunks(iter_reader(text), 64))
    assert "".join(c for _, c in chunks) == text
    assert all(len(c) <= 64 for _, c in chunks)
    assert [o for o, _ in chunks] == [sum(len(c) for _, c in chunks[:i]) for i in range(len(chunks))]
    assert chunks[0][1].endswith("\n") or chunks[0][1].endswith(" ")
    assert list(iter_chunks(iter_reader(""), 10)) == []


def iter_reader(text: str) -> Any:
    """A ``read(n)`` over ``text`` that returns small pieces, as a file would."""
    position = 0

    def read(size: int) -> str:
        nonlocal position
        piece = text[position : position + min(size, 17)]
        position += len(piece)
        return piece

    return read


# Key phrases, sentiment, language -----------------------------------------------------------------------------------


def test_key_phrases_of_the_known_paragraph(nlp: Any, paragraph: Path) -> None:
    run = run_operator(comprehend_key_phrases, {"Text": paragraph})
    assert run.status == "Complete"
    phrases = _phrases(run.results["key_phrases"])
    assert all(set(p) == {"BeginOffset", "EndOffset", "Score", "Text"} for p in phrases)
    _assert_offsets(PARAGRAPH, phrases)
    texts = [p["Text"] for p in phrases]
    assert "Amazon Web Services" in texts
    assert "the European Commission" in texts
    best = max(phrases, key=lambda p: p["Score"])
    assert best["Text"] == "Amazon Web Services"
    # Pronoun-only noun chunks are not key phrases.
    assert not {"it", "we", "they"} & {t.lower() for t in texts}


SENTENCES = {
    "I love this product, it is wonderful and works perfectly.": "POSITIVE",
    "This is the worst, most awful service I have ever had.": "NEGATIVE",
    "The meeting starts at three in room four.": "NEUTRAL",
    "The food was great but the service was awful.": "MIXED",
}


def test_sentiment_of_clear_sentences_and_of_the_whole_text(tmp_path: Path) -> None:
    text = "\n".join(SENTENCES)
    source = tmp_path / "review.txt"
    source.write_text(text, encoding="utf-8")
    run = run_operator(detect_sentiment, {"Text": source})
    stored = run.results["DetectSentiment"]
    assert set(stored) == {"Sentiment", "SentimentScore"}  # Comprehend's DetectSentiment response, nothing more
    assert run.results["DetectSentimentSentences"]["LanguageCode"] == "en"
    sentences = run.results["DetectSentimentSentences"]["Sentences"]
    for sentence in sentences:
        assert text[sentence["BeginOffset"] : sentence["EndOffset"]] == sentence["Text"]
        assert set(sentence["SentimentScore"]) == {"Positive", "Negative", "Neutral", "Mixed"}
        assert math.isclose(sum(sentence["SentimentScore"].values()), 1.0, abs_tol=1e-4)
    assert {s["Text"]: s["Sentiment"] for s in sentences} == SENTENCES
    # One clearly positive and one clearly negative sentence: the whole text is MIXED.
    assert stored["Sentiment"] == "MIXED"
    assert math.isclose(sum(stored["SentimentScore"].values()), 1.0, abs_tol=1e-4)


def test_sentences_are_paged_and_the_whole_text_is_one_result(tmp_path: Path) -> None:
    source = tmp_path / "many.txt"
    source.write_text(" ".join(list(SENTENCES) * 10), encoding="utf-8")
    run = run_operator(detect_sentiment, {"Text": source}, configuration={"PageSize": 15, "ChunkCharacters": 300})
    pages = run.results["DetectSentimentSentences"]
    assert [len(p["Sentences"]) for p in pages] == [15, 15, 10]
    assert [s["Sentiment"] for p in pages for s in p["Sentences"]] == list(SENTENCES.values()) * 10
    assert run.results["DetectSentiment"]["Sentiment"] == "MIXED"


LANGUAGES = {
    "en": "The weather today is sunny with a light breeze from the west, and our team will meet at three.",
    "es": "El tiempo hoy es soleado con una brisa ligera del oeste, y nuestro equipo se reunirá a las tres.",
    "de": "Das Wetter ist heute sonnig mit einer leichten Brise aus dem Westen, und unser Team trifft sich um drei.",
    "fr": "Le temps aujourd'hui est ensoleillé avec une légère brise de l'ouest, et notre équipe se réunira à trois.",
}


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_dominant_language(code: str, tmp_path: Path) -> None:
    source = tmp_path / f"{code}.txt"
    source.write_text(LANGUAGES[code], encoding="utf-8")
    run = run_operator(detect_dominant_language, {"Text": source})
    languages = run.results["DetectDominantLanguage"]["Languages"]
    assert languages[0]["LanguageCode"] == code
    assert languages[0]["Score"] > 0.9
    assert run.metadata["DominantLanguageCode"] == code
    # Seeded: the same text gets exactly the same scores again.
    again = run_operator(detect_dominant_language, {"Text": source})
    assert again.results["DetectDominantLanguage"]["Languages"] == languages


# Inputs as the transcribe operators leave them ----------------------------------------------------------------------


def _transcribe_json(text: str, uri: dict[str, str] | None) -> bytes:
    words = [
        {"start_time": f"{i * 0.4:.2f}", "end_time": f"{i * 0.4 + 0.3:.2f}", "type": "pronunciation",
         "alternatives": [{"content": w, "confidence": "0.9"}]}
        for i, w in enumerate(text.split()[:5])
    ]  # fmt: skip
    document: dict[str, Any] = {
        "jobName": "transcribe-test",
        "results": {"transcripts": [{"transcript": text}], "items": words},
        "status": "COMPLETED",
    }
    if uri is not None:
        document["TextTranscriptUri"] = uri
    return json.dumps(document).encode()


@pytest.mark.parametrize("shape", ["json-with-uri", "json-results-only", "metadata-uri"])
def test_transcript_inputs_in_transcribe_shapes(nlp: Any, tmp_path: Path, shape: str) -> None:
    uri = {"S3Bucket": "dataplane", "S3Key": "private/assets/x/workflows/w/TranscribeVideo/transcript.txt"}
    result = tmp_path / "TranscribeVideo.json"
    # The plain-text object says something else than the JSON's own transcript: which one was read shows.
    plain_text = "Angela Merkel spoke in Paris on Friday."
    with harness(tmp_path / "plane") as h:
        h.objects.put_bytes(uri["S3Bucket"], uri["S3Key"], plain_text.encode())
        if shape == "metadata-uri":
            video = tmp_path / "clip.mp4"
            video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32)
            run = h.run(comprehend_entities, {"Video": video}, metadata={"TextTranscriptUri": uri})
            expected = plain_text
        else:
            result.write_bytes(_transcribe_json(PARAGRAPH, uri if shape == "json-with-uri" else None))
            run = h.run(comprehend_entities, {"Text": result})
            expected = plain_text if shape == "json-with-uri" else PARAGRAPH
    entities = _entities(run.results["entities"])
    _assert_offsets(expected, entities)
    found = {(e["Text"], e["Type"]) for e in entities}
    if expected == plain_text:
        assert found >= {("Angela Merkel", "PERSON"), ("Paris", "LOCATION"), ("Friday", "DATE")}
    else:
        assert found >= EXPECTED_ENTITIES


@pytest.mark.parametrize("definition", ALL_OPERATORS, ids=lambda d: d.name)
def test_an_empty_transcript_completes_with_empty_results(nlp: Any, tmp_path: Path, definition: Any) -> None:
    empty = tmp_path / "transcript.txt"
    empty.write_text("  \n", encoding="utf-8")
    run = run_operator(definition, {"Text": empty})
    assert run.status == "Complete"
    results = run.results
    if definition is comprehend_entities:
        assert _entities(results["entities"]) == []
    elif definition is comprehend_key_phrases:
        assert _phrases(results["key_phrases"]) == []
    elif definition is detect_sentiment:
        assert results["DetectSentiment"] == {"Sentiment": None, "SentimentScore": None}
        assert results["DetectSentimentSentences"] == {"LanguageCode": "en", "Sentences": []}
    else:
        assert results["DetectDominantLanguage"] == {"Languages": []}
        assert "DominantLanguageCode" not in run.metadata


def test_media_without_audio_completes_without_a_transcript(nlp: Any, tmp_path: Path) -> None:
    video = tmp_path / "silent.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32)
    run = run_operator(comprehend_entities, {"Video": video}, metadata={"Mediainfo_num_audio_tracks": "0"})
    assert run.status == "Complete"
    assert _entities(run.results["entities"]) == []


def test_a_missing_transcript_is_a_clear_error(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32)
    with pytest.raises(OperatorError, match="TextTranscriptUri"):
        run_operator(detect_sentiment, {"Video": video})
    missing = {"S3Bucket": "dataplane", "S3Key": "private/assets/none/transcript.txt"}
    with pytest.raises(OperatorError, match="does not exist"):
        run_operator(detect_sentiment, {"Video": video}, metadata={"TextTranscriptUri": missing})
    other_json = tmp_path / "other.json"
    other_json.write_text('{"Labels": []}', encoding="utf-8")
    with pytest.raises(OperatorError, match="transcribe"):
        run_operator(detect_sentiment, {"Text": other_json})


def test_settings_are_checked(paragraph: Path) -> None:
    with pytest.raises(OperatorError, match="only 'en'"):
        run_operator(detect_sentiment, {"Text": paragraph}, configuration={"LanguageCode": "es"})
    with pytest.raises(OperatorError, match="PageSize"):
        run_operator(detect_sentiment, {"Text": paragraph}, configuration={"PageSize": 0})


def test_a_missing_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch, paragraph: Path) -> None:
    monkeypatch.setattr(models, "_MODELS", LazyMap())  # forget the models loaded so far
    real_import = models.importlib.import_module

    def no_langdetect(name: str, package: str | None = None) -> Any:
        if name.startswith("langdetect"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, package)

    monkeypatch.setattr(models.importlib, "import_module", no_langdetect)
    with pytest.raises(OperatorError, match=r"langdetect is not installed.*pip install 'media-insights-engine\[nlp\]'"):
        run_operator(detect_dominant_language, {"Text": paragraph})
    monkeypatch.setattr(models, "SPACY_MODEL", "no_such_spacy_pipeline")
    with pytest.raises(OperatorError, match=r"no_such_spacy_pipeline.*media-insights-engine\[nlp\]"):
        run_operator(comprehend_entities, {"Text": paragraph})


# In a workflow ------------------------------------------------------------------------------------------------------


@operator("TextTestTranscript", media_type="Text")
def fake_transcribe(ctx: OperatorContext) -> dict[str, Any]:
    """Stand in for TranscribeVideo: store the input text as the plain transcript and a Transcribe JSON result."""
    text = ctx.input_file("Text").read_text(encoding="utf-8")
    location = ctx.dataplane.media_path(ctx.asset_id, ctx.workflow_execution_id)
    uri = {"S3Bucket": location["S3Bucket"], "S3Key": f"{location['S3Key']}{ctx.name}/transcript.txt"}
    ctx.dataplane.objects.put_bytes(uri["S3Bucket"], uri["S3Key"], text.encode("utf-8"))
    ctx.add_media("Text", _transcribe_json(text, uri), filename=f"{ctx.name}.json")
    return {"TextTranscriptUri": uri}


@pytest.fixture
def text_client(services: Services, client: TestClient) -> TestClient:
    text_library.register(services.registry)
    services.registry.register(fake_transcribe)
    return client


def test_the_operators_in_a_workflow(nlp: Any, text_client: TestClient) -> None:
    names = ["TextTestTranscript", *(d.name for d in ALL_OPERATORS)]
    records = []
    for name in names:
        r = text_client.post(f"/api/operators/{name}/register")
        assert r.status_code == 200, r.text
        records.append(r.json())
    make_workflow(text_client, "text-wf", [records[:1], records[1:]])
    upload(text_client, "upload/paragraph.txt", PARAGRAPH.encode())
    r = text_client.post(
        "/api/workflow/execution",
        json={
            "Name": "text-wf",
            "Input": {"Media": {"Text": {"S3Bucket": "dataplane", "S3Key": "upload/paragraph.txt"}}},
        },
    )
    assert r.status_code == 200, r.text
    done = wait_for(text_client, r.json()["Id"], {"Complete", "Error"}, timeout=90)
    assert done["Status"] == "Complete", done.get("Message")
    assert done["Globals"]["MetaData"]["DominantLanguageCode"] == "en"
    asset = done["AssetId"]

    def stored(name: str) -> dict[str, Any]:
        response = text_client.get(f"/api/dataplane/metadata/{asset}/{name}")
        assert response.status_code == 200, response.text
        results: dict[str, Any] = response.json()["results"]
        return results

    entities = _entities(stored("entities"))
    _assert_offsets(PARAGRAPH, entities)
    assert {(e["Text"], e["Type"]) for e in entities} >= EXPECTED_ENTITIES
    assert "Amazon Web Services" in {p["Text"] for p in _phrases(stored("key_phrases"))}
    assert stored("DetectSentiment")["Sentiment"] == "MIXED"  # a neutral and a mixed-to-negative sentence
    sentences = stored("DetectSentimentSentences")["Sentences"]
    assert [s["Sentiment"] for s in sentences] == ["NEUTRAL", "NEGATIVE"]
    assert stored("DetectDominantLanguage")["Languages"][0]["LanguageCode"] == "en"
