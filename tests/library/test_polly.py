"""``Polly`` and ``PollyWebCaptions`` with espeak-ng: voices by language, plausible durations, MIE's keys, and the
English synthesis transcribed back by Whisper tiny.en (the model ``TranscribeAudio`` uses)."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from mie.errors import OperatorError
from mie.library.speech import polly as synth
from mie.library.speech import register
from mie.operators import OperatorRegistry, Runtime, Target
from mie.operators.invoke import invoke
from mie.testing import Harness, harness, run_operator

pytestmark = pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("ffmpeg") and shutil.which("ffprobe")),
    reason="needs espeak-ng and ffmpeg (apt-get install espeak-ng ffmpeg)",
)

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
SPANISH = "El perro marrón salta sobre la valla del jardín. Mañana iremos a la playa con nuestros amigos."


def _probe(path: Path) -> dict[str, Any]:
    done = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                          capture_output=True, check=True, timeout=60)  # fmt: skip
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _seconds_for(text: str, rate: int = synth.DEFAULT_RATE) -> float:
    return len(text.split()) / rate * 60


def test_voices_by_language_code() -> None:
    assert synth.voice_for("en") == "en-us"  # MIE's default, US English
    assert synth.voice_for("en-GB") == "en-gb"
    assert synth.voice_for("pt-BR") == "pt-br"
    assert synth.voice_for("es") == "es"
    assert synth.voice_for("es-MX") == "es-419"
    assert synth.voice_for("zh") == "cmn"
    assert synth.voice_for("de-AT") == "de"  # no Austrian voice: the base language's
    with pytest.raises(OperatorError, match="no espeak-ng voice speaks language 'tlh'"):
        synth.voice_for("tlh")


def test_long_text_is_chunked_at_sentence_ends() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(400))
    pieces = synth.chunks(text, 500)
    assert all(len(p) <= 500 for p in pieces)
    assert all(p.endswith(".") for p in pieces)
    assert " ".join(pieces).split() == text.split()
    giant = "word " * 300
    assert " ".join(synth.chunks(giant, 100)).split() == giant.split()


def test_an_english_text_is_spoken_and_whisper_hears_it(tmp_path: Path) -> None:
    source = tmp_path / "translation.json"
    source.write_text(json.dumps({"TranslatedText": SENTENCE, "SourceLanguageCode": "es", "TargetLanguageCode": "en"}))
    run = run_operator(synth.polly, {"Text": source}, workdir=tmp_path / "work")
    assert run.status == "Complete", run.output
    asset, execution = run.output["AssetId"], run.output["WorkflowExecutionId"]
    job = run.metadata["PollyJobId"]
    assert uuid.UUID(job)
    assert run.output["Media"]["Audio"]["S3Key"] == f"private/assets/{asset}/workflows/{execution}/audio.{job}.mp3"
    assert run.metadata["PollyVoiceId"] == "en-us"
    audio = run.media_files["Audio"]
    probe = _probe(audio)
    assert probe["streams"][0]["codec_name"] == "mp3"
    duration = float(probe["format"]["duration"])
    expected = _seconds_for(SENTENCE)
    assert 0.6 * expected < duration < 1.8 * expected, duration
    whisper = pytest.importorskip("mie.library.speech.whisper")
    pytest.importorskip("faster_whisper")
    model = whisper.load_model(threads=1)
    heard = whisper.transcribe(model, whisper.prepare_audio(audio, tmp_path), language="en")
    words = {w.text.strip(" .,").lower() for w in heard.words}
    assert {"quick", "brown", "fox", "lazy", "dog"} <= words, words


def test_a_run_twice_writes_the_same_object(tmp_path: Path) -> None:
    source = tmp_path / "note.txt"
    source.write_text(SENTENCE)
    with harness(tmp_path / "h") as h:
        first = h.run(synth.polly, {"Text": source}, configuration={"LanguageCode": "en"})
        event = {**first.output, "Status": "Started", "MetaData": {}, "Media": {}}
        again = _invoke(h, synth.polly, event)
    assert again["Media"]["Audio"] == first.output["Media"]["Audio"]
    assert again["MetaData"]["PollyJobId"] == first.metadata["PollyJobId"]


def test_the_language_is_detected_when_not_given(tmp_path: Path) -> None:
    pytest.importorskip("langdetect")
    source = tmp_path / "nota.txt"
    source.write_text(SPANISH)
    run = run_operator(synth.polly, {"Text": source}, workdir=tmp_path / "work")
    assert run.metadata["PollyLanguageCode"] == "es"
    assert run.metadata["PollyVoiceId"] == "es"
    duration = float(_probe(run.media_files["Audio"])["format"]["duration"])
    assert 0.6 * _seconds_for(SPANISH) < duration < 1.8 * _seconds_for(SPANISH)


def test_a_long_text_becomes_one_mp3(tmp_path: Path) -> None:
    text = " ".join(f"This is sentence {i} of a long translated text." for i in range(120))
    source = tmp_path / "long.txt"
    source.write_text(text)
    run = run_operator(
        synth.polly, {"Text": source}, configuration={"LanguageCode": "en-US", "SpeechRate": 350}, workdir=tmp_path
    )
    parts = [m for _, m in run.progress if m and "spoke" in m and "parts" in m]
    assert len(parts) >= 2  # spoken in several chunks
    duration = float(_probe(run.media_files["Audio"])["format"]["duration"])
    assert 0.6 * _seconds_for(text, 350) < duration < 1.8 * _seconds_for(text, 350)


def test_bad_input_fails_clearly(tmp_path: Path) -> None:
    source = tmp_path / "text.txt"
    source.write_text(SENTENCE)
    with pytest.raises(OperatorError, match="no espeak-ng voice speaks language 'tlh'"):
        run_operator(synth.polly, {"Text": source}, configuration={"LanguageCode": "tlh"})
    with pytest.raises(OperatorError, match="SpeechRate"):
        run_operator(synth.polly, {"Text": source}, configuration={"LanguageCode": "en", "SpeechRate": 5})
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"Labels": []}))
    with pytest.raises(OperatorError, match="neither a Translate nor a Transcribe result"):
        run_operator(synth.polly, {"Text": other})
    empty = tmp_path / "empty.txt"
    empty.write_text("   ")
    run = run_operator(synth.polly, {"Text": empty})
    assert run.status == "Complete"
    assert "Audio" not in run.output["Media"]
    assert run.metadata["PollyAudio"].startswith("skipped")


# PollyWebCaptions -----------------------------------------------------------------------------------------------


def _invoke(h: Harness, definition: Any, event: dict[str, Any]) -> dict[str, Any]:
    runtime = Runtime(h.dataplane, scratch_root=h.root / "work")
    output = invoke(Target("native", definition.start_arn, definition=definition), event, runtime, timeout=600)
    assert output["Status"] == "Executing"  # Async as in MIE: the monitor finishes
    monitor = Target("native", definition.monitor_arn, definition=definition, monitor=True)
    return invoke(monitor, output, runtime, timeout=600)


def _caption_event(h: Harness, asset: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "Name": "PollyWebCaptions",
        "AssetId": asset,
        "WorkflowExecutionId": str(uuid.uuid4()),
        "Input": {"Media": {}, "MetaData": {}},
        "Configuration": {
            "MediaType": "MetadataOnly",
            "Enabled": True,
            **synth.polly_web_captions.configuration,
            **(configuration or {}),
        },
        "Status": "Started",
        "MetaData": {},
        "Media": {},
    }


def _caption(start: float, end: float, text: str) -> dict[str, Any]:
    return {"start": start, "end": end, "caption": text}


def test_every_caption_language_is_spoken(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00" * 16)  # the asset's own media is not read: captions come from its metadata
    with harness(tmp_path / "h") as h:
        asset, _ = h.add_asset(clip)
        for language, lines in (("en", SENTENCE.split(" near ")), ("es", SPANISH.split(". "))):
            h.dataplane.store_metadata(asset, {
                "OperatorName": f"WebCaptions_{language}",
                "Results": {"WebCaptions": [_caption(i * 2.0, i * 2.0 + 2, line) for i, line in enumerate(lines)]},
                "WorkflowId": "earlier",
            })  # fmt: skip
        h.dataplane.store_metadata(asset, {
            "OperatorName": "TranslateWebCaptions",
            "Results": {"CaptionsCollection": [{"OperatorName": "TranslateWebCaptions_es", "TargetLanguageCode": "es",
                                                "TranslationText": {}, "WorkflowId": "earlier"}]},
            "WorkflowId": "earlier",
        })  # fmt: skip
        event = _caption_event(h, asset)
        output = _invoke(h, synth.polly_web_captions, event)
        assert output["Status"] == "Complete", output
        collection = output["MetaData"]["PollyCollection"]
        assert [c["LanguageCode"] for c in collection] == ["en", "es"]
        stored = h.dataplane.get_operator_metadata(asset, "PollyWebCaptions")["results"]
        assert stored == {"PollyCollection": collection}
        for entry in collection:
            key = entry["PollyAudio"]["S3Key"]
            lang, task = entry["LanguageCode"], entry["PollyTaskId"]
            folder = f"private/assets/{asset}/workflows/{event['WorkflowExecutionId']}/"
            assert key == f"{folder}audio_only_{lang}.{task}.mp3"
            local = h.objects.local_path(entry["PollyAudio"]["S3Bucket"], key)
            assert local is not None
            assert _probe(local)["streams"][0]["codec_name"] == "mp3"
            assert entry["DurationSeconds"] > 2
        assert collection[1]["VoiceId"] == "es"
        # Languages asked for must exist.
        with pytest.raises(OperatorError, match="no WebCaptions_fr"):
            _invoke(h, synth.polly_web_captions, _caption_event(h, asset, {"TargetLanguageCodes": ["fr"]}))


def test_registered_with_the_speech_library() -> None:
    registry = OperatorRegistry()
    register(registry)
    assert registry.definition("Polly") is synth.polly
    assert registry.definition("PollyWebCaptions") is synth.polly_web_captions
    assert synth.polly.media_type == "Text"
    assert synth.polly_web_captions.media_type == "MetadataOnly"
    assert synth.polly.operation()["Type"] == "Async"
    assert synth.polly_web_captions.operation()["Type"] == "Async"
