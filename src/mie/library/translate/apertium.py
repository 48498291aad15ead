"""Apertium, the offline rule-based translator behind ``Translate`` and ``TranslateWebCaptions``.

Apertium runs as subprocesses (the Debian ``apertium`` package: ``apertium``, ``apertium-destxt`` and
``apertium-retxt``); language pairs are whatever ``apertium-<l1>-<l2>`` data packages are installed.

How text is sent: ``apertium -f txt`` is ``apertium-destxt | <pair pipeline> | apertium-retxt``. We run the same
three steps ourselves (``apertium -f none`` is the bare pipeline) so that we can put *superblanks* into the
deformatted stream between them. A superblank (``[...]`` in the stream) is formatting to Apertium: it is carried
through untranslated and ``apertium-retxt`` writes its content back verbatim. That is how terminology targets and
translation-memory sentences pass through unchanged, and how caption boundaries survive. (Square brackets typed
into *plain text* do not do this: ``apertium-destxt`` escapes them and their content is translated.)
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mie.errors import OperatorError, OperatorTimeoutError
from mie.operators.dependencies import MissingDependencyError
from mie.resources.languages import Pair, parse_mode, to_639_3

# Pair and parse_mode are the language table's (mie.resources.languages), re-exported: the API names pairs too.
__all__ = [
    "INSTALL_HINT",
    "MODES_DIR",
    "Pair",
    "Piece",
    "apertium_tools",
    "clean",
    "find_pair",
    "installed_pairs",
    "parse_mode",
    "translate_units",
]

#: What to install when Apertium itself is missing.
INSTALL_HINT = "apt-get install apertium apertium-eng-spa"
#: Where Debian's language-pair packages put their modes.
MODES_DIR = Path("/usr/share/apertium/modes")

_CODE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{2,4}))?$")
#: Seconds the pair list is trusted before ``apertium -l`` is asked again (a package may be installed meanwhile).
_PAIRS_TTL = 60.0
# Private-use characters: cannot come from real text (they are stripped from the input first).
_PROTECT_OPEN = "\ue000"
_PROTECT_CLOSE = "\ue001"
_UNIT_SEP = "\ue002"
_PRIVATE = re.compile("[\ue000-\ue00f]")
_PLACEHOLDER = re.compile(f"{_PROTECT_OPEN}(\\d+){_PROTECT_CLOSE}")
_SPACES = re.compile(r"[ \t]{2,}")
_STREAM_SPECIAL = re.compile(r"([\\\[\]^$/@<>{}])")


@dataclass(frozen=True)
class Piece:
    """Part of a unit of text: translated, or (``protected``) passed through exactly as given."""

    text: str
    protected: bool = False


_cache_lock = threading.Lock()
_cache: tuple[float, list[Pair]] | None = None


def apertium_tools() -> dict[str, str]:
    """Paths of ``apertium``, ``apertium-destxt`` and ``apertium-retxt``, or an operator error saying what to
    install."""
    tools: dict[str, str] = {}
    for name in ("apertium", "apertium-destxt", "apertium-retxt"):
        found = shutil.which(name)
        if found is None:
            raise MissingDependencyError("Apertium", INSTALL_HINT, cause=f"no {name} command")
        tools[name] = found
    return tools


def installed_pairs(*, refresh: bool = False) -> list[Pair]:
    """The translation directions Apertium has installed (``apertium -l``; the modes folder as a fallback)."""
    global _cache
    with _cache_lock:
        if not refresh and _cache is not None and time.monotonic() - _cache[0] < _PAIRS_TTL:
            return list(_cache[1])
    binary = apertium_tools()["apertium"]
    names: list[str] = []
    try:
        names = _run([binary, "-l"], b"", 30.0).decode("utf-8", "replace").split()
    except OperatorError:
        names = []
    if not names and MODES_DIR.is_dir():
        names = [path.stem for path in MODES_DIR.glob("*.mode")]
    pairs = sorted({pair for pair in map(parse_mode, names) if pair is not None}, key=lambda p: p.mode)
    with _cache_lock:
        _cache = (time.monotonic(), pairs)
    return list(pairs)


def _split_code(code: str) -> tuple[str, str | None]:
    match = _CODE.match(code.strip()) if isinstance(code, str) else None
    if match is None:
        raise OperatorError(f"{code!r} is not a language code (use ISO 639-1 codes such as 'en', 'es' or 'en-US')")
    base = match.group(1).lower()
    return to_639_3(base), match.group(2)


def find_pair(source: str, target: str, pairs: Sequence[Pair] | None = None) -> Pair:
    """The installed mode translating ``source`` into ``target`` (ISO 639-1 codes, e.g. ``en``/``es``; a target
    region such as ``en-US`` picks a variant mode when one is installed). An operator error naming the installed
    pairs and the Debian package to install when there is none."""
    available = list(pairs) if pairs is not None else installed_pairs()
    src, _src_region = _split_code(source)
    tgt, tgt_region = _split_code(target)
    if src == tgt:
        raise OperatorError(f"the source and target languages are the same ({source!r} and {target!r})")
    plain: Pair | None = None
    for pair in available:
        if pair.source == src and pair.target == tgt:
            if tgt_region is not None and pair.variant is not None and pair.variant.lower() == tgt_region.lower():
                return pair
            if pair.variant is None:
                plain = pair
    if plain is not None:
        return plain
    have = ", ".join(f"{p.source_code}->{p.target_code} ({p.mode})" for p in available) or "none"
    raise OperatorError(
        f"no Apertium language pair translates {source!r} into {target!r} (mode {src}-{tgt}); installed pairs: "
        f"{have}. Install the pair's Debian package: apt-get install apertium-{src}-{tgt} "
        f"(some are named apertium-{tgt}-{src})"
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # The pipeline is byte-oriented but its tools read the locale for character classes.
    env["LC_ALL"] = "C.UTF-8"
    return env


def _escape_superblank(text: str) -> str:
    return _STREAM_SPECIAL.sub(r"\\\1", text)


def _run(args: list[str], data: bytes, timeout: float) -> bytes:
    # Its own session, so a timeout kills the whole pipeline the apertium script starts, not just the shell.
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            start_new_session=True,
        )
    except OSError as exc:
        raise OperatorError(f"cannot run {args[0]}: {exc}; {INSTALL_HINT}") from exc
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise OperatorTimeoutError(f"Apertium ({Path(args[0]).name}) took longer than {timeout:.0f} s") from exc
    except BaseException:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    if proc.returncode != 0:
        message = err.decode("utf-8", "replace").strip()[-500:]
        raise OperatorError(f"{Path(args[0]).name} failed (exit {proc.returncode}): {message}")
    return out


def clean(text: str) -> str:
    """Text with the private-use characters this module uses as markers removed."""
    return _PRIVATE.sub("", text)


def translate_units(units: Sequence[Sequence[Piece]], pair: Pair, *, timeout: float = 120.0) -> list[str]:
    """Translate ``units`` (each a list of pieces) with one Apertium run; one output string per unit.

    Units are separated by superblanks, so Apertium sees them as one running text (context across caption
    boundaries helps the grammar); if a separator goes missing the units are translated one by one.
    """
    if not units:
        return []
    tools = apertium_tools()
    protected: list[str] = []
    parts: list[str] = []
    for unit in units:
        pieces: list[str] = []
        for piece in unit:
            if piece.protected:
                pieces.append(f"{_PROTECT_OPEN}{len(protected)}{_PROTECT_CLOSE}")
                protected.append(clean(piece.text))
            else:
                pieces.append(clean(piece.text))
        parts.append("".join(pieces))
    deadline = time.monotonic() + timeout
    stream = _run([tools["apertium-destxt"]], _UNIT_SEP.join(parts).encode(), timeout).decode("utf-8", "replace")
    stream = _PLACEHOLDER.sub(lambda m: f"[{_escape_superblank(protected[int(m.group(1))])}]", stream)
    stream = stream.replace(_UNIT_SEP, f"[{_UNIT_SEP}]")
    remaining = max(1.0, deadline - time.monotonic())
    translated = _run([tools["apertium"], "-u", "-f", "none", pair.mode], stream.encode(), remaining)
    remaining = max(1.0, deadline - time.monotonic())
    text = _run([tools["apertium-retxt"]], translated, remaining).decode("utf-8", "replace")
    outputs = text.split(_UNIT_SEP)
    if len(outputs) != len(units):
        if len(units) == 1:
            return [_tidy(text.replace(_UNIT_SEP, " "))]
        per_unit = max(1.0, (deadline - time.monotonic()) / len(units))
        return [translate_units([unit], pair, timeout=per_unit)[0] for unit in units]
    return [_tidy(out) for out in outputs]


def _tidy(text: str) -> str:
    # Apertium leaves a double space where it drops a word (e.g. a subject pronoun in Spanish).
    return _SPACES.sub(" ", text).strip()
