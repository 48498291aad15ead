"""``mie.storage.objects.local_file``: the one "object -> local file" (operators, text sources, transcode runner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mie.errors import InvalidError
from mie.storage.objects import LocalObjectStore, local_file


class RemoteLike(LocalObjectStore):
    """A store that keeps no local files (as S3 would): every read goes through ``read_range``."""

    def local_path(self, bucket: str, key: str) -> Path | None:
        return None


def test_a_local_store_is_read_in_place_and_the_folder_is_never_made(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.put_bytes("b", "in/clip.mp4", b"video")
    made: list[Path] = []

    def folder() -> Path:
        made.append(tmp_path / "scratch")
        return made[-1]

    path = local_file(store, "b", "in/clip.mp4", folder)
    assert path == store.local_path("b", "in/clip.mp4")
    assert made == []


def test_a_store_without_files_is_downloaded_into_the_folder(tmp_path: Path) -> None:
    store = RemoteLike(tmp_path / "objects")
    data = bytes(range(256)) * 5000  # more than one read_range chunk
    store.put_bytes("b", "in/deep/clip.mp4", data)
    path = local_file(store, "b", "in/deep/clip.mp4", tmp_path / "scratch" / "input")
    assert path == tmp_path / "scratch" / "input" / "clip.mp4"
    assert path.read_bytes() == data


def test_an_empty_object_becomes_an_empty_file(tmp_path: Path) -> None:
    store = RemoteLike(tmp_path / "objects")
    store.put_bytes("b", "empty.txt", b"")
    path = local_file(store, "b", "empty.txt", lambda: tmp_path / "scratch")
    assert path is not None
    assert path.read_bytes() == b""


def test_a_missing_object_is_none_and_a_bad_key_is_invalid(tmp_path: Path) -> None:
    store = RemoteLike(tmp_path / "objects")
    assert local_file(store, "b", "nothing.mp4", tmp_path / "scratch") is None
    assert not (tmp_path / "scratch").exists()
    with pytest.raises(InvalidError):
        local_file(store, "b", "../escape", tmp_path / "scratch")
