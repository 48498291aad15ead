"""``mie run``'s input handling: folders walked for media files, display names of files."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
import typer
from PIL import Image
from skimage import data

from mie.cli.run import expand, labels_of


def make_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * 8000)
    return path


def test_a_folder_is_walked_for_media_files_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".thumbs").mkdir()
    Image.fromarray(data.coffee()).save(tmp_path / "coffee.jpg")
    Image.fromarray(data.chelsea()).save(tmp_path / "sub" / "cat", format="PNG")  # no extension: found by bytes
    Image.fromarray(data.chelsea()).save(tmp_path / ".thumbs" / "cat.png")
    make_wav(tmp_path / "sub" / "tone.wav")
    (tmp_path / "readme.txt").write_text("notes, not media")
    (tmp_path / "data.bin").write_bytes(b"\x00" * 64)
    found = expand([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["coffee.jpg", "sub/cat", "sub/tone.wav"]
    # A file named directly is taken as it is (mie run decides its type, text included), once.
    assert expand([tmp_path / "readme.txt", tmp_path / "readme.txt"]) == [tmp_path / "readme.txt"]


def test_a_folder_without_media_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("notes")
    with pytest.raises(typer.BadParameter, match="no image, video or audio"):
        expand([tmp_path])


def test_files_sharing_a_name_are_shown_by_path() -> None:
    paths = [Path("a/clip.mp4"), Path("b/clip.mp4"), Path("b/other.mp4")]
    assert labels_of(paths) == ["a/clip.mp4", "b/clip.mp4", "other.mp4"]
