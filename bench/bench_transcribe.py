"""Transcription speed as a multiple of real time: ``TranscribeAudio`` (faster-whisper, Whisper tiny.en, VAD on) on
speech made by espeak-ng, with and without long silences, through :func:`mie.testing.run_operator`.

Usage::

    .venv/bin/python bench/bench_transcribe.py [--minutes 2] [--runs 3] [--json PATH]
    .venv/bin/python bench/bench_transcribe.py --compare [--minutes 1] [--runs 2]   # tiny.en vs base, en and es

The first call in the process loads the model (reported separately); the timed runs reuse it, as a worker does.
Also prints the word error rate against the script, so speed is never bought with accuracy unnoticed.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mie.library.speech.transcribe import transcribe_audio
from mie.testing import harness

SCRIPT = (
    "Good evening. Here is the news. The city council met on Tuesday to discuss the new bridge over the river. "
    "The mayor said that work will begin in March and finish next year. Scientists in Berlin announced a new "
    "telescope that can see the oldest galaxies. Sports fans celebrated as the home team won the championship for "
    "the third time in a row. The weather will be sunny tomorrow with a light wind from the west. "
)


SPANISH = (
    "Buenas noches. Estas son las noticias. El ayuntamiento se reunió el martes para hablar del nuevo puente sobre el "
    "río. La alcaldesa dijo que las obras empiezan en marzo y terminan el año que viene. Mañana hará sol con un poco "
    "de viento del oeste. "
)
#: ``--compare``: (label, configuration) of each model run on the same audio.
MODELS = (
    ("tiny.en, beam 5", {"Model": "tiny.en", "BeamSize": 5}),
    ("base, beam 1", {"Model": "base", "BeamSize": 1}),
    ("base, beam 5", {"Model": "base", "BeamSize": 5}),
)


def words(text: str) -> list[str]:
    return re.findall(r"[a-zñáéíóúü']+", text.lower())


def wer(reference: list[str], hypothesis: list[str]) -> float:
    """Word error rate (Levenshtein over words)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1] / max(1, len(reference))


def make_audio(
    root: Path, minutes: float, silence: float, script: str = SCRIPT, voice: str = "en-us"
) -> tuple[Path, float, str]:
    """The script repeated to about ``minutes``, with ``silence`` seconds between readings; 16 kHz mono WAV."""
    one = root / "one.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(one), script], check=True)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(one)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    length = float(probe.stdout) + silence
    repeats = max(1, round(minutes * 60 / length))
    out = root / f"speech-{silence:g}.wav"
    pad = f"apad=pad_dur={silence}," if silence else ""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(repeats - 1), "-i", str(one),
         "-af", f"{pad}aresample=16000", "-ac", "1", str(out)] if not silence else
        ["ffmpeg", "-v", "error", "-y", "-i", str(one), "-af", f"{pad}aresample=16000", "-ac", "1",
         str(root / "padded.wav")],
        check=True,
    )  # fmt: skip
    if silence:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(repeats - 1), "-i", str(root / "padded.wav"),
             "-c", "copy", str(out)],
            check=True,
        )  # fmt: skip
    return out, repeats * length, " ".join([script] * repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--compare", action="store_true", help="tiny.en against base on English and Spanish speech")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(args)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="mie-bench-asr-") as tmp, harness(Path(tmp) / "h") as h:
        root = Path(tmp)
        began = time.perf_counter()
        (root / "warm").mkdir()
        warm, _, _ = make_audio(root / "warm", 0.1, 0)
        h.run(transcribe_audio, {"Audio": warm})
        results["first_call_seconds"] = round(time.perf_counter() - began, 2)
        print(f"first call (loads the model): {results['first_call_seconds']} s")
        for label, silence in (("continuous speech", 0.0), ("speech with 20 s silences", 20.0)):
            folder = root / label.replace(" ", "-")
            folder.mkdir()
            audio, seconds, reference = make_audio(folder, args.minutes, silence)
            times = []
            for _ in range(args.runs):
                began = time.perf_counter()
                run = h.run(transcribe_audio, {"Audio": audio})
                times.append(time.perf_counter() - began)
            median = statistics.median(times)
            transcript = run.results["TranscribeAudio"]["results"]["transcripts"][0]["transcript"]
            error = wer(words(reference), words(transcript))
            results[label] = {"audio_seconds": round(seconds, 1), "median_seconds": round(median, 2),
                              "x_realtime": round(seconds / median, 1), "wer": round(error, 3)}  # fmt: skip
            print(f"{label}: {seconds:.0f} s of audio in {median:.1f} s (median of {args.runs}) = "
                  f"{seconds / median:.1f}x real time; WER {error:.1%}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def compare(args: argparse.Namespace) -> int:
    """Speed and WER of each of :data:`MODELS` on English speech, and of base (identifying the language) on Spanish;
    runs interleaved (model after model, round after round) so each saw the same machine."""
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="mie-bench-asr-") as tmp, harness(Path(tmp) / "h") as h:
        root = Path(tmp)
        clips = {}
        for language, script, voice in (("en", SCRIPT, "en-us"), ("es", SPANISH, "es")):
            (root / language).mkdir()
            clips[language] = make_audio(root / language, args.minutes, 0.0, script, voice)
        cases = [(f"en: {label}", "en", config) for label, config in MODELS]
        cases += [(f"es (identified): {label}", "es", {**config, "TranscribeLanguage": "auto"})
                  for label, config in MODELS if config["Model"] == "base"]  # fmt: skip
        for _, language, config in cases:  # warm-up: models loaded (and base joined) before timing
            h.run(transcribe_audio, {"Audio": clips[language][0]}, configuration=config)
        times: dict[str, list[float]] = {label: [] for label, _, _ in cases}
        transcripts: dict[str, dict[str, object]] = {}
        for _ in range(args.runs):
            for label, language, config in cases:
                began = time.perf_counter()
                run = h.run(transcribe_audio, {"Audio": clips[language][0]}, configuration=config)
                times[label].append(time.perf_counter() - began)
                transcripts[label] = run.results["TranscribeAudio"]["results"]
        for label, language, _ in cases:
            _, seconds, reference = clips[language]
            found = transcripts[label]
            text = found["transcripts"][0]["transcript"]  # type: ignore[index]
            median = statistics.median(times[label])
            error = wer(words(reference), words(str(text)))
            results[label] = {"audio_seconds": round(seconds, 1), "median_seconds": round(median, 2),
                              "x_realtime": round(seconds / median, 2), "wer": round(error, 3),
                              "language_code": found["language_code"]}  # fmt: skip
            print(f"{label:32} {seconds:5.0f} s in {median:5.1f} s = {seconds / median:5.2f}x real time; "
                  f"WER {error:5.1%}; language {found['language_code']}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
