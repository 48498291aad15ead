"""Translate and TranslateWebCaptions with the real Apertium (Debian ``apertium`` + ``apertium-eng-spa``).

Inputs are made here in the shapes the speech operators produce (AWS Transcribe JSON in ``Media.Text``, a plain
text transcript at ``TextTranscriptUri``, ``WebCaptions_<lang>`` = ``{"WebCaptions": [{"start","end","caption"}]}``);
terminologies and parallel data are stored as the ``/api/service/translate`` routes store them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mie.errors import OperatorError
from mie.library.translate import apertium, operators, register, translate, translate_webcaptions
from mie.library.translate.text import Glossary, chunks, split_sentences
from mie.operators import OperatorDefinition, OperatorRegistry, Runtime, Target
from mie.operators.invoke import invoke
from mie.testing import Harness, harness, run_operator
from mie.types import JSONDict


def _has_eng_spa() -> bool:
    if shutil.which("apertium") is None:
        return False
    listed = subprocess.run(["apertium", "-l"], capture_output=True, timeout=30, check=False)
    return "eng-spa" in listed.stdout.decode().split()


pytestmark = pytest.mark.skipif(not _has_eng_spa(), reason="needs apt-get install apertium apertium-eng-spa")

CAT = "The cat is sleeping on the red sofa."
CAT_ES = "El gato está durmiendo en el sofá rojo."


def transcribe_json(text: str) -> JSONDict:
    """A minimal AWS Transcribe result for ``text``."""
    items = []
    for index, word in enumerate(text.rstrip(".").split()):
        items.append(
            {
                "start_time": f"{index * 0.4:.2f}",
                "end_time": f"{index * 0.4 + 0.3:.2f}",
                "alternatives": [{"confidence": "0.99", "content": word}],
                "type": "pronunciation",
            }
        )
    items.append({"alternatives": [{"confidence": "0.0", "content": "."}], "type": "punctuation"})
    return {"jobName": "t", "results": {"transcripts": [{"transcript": text}], "items": items}, "status": "COMPLETED"}


@pytest.fixture
def transcript(tmp_path: Path) -> Path:
    path = tmp_path / "transcript.json"
    path.write_text(json.dumps(transcribe_json(CAT)))
    return path


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with harness(tmp_path / "plane") as found:
        yield found


def store_resource(h: Harness, kind: str, name: str, rows: list[list[str]]) -> None:
    """Store a terminology/parallel data set the way the service routes do (see resources.py)."""
    folder = "terminologies" if kind == "terminology" else "parallel-data"
    doc = {"Name": name, "Kind": kind, "Languages": rows[0], "Entries": rows[1:], "Properties": {}, "DataKey": "x"}
    h.objects.put_bytes("dataplane", f"service/translate/{folder}/{name}.json", json.dumps(doc).encode())


def run_on_asset(
    h: Harness, op: OperatorDefinition, asset_id: str, config: JSONDict, metadata: JSONDict | None = None
) -> JSONDict:
    """Run ``op`` on an existing asset (so results stored beforehand, like WebCaptions_en, are there)."""
    event: JSONDict = {
        "Name": op.name,
        "AssetId": asset_id,
        "WorkflowExecutionId": str(uuid.uuid4()),
        "Input": {"Media": {}, "MetaData": metadata or {}},
        "Configuration": {"MediaType": op.media_type, "Enabled": True, **op.configuration, **config},
        "Status": "Started",
        "MetaData": {},
        "Media": {},
    }
    return invoke(Target("native", op.start_arn, definition=op), event, Runtime(h.dataplane), timeout=120)


def results(h: Harness, asset_id: str, operator: str) -> Any:
    return h.dataplane.get_operator_metadata(asset_id, operator)["results"]


# Translate -------------------------------------------------------------------------------------------------------


def test_known_sentence_translates_to_the_expected_spanish(transcript: Path, tmp_path: Path) -> None:
    run = run_operator(translate, {"Text": transcript}, workdir=tmp_path / "run")
    assert run.status == "Complete"
    assert run.results["Translate"] == {
        "TranslatedText": CAT_ES,
        "SourceLanguageCode": "en",
        "TargetLanguageCode": "es",
    }
    # As MIE: Media.Text now points at the stored translation, for later stages.
    assert json.loads(run.media_files["Text"].read_text())["TranslatedText"] == CAT_ES


def test_source_text_from_text_transcript_uri_and_detected_language(h: Harness, tmp_path: Path) -> None:
    h.objects.put_bytes("dataplane", "private/t/transcript.txt", b"El gato duerme.")
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 64)
    run = h.run(
        translate,
        {"Video": video},
        configuration={"TargetLanguageCode": "en"},
        metadata={
            "TextTranscriptUri": {"S3Bucket": "dataplane", "S3Key": "private/t/transcript.txt"},
            "TranscribeSourceLanguage": "es-US",
        },
    )
    out = run.results["Translate"]
    assert out["SourceLanguageCode"] == "es"
    assert out["TranslatedText"] == "The cat sleeps."


def test_empty_transcript_completes_without_a_result(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"results": {"transcripts": [{"transcript": ""}], "items": []}}))
    run = run_operator(translate, {"Text": empty})
    assert run.status == "Complete"
    assert "Translate" not in run.results


def test_no_transcript_is_a_clear_error(h: Harness, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"something": "else"}))
    with pytest.raises(OperatorError, match=r"not a Transcribe result.*TextTranscriptUri"):
        h.run(translate, {"Text": other})


def test_terminology_and_parallel_data_change_the_output(h: Harness, transcript: Path) -> None:
    store_resource(h, "terminology", "pets", [["en", "es"], ["cat", "minino"], ["red sofa", "diván carmesí"]])
    store_resource(h, "terminology", "french", [["en", "fr"], ["cat", "chaton"]])
    store_resource(h, "parallel-data", "memory", [["en", "es"], [CAT, "La gata descansa en el sillón colorado."]])
    base = h.run(translate, {"Text": transcript}).results["Translate"]["TranslatedText"]
    assert base == CAT_ES
    forced = h.run(translate, {"Text": transcript}, configuration={"TerminologyNames": ["pets", "french"]})
    # The targets pass through Apertium untouched; the en->fr terminology does not apply to es.
    assert forced.results["Translate"]["TranslatedText"] == "El minino está durmiendo en el diván carmesí."
    # MIE 2.0's string form of the setting works too.
    legacy = h.run(translate, {"Text": transcript}, configuration={"TerminologyNames": '{"JsonList": ["pets"]}'})
    assert legacy.results["Translate"]["TranslatedText"] == forced.results["Translate"]["TranslatedText"]
    memory = h.run(translate, {"Text": transcript}, configuration={"ParallelDataNames": ["memory"]})
    assert memory.results["Translate"]["TranslatedText"] == "La gata descansa en el sillón colorado."


def test_unknown_terminology_is_a_clear_error(transcript: Path) -> None:
    with pytest.raises(OperatorError, match=r"no terminology named 'nope'.*create_terminology"):
        run_operator(translate, {"Text": transcript}, configuration={"TerminologyNames": ["nope"]})


def test_unavailable_pair_names_installed_pairs_and_the_package(transcript: Path) -> None:
    with pytest.raises(OperatorError) as caught:
        run_operator(translate, {"Text": transcript}, configuration={"TargetLanguageCode": "fr"})
    message = str(caught.value)
    assert "'en' into 'fr'" in message
    assert "en->es (eng-spa)" in message
    assert "apt-get install apertium-eng-fra" in message


def test_missing_apertium_names_what_to_install(transcript: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mie.library.translate.apertium.shutil.which", lambda name: None)
    with pytest.raises(OperatorError, match=r"apt-get install apertium apertium-eng-spa"):
        apertium.installed_pairs(refresh=True)
    with pytest.raises(OperatorError, match=r"apt-get install apertium apertium-eng-spa"):
        run_operator(translate, {"Text": transcript})


def test_long_text_is_translated_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sentences = ["The cat is sleeping.", "The dog is eating.", "It is raining today.", "We have a red car."]
    text = " ".join(sentences * 3)
    source = tmp_path / "long.json"
    source.write_text(json.dumps(transcribe_json(text)))
    whole = run_operator(translate, {"Text": source}).results["Translate"]["TranslatedText"]
    monkeypatch.setattr(operators, "CHUNK_CHARS", 50)
    assert len(chunks(text, 50)) > 4
    run = run_operator(translate, {"Text": source})
    assert run.results["Translate"]["TranslatedText"] == whole
    assert len(run.progress) == len(chunks(text, 50))
    assert whole.count("El gato está durmiendo.") == 3


def test_sentence_splitter_and_glossary() -> None:
    assert [s for s, _ in split_sentences("Dr. Smith came. He left! e.g. this. Then J. Doe went.")] == [
        "Dr. Smith came.",
        "He left! e.g. this.",
        "Then J. Doe went.",
    ]
    for part, _ in chunks("word " * 100, 60):
        assert len(part) <= 60
    glossary = Glossary({"sofa": "diván", "red sofa": "sofá granate"}, {"hello there.": "¡hola!"})
    pieces = glossary.prepare("Hello  there. The RED sofa and the sofa.")
    assert [(p.text, p.protected) for p in pieces if p.protected] == [
        ("¡hola!", True),
        ("sofá granate", True),
        ("diván", True),
    ]


def test_pairs_are_discovered_from_apertium() -> None:
    pairs = {p.mode: p for p in apertium.installed_pairs(refresh=True)}
    assert pairs["eng-spa"].describe() == {"SourceLanguageCode": "en", "TargetLanguageCode": "es", "Mode": "eng-spa"}
    if "spa-eng_US" in pairs:
        assert apertium.find_pair("es", "en-US").mode == "spa-eng_US"
        assert apertium.find_pair("es", "en").mode == "spa-eng"
    with pytest.raises(OperatorError, match="language code"):
        apertium.find_pair("english!", "es")
    with pytest.raises(OperatorError, match="same"):
        apertium.find_pair("en", "en")


# TranslateWebCaptions ----------------------------------------------------------------------------------------------

CAPTIONS = [
    {"start": 0.5, "end": 2.0, "caption": "The cat is sleeping"},
    {"start": 2.0, "end": 3.5, "caption": "on the red sofa."},
    {"start": 5.0, "end": 6.25, "caption": ""},
    {"start": 7.0, "end": 8.0, "caption": "The dog is eating."},
]


def seeded_asset(h: Harness, tmp_path: Path) -> str:
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"\x00" * 64)
    asset_id, _ = h.add_asset(media, "Video")
    h.dataplane.store_metadata(
        asset_id, {"OperatorName": "WebCaptions_en", "Results": {"WebCaptions": CAPTIONS}, "WorkflowId": "w0"}
    )
    return asset_id


def test_webcaptions_are_translated_with_their_timings(h: Harness, tmp_path: Path) -> None:
    asset_id = seeded_asset(h, tmp_path)
    store_resource(h, "terminology", "pets", [["en", "es"], ["dog", "perrito"]])
    output = run_on_asset(
        h, translate_webcaptions, asset_id, {"TerminologyNames": [{"Name": "pets", "TargetLanguageCodes": ["es"]}]}
    )
    assert output["Status"] == "Complete", output
    assert translate_webcaptions.media_type == "MetadataOnly"
    captions = results(h, asset_id, "WebCaptions_es")["WebCaptions"]
    assert results(h, asset_id, "WebCaptionsTranslate_es")["WebCaptions"] == captions
    assert [(c["start"], c["end"]) for c in captions] == [(c["start"], c["end"]) for c in CAPTIONS]
    assert [c["sourceCaption"] for c in captions] == [c["caption"] for c in CAPTIONS]
    assert captions[2]["caption"] == ""
    joined = " ".join(c["caption"] for c in captions)
    assert "El gato está durmiendo" in joined
    assert "sofá rojo" in joined
    assert captions[3]["caption"] == "El perrito está comiendo."
    (entry,) = results(h, asset_id, "TranslateWebCaptions")["CaptionsCollection"]
    assert entry["OperatorName"] == "TranslateWebCaptions_es"
    assert entry["TargetLanguageCode"] == "es"
    assert entry["WorkflowId"] == output["WorkflowExecutionId"]
    text = h.objects.get_bytes(entry["TranslationText"]["S3Bucket"], entry["TranslationText"]["S3Key"]).decode()
    assert entry["TranslationText"]["S3Key"].endswith("/translation_es.txt")
    assert text == joined.replace("  ", " ").strip()


def test_webcaptions_unavailable_target_fails_before_any_result(h: Harness, tmp_path: Path) -> None:
    asset_id = seeded_asset(h, tmp_path)
    with pytest.raises(OperatorError, match="apt-get install apertium-eng-deu"):
        run_on_asset(h, translate_webcaptions, asset_id, {"TargetLanguageCodes": ["es", "de"]})
    with pytest.raises(Exception, match="No metadata"):
        results(h, asset_id, "WebCaptions_es")


def test_webcaptions_missing_source_captions_is_a_clear_error(h: Harness, tmp_path: Path) -> None:
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"\x00" * 64)
    asset_id, _ = h.add_asset(media, "Video")
    with pytest.raises(OperatorError, match=r"no WebCaptions_en result.*run WebCaptions"):
        run_on_asset(h, translate_webcaptions, asset_id, {})


def test_register_adds_both_operators() -> None:
    registry = OperatorRegistry()
    register(registry)
    assert {d.name for d in registry.definitions()} == {"Translate", "TranslateWebCaptions"}
    assert registry.definition("TranslateWebCaptions").operation()["Configuration"]["MediaType"] == "MetadataOnly"  # type: ignore[union-attr]
