"""The SDK's shared helpers: the media subprocess runner, model caches, missing-dependency errors, the media-type
vocabulary, and the CLI's one declaration of the connection options."""

from __future__ import annotations

import inspect
import sys
import threading
import time
from pathlib import Path

import pytest

from mie.cli.remote import FROM_OPTIONS, Remote, connected
from mie.operators import MissingDependencyError, OperatorError, require_module
from mie.operators.cache import Lazy, LazyMap
from mie.operators.media import (
    MediaProcess,
    ProbeFailedError,
    ffprobe_json,
    find_tool,
    last_line,
    progress_blocks,
    read_frames,
    read_lines,
    tail_lines,
)
from mie.types import OPERATOR_MEDIA_TYPES, MediaType


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_media_process_yields_output_and_keeps_the_log(tmp_path: Path) -> None:
    code = "import sys; print('frame=1'); print('progress=continue'); print('frame=2'); print('progress=end');"
    code += "sys.stderr.write('warning\\nthe /srv/data/in.mp4 is bad\\n')"
    with MediaProcess(_python(code), log_path=tmp_path / "log", check=lambda: None) as proc:
        blocks = list(proc.items(lambda s: progress_blocks(read_lines(s))))
        assert proc.wait() == 0
    assert blocks == [{"frame": "1", "progress": "continue"}, {"frame": "2", "progress": "end"}]
    assert tail_lines(proc.log(), 2) == ["warning", "the /srv/data/in.mp4 is bad"]
    assert last_line(proc.log()) == "the in.mp4 is bad"  # the server's folders are not shown
    assert last_line("", 3) == "exit code 3"


def test_media_process_reads_fixed_size_frames(tmp_path: Path) -> None:
    code = "import sys; sys.stdout.buffer.write(b'abcdefgh' * 3 + b'xy')"
    with MediaProcess(_python(code), log_path=tmp_path / "log", check=lambda: None) as proc:
        frames = list(proc.items(read_frames(8), buffer=2))
        proc.wait()
    assert frames == [b"abcdefgh"] * 3  # the short piece at the end is dropped


def test_check_stops_a_silent_process_and_it_is_killed(tmp_path: Path) -> None:
    class StopError(Exception):
        pass

    started = time.monotonic()
    calls: list[float] = []

    def check() -> None:
        calls.append(time.monotonic())
        if len(calls) >= 2:
            raise StopError

    with (
        pytest.raises(StopError),
        MediaProcess(_python("import time; time.sleep(60)"), log_path=tmp_path / "l", check=check) as proc,
    ):
        list(proc.items(read_lines))
    assert time.monotonic() - started < 10
    assert proc._process.poll() is not None  # killed when the block ended


def test_find_tool_names_what_to_install() -> None:
    with pytest.raises(MissingDependencyError, match="no-such-tool-x is not installed: apt-get install x") as caught:
        find_tool("no-such-tool-x", "apt-get install x")
    assert isinstance(caught.value, OperatorError)
    with pytest.raises(MissingDependencyError, match=r"^speech needs no-such-tool-x, which is not installed: y$"):
        find_tool("no-such-tool-x", "y", needed_by="speech")


def test_ffprobe_failures_say_why(tmp_path: Path) -> None:
    failing = tmp_path / "ffprobe"
    failing.write_text("#!/bin/sh\necho 'first' >&2\necho 'in.mp4: Invalid data found' >&2\nexit 1\n")
    failing.chmod(0o755)
    with pytest.raises(ProbeFailedError, match=r"^in\.mp4: Invalid data found$") as caught:
        ffprobe_json(str(failing), tmp_path / "in.mp4")
    assert caught.value.returncode == 1
    assert not caught.value.timed_out
    garbled = tmp_path / "garbled"
    garbled.write_text("#!/bin/sh\necho '{not json'\n")
    garbled.chmod(0o755)
    with pytest.raises(ProbeFailedError, match="unreadable output"):
        ffprobe_json(str(garbled), tmp_path / "in.mp4")
    slow = tmp_path / "slow"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(0o755)
    with pytest.raises(ProbeFailedError) as late:
        ffprobe_json(str(slow), tmp_path / "in.mp4", timeout=0.2)
    assert late.value.timed_out


def test_missing_dependency_messages() -> None:
    assert str(MissingDependencyError("yake", "pip install x", cause=ImportError("nope"))) == (
        "yake is not installed (nope): pip install x"
    )
    assert str(MissingDependencyError("Apertium", "apt-get install a", cause="no apertium command")) == (
        "Apertium is not installed (no apertium command): apt-get install a"
    )
    with pytest.raises(MissingDependencyError, match=r"^op needs the Python package 'no_such_mod_x', which is"):
        require_module("no_such_mod_x", "pip install x", needed_by="op")
    assert require_module("json", "-", needed_by="op").__name__ == "json"


def test_lazy_loads_once_even_when_asked_concurrently() -> None:
    loads: list[int] = []

    def load() -> str:
        time.sleep(0.05)
        loads.append(1)
        return "model"

    lazy = Lazy(load)
    threads = [threading.Thread(target=lazy.get) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert lazy.get() == "model"
    assert lazy.loads == 1
    assert loads == [1]
    assert lazy.loaded


def test_lazy_map_loads_each_key_once_and_retries_a_failed_load() -> None:
    models: LazyMap[str, int] = LazyMap()
    assert models.get("a", lambda: 1) == 1
    assert models.get("a", lambda: 2) == 1
    assert models.get("b", lambda: 3) == 3

    def broken() -> int:
        raise OperatorError("not installed")

    with pytest.raises(OperatorError):
        models.get("c", broken)
    assert "c" not in models
    assert models.get("c", lambda: 4) == 4


def test_media_type_values_are_mie_strings() -> None:
    assert [str(m) for m in MediaType] == ["Video", "Audio", "Image", "Text"]
    assert MediaType.VIDEO == "Video"
    assert {"Video": 1}[MediaType.VIDEO] == 1
    assert OPERATOR_MEDIA_TYPES == ("Video", "Audio", "Image", "Text", "MetadataOnly")


def test_connected_shows_typer_the_options_and_passes_one_remote() -> None:
    seen: list[Remote] = []

    @connected()
    def command(name: str, remote: Remote = FROM_OPTIONS) -> str:
        seen.append(remote)
        return name

    params = list(inspect.signature(command).parameters)
    assert params == ["name", "as_json", "url", "api_key", "data_dir"]
    assert command(name="x", as_json=True, url="http://h:1", api_key=None, data_dir=None) == "x"
    assert seen == [Remote(url="http://h:1", json=True)]

    @connected(json=False)
    def plain(remote: Remote = FROM_OPTIONS) -> None:
        seen.append(remote)

    assert list(inspect.signature(plain).parameters) == ["url", "api_key", "data_dir"]
    with pytest.raises(TypeError, match="last parameter"):
        connected()(lambda other: None)
