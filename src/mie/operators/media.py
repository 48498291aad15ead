"""ffmpeg and ffprobe, once for every user: the media operators (``mie.library.media``) and the transcode jobs
(``mie.jobs``).

- :func:`find_tool` finds ``ffmpeg``/``ffprobe`` or raises a :class:`~mie.operators.dependencies.MissingDependencyError`
  that says what to install;
- :func:`ffprobe_json` runs ffprobe on a file (headers only, with a time limit);
- :class:`MediaProcess` runs one ffmpeg command whose standard output is read as items (``-progress`` lines,
  raw frames) on a reader thread, so the caller can check, between items and while none arrive, that the work
  should go on (cancellation, time limit, stall: :class:`Watchdog`), and kills it however the block ends;
- :func:`last_line` / :func:`tail_lines` pick the useful end of ffmpeg's log for an error message.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, TypeVar

from mie.errors import OperatorError, OperatorTimeoutError
from mie.operators.dependencies import MissingDependencyError
from mie.types import JSONDict

if TYPE_CHECKING:
    from mie.operators.context import OperatorContext

#: How to get ffmpeg and ffprobe (one Debian package has both).
INSTALL_FFMPEG = "install the Debian package ffmpeg (apt-get install ffmpeg; scripts/setup.sh does)"
#: Seconds ffprobe may take on one file (it reads headers only; a healthy file takes well under a second).
PROBE_TIMEOUT = 60.0
#: Seconds without any sign of progress after which an ffmpeg command is considered hung and killed.
STALL_TIMEOUT = 120.0
#: Seconds between checks while ffmpeg gives no output.
POLL = 0.25
_FOLDERS = re.compile(r"(?<![\w.])/(?:[^/\s:'\"]+/)+")

Item = TypeVar("Item")


def find_tool(name: str, install: str = INSTALL_FFMPEG, *, needed_by: str = "") -> str:
    """The path of the command ``name`` (``ffmpeg``, ``ffprobe``, ``espeak-ng``..., or a path), or a
    MissingDependencyError saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise MissingDependencyError(name, install, needed_by=needed_by)
    return path


class ProbeFailedError(Exception):
    """ffprobe could not describe a file. The message is ffprobe's own last error line (or what went wrong);
    ``stderr``, ``returncode`` and ``timed_out`` let a caller word its own."""

    def __init__(self, message: str, *, stderr: str = "", returncode: int | None = None, timed_out: bool = False):
        super().__init__(message)
        self.stderr = stderr
        self.returncode = returncode
        self.timed_out = timed_out


def ffprobe_json(tool: str, path: Path, timeout: float = PROBE_TIMEOUT) -> JSONDict:
    """ffprobe's JSON (``streams`` and ``format``) for ``path``; :class:`ProbeFailedError` when it cannot."""
    command = [tool, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ProbeFailedError(f"ffprobe could not run: {exc}", timed_out=True) from exc
    except OSError as exc:
        raise ProbeFailedError(f"ffprobe could not run: {exc}") from exc
    stderr = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        lines = tail_lines(stderr, 1)
        message = lines[-1] if lines else f"ffprobe exited with {done.returncode}"
        raise ProbeFailedError(message, stderr=stderr, returncode=done.returncode)
    try:
        data = json.loads(done.stdout or b"{}")
    except ValueError as exc:
        raise ProbeFailedError(f"ffprobe gave unreadable output for {path.name}") from exc
    return data if isinstance(data, dict) else {}


def tail_lines(text: str, count: int) -> list[str]:
    """The last ``count`` non-empty lines of ``text``, stripped."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-count:]


def last_line(stderr: str, returncode: int | None = None) -> str:
    """The most useful line of an ffmpeg/ffprobe error output (its last non-empty line), with folders removed
    from file paths (they are the server's, not the user's)."""
    lines = tail_lines(stderr, 1)
    if lines:
        return _FOLDERS.sub("", lines[-1])[:300]
    return f"exit code {returncode}" if returncode is not None else "no error message"


# Reading ffmpeg's standard output ----------------------------------------------------------------------------


def read_lines(stream: IO[bytes]) -> Iterator[str]:
    """Text lines (``-progress pipe:1`` writes ``key=value`` lines)."""
    for raw in stream:
        yield raw.decode(errors="replace")


def read_frames(size: int) -> Callable[[IO[bytes]], Iterator[bytes]]:
    """A reader of raw frames of ``size`` bytes (``-f rawvideo pipe:1``); a short last piece is dropped."""

    def frames(stream: IO[bytes]) -> Iterator[bytes]:
        while True:
            data = stream.read(size)
            if not data or len(data) < size:
                return
            yield data

    return frames


def progress_blocks(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """``-progress`` output as one ``{key: value}`` per report (each report ends with a ``progress=`` line)."""
    block: dict[str, str] = {}
    for line in lines:
        key, _, value = line.strip().partition("=")
        block[key] = value
        if key == "progress":
            yield block
            block = {}


class MediaProcess:
    """One ffmpeg (or ffprobe) command, its standard error in ``log_path`` and its standard output read as items.

    Use it as a context manager: the process is killed when the block ends, however it ends. ``check`` is called
    every :data:`POLL` seconds while the process gives no output, and while waiting for it to exit; it stops the
    work by raising (cancellation, time limit, stall), which ends the block and so kills the process.
    """

    def __init__(self, command: Sequence[str], *, log_path: Path, check: Callable[[], None]) -> None:
        self.command = list(command)
        self.log_path = log_path
        self.check = check
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MediaProcess:
        with self.log_path.open("wb") as log:  # the child has its own descriptor; ours is not needed
            self._proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        proc = self._process
        if proc.poll() is None:
            proc.kill()
        with suppress(subprocess.TimeoutExpired):  # a process that ignores SIGKILL: nothing more to do
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    @property
    def _process(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError("MediaProcess is used outside its with block")
        return self._proc

    def items(self, read: Callable[[IO[bytes]], Iterable[Item]], *, buffer: int = 0) -> Iterator[Item]:
        """The items ``read`` makes of the standard output, as they come (at most ``buffer`` read ahead; 0: no
        limit). A reader thread does the blocking reads, so ``check`` runs even while ffmpeg is silent."""
        stdout = self._process.stdout
        assert stdout is not None
        found: queue.Queue[tuple[Item] | None] = queue.Queue(maxsize=buffer)
        reader = threading.Thread(target=_pump, args=(read, stdout, found.put), daemon=True)
        reader.start()
        while True:
            try:
                item = found.get(timeout=POLL)
            except queue.Empty:
                self.check()
                continue
            if item is None:
                return
            yield item[0]

    def wait(self) -> int:
        """Wait for the process to exit (after its output closed it is finishing its files); its exit code."""
        while True:
            try:
                return self._process.wait(timeout=POLL)
            except subprocess.TimeoutExpired:
                self.check()

    def log(self) -> str:
        """What the process wrote to its standard error so far."""
        return self.log_path.read_text(errors="replace")


def _pump(read: Callable[[IO[bytes]], Iterable[Any]], stream: IO[bytes], put: Callable[[Any], None]) -> None:
    try:
        for item in read(stream):
            put((item,))
    except (OSError, ValueError):  # the stream was closed because the process was killed
        pass
    finally:
        put(None)


# Operators ----------------------------------------------------------------------------------------------------


class Watchdog:
    """Checks, between units of work, that an operator's subprocess should go on: not cancelled, not out of time,
    not stalled (no sign of progress for ``stall`` seconds)."""

    def __init__(self, ctx: OperatorContext, what: str, *, stall: float = STALL_TIMEOUT) -> None:
        self.ctx = ctx
        self.what = what
        self.stall = stall
        self.last_sign = time.monotonic()

    def alive(self) -> None:
        """Note a sign of progress."""
        self.last_sign = time.monotonic()

    def check(self) -> None:
        """Raise when the work must stop (a :class:`MediaProcess` block then kills the subprocess)."""
        self.ctx.check_cancelled()
        remaining = self.ctx.remaining_seconds
        if remaining is not None and remaining <= 0:
            raise OperatorTimeoutError(f"{self.what}: ran out of time")
        if time.monotonic() - self.last_sign > self.stall:
            raise OperatorError(
                f"{self.what}: ffmpeg made no progress for {self.stall:g} s (damaged or unreadable input)"
            )
