"""Object storage: the ``ObjectStore`` interface and the local-folder implementation (one folder per bucket).

Keys are validated so that no key can escape its bucket: ``..`` segments, absolute keys, backslashes and NUL
bytes are refused with a 400.

Concurrency: folders are created on demand and pruned when they become empty (S3 has no folders), by any number
of threads or processes at once. A writer therefore stages its bytes outside the buckets and retries "make the
parent folder, rename into it" when a concurrent prune removed the folder in between; pruning only ever removes
empty folders and ignores folders that are gone or no longer empty.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from mie.errors import ConflictError, InvalidError, NotFoundError

_CHUNK = 1024 * 1024
#: Folder under the store's root where objects are written before being renamed into place (not a valid bucket).
STAGING = ".staging"
#: How often a rename is retried when a concurrent prune removed its target folder.
_RENAME_ATTEMPTS = 100


#: Longest path segment (bytes of UTF-8) a file system holds: a longer one could be signed but never stored.
MAX_SEGMENT_BYTES = 255


def _bad_characters(text: str) -> str | None:
    """Why ``text`` cannot name a bucket or key: control characters or lone surrogates; ``None`` when fine.

    Control characters are refused because names end up in signed strings, log lines, HTTP headers and file
    names, where a newline or NUL changes their meaning.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return "control characters (such as newlines) are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode (a lone UTF-16 surrogate)"
    return None


def check_bucket(bucket: str) -> str:
    """Validate an S3-style bucket name."""
    if (
        not isinstance(bucket, str)
        or not bucket
        or len(bucket) > 255
        or "/" in bucket
        or "\\" in bucket
        or bucket.startswith(".")  # as S3; also keeps the staging folder out of reach
    ):
        raise InvalidError(f"invalid bucket name {bucket!r}")
    problem = _bad_characters(bucket)
    if problem is None and len(bucket.encode()) > MAX_SEGMENT_BYTES:
        problem = f"it is longer than {MAX_SEGMENT_BYTES} bytes"
    if problem is not None:
        raise InvalidError(f"invalid bucket name {bucket!r}: {problem}")
    return bucket


def check_key(key: str) -> str:
    """Validate an object key: relative, no ``..`` segment, no backslash, control character or surrogate, and no
    segment longer than a file name can be."""
    if not isinstance(key, str) or not key:
        raise InvalidError("an object key must be a non-empty string")
    if len(key) > 1024:
        raise InvalidError("an object key must be at most 1024 characters")
    problem = _bad_characters(key)
    if problem is not None:
        raise InvalidError(f"invalid object key {key!r}: {problem}")
    if key.startswith("/") or "\\" in key:
        raise InvalidError(f"invalid object key {key!r}: keys are relative and use '/'")
    parts = key.split("/")
    if any(part in {"..", "."} for part in parts):
        raise InvalidError(f"invalid object key {key!r}: '.' and '..' segments are not allowed")
    if any(len(part.encode()) > MAX_SEGMENT_BYTES for part in parts):
        raise InvalidError(
            f"invalid object key {key!r}: each '/'-separated part can be at most {MAX_SEGMENT_BYTES} bytes "
            "(a file name on the local store)"
        )
    return key


class ObjectStore(Protocol):
    """Where media and result objects live, addressed as ``(bucket, key)`` like S3."""

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        """Write an object whole (atomically: readers see the old or the new object)."""

    def put_stream(self, bucket: str, key: str, stream: BinaryIO, *, max_bytes: int | None = None) -> int:
        """Write an object from a stream; returns its size; raises ``TooLargeError`` past ``max_bytes``."""

    def put_bytes_if_absent(self, bucket: str, key: str, data: bytes) -> bool:
        """Create an object only if no object has that key (S3's ``If-None-Match: *``); whether it was created.

        Atomic across threads, processes and servers sharing the store: of concurrent creators exactly one wins.
        """

    def get_bytes(self, bucket: str, key: str) -> bytes:
        """Read an object whole; ``NotFoundError`` when absent."""

    def exists(self, bucket: str, key: str) -> bool:
        """Whether the object exists."""

    def size(self, bucket: str, key: str) -> int:
        """The object's size in bytes; ``NotFoundError`` when absent."""

    def read_range(self, bucket: str, key: str, start: int, end: int) -> Iterator[bytes]:
        """Stream bytes ``start..end`` (inclusive) of an object."""

    def move(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        """Move an object (a rename when both are local)."""

    def delete(self, bucket: str, key: str) -> bool:
        """Delete one object; returns whether it existed."""

    def delete_prefix(self, bucket: str, prefix: str) -> list[str]:
        """Delete every object whose key starts with ``prefix``; returns their keys."""

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        """Keys of the objects whose key starts with ``prefix``, sorted."""

    def local_path(self, bucket: str, key: str) -> Path | None:
        """The object's file when the store is a local folder, else ``None``."""


def local_file(store: ObjectStore, bucket: str, key: str, folder: Path | Callable[[], Path]) -> Path | None:
    """The object as a local file: the store's own file when it keeps one (a local folder, read in place), else a
    copy downloaded to ``folder/<the key's file name>`` (``folder`` may be a function making the folder: it is
    called only when a download is needed). ``None`` when the object does not exist.

    The one copy of "object -> local file": operators get it through their data-plane client
    (:meth:`mie.operators.dataplane.DataPlaneClient.local_file`), the transcode runner calls it directly.
    Raises ``InvalidError`` for a malformed bucket or key.
    """
    path = store.local_path(bucket, key)
    if path is not None and path.is_file():
        return path
    if not store.exists(bucket, key):
        return None
    target = (folder if isinstance(folder, Path) else folder()) / Path(key).name
    target.parent.mkdir(parents=True, exist_ok=True)
    size = store.size(bucket, key)
    with target.open("wb") as fh:
        if size > 0:
            for chunk in store.read_range(bucket, key, 0, size - 1):
                fh.write(chunk)
    return target


class LocalObjectStore:
    """Objects as files under ``root/<bucket>/<key>``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.staging = self.root / STAGING
        self.staging.mkdir(exist_ok=True)
        # Left by writers that died; other processes may be writing now, so only old files go.
        stale = time.time() - 86400
        for leftover in self.staging.iterdir():
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < stale:
                    leftover.unlink()

    def _path(self, bucket: str, key: str) -> Path:
        path = self.root / check_bucket(bucket) / check_key(key)
        # Belt and braces: after the checks above this cannot fail, unless a symlink points outside.
        if not path.resolve().is_relative_to(self.root):
            raise InvalidError(f"object key {key!r} escapes its bucket")
        return path

    def local_path(self, bucket: str, key: str) -> Path | None:
        return self._path(bucket, key)

    @staticmethod
    def _missing(bucket: str, key: str) -> NotFoundError:
        return NotFoundError(f"object s3://{bucket}/{key} does not exist")

    def _existing(self, bucket: str, key: str) -> Path:
        path = self._path(bucket, key)
        if not path.is_file():
            raise self._missing(bucket, key)
        return path

    @classmethod
    def _makedirs(cls, folder: Path) -> None:
        """``mkdir -p`` that tolerates concurrent pruning.

        ``Path.mkdir(parents=True, exist_ok=True)`` does not: when ``mkdir`` fails with EEXIST and the folder is
        pruned before its ``is_dir()`` check, it raises ``FileExistsError``. A file where a folder should be is
        not reported here; the rename into it fails with ``NotADirectoryError``.
        """
        try:
            os.mkdir(folder)
        except FileExistsError:
            return
        except FileNotFoundError:
            if folder.parent == folder:
                raise
            cls._makedirs(folder.parent)
            with contextlib.suppress(FileExistsError):
                os.mkdir(folder)  # FileNotFoundError again (pruned again): the caller retries

    @classmethod
    def _rename_into(cls, src: Path, dst: Path, *, exclusive: bool = False) -> bool:
        """Rename ``src`` to ``dst``, (re)creating ``dst``'s folders as often as a concurrent prune removes them.

        ``exclusive``: hard-link instead, which fails when ``dst`` exists (the create-if-absent of
        :meth:`put_bytes_if_absent`; atomic on every POSIX file system that has hard links, NFS included); returns
        False then, and the caller removes ``src``. ``FileNotFoundError``
        escapes only when ``src`` itself is gone.
        """
        for attempt in range(_RENAME_ATTEMPTS):
            try:
                cls._makedirs(dst.parent)
                if exclusive:
                    os.link(src, dst)
                else:
                    os.replace(src, dst)
            except FileExistsError:
                if not exclusive or dst.is_dir():
                    raise cls._folder_conflict(dst) from None
                return False
            except (NotADirectoryError, IsADirectoryError) as exc:
                raise cls._folder_conflict(dst) from exc
            except FileNotFoundError:
                if not src.exists() or attempt == _RENAME_ATTEMPTS - 1:
                    raise
            else:
                return True
        raise AssertionError("not reached: the last attempt returns or raises")

    @staticmethod
    def _folder_conflict(dst: Path) -> ConflictError:
        # S3 holds both ``a`` and ``a/b``; a folder of files cannot: one of them would be a file and a folder.
        return ConflictError(
            f"{dst.name!r} cannot be stored: on the local object store a key cannot also be the folder of "
            "other keys (like 'a' and 'a/b'); an object or a prefix of that name exists"
        )

    def _write(
        self, bucket: str, key: str, stream: BinaryIO, max_bytes: int | None, *, exclusive: bool = False
    ) -> tuple[int, bool]:
        """Stage the bytes, then move them into place: ``(size, whether the object was written)``."""
        from mie.errors import TooLargeError

        path = self._path(bucket, key)
        # Staged outside the bucket: a half-written object is never visible, and never deleted by delete_prefix.
        self.staging.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.staging, prefix="put-")
        total = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                while chunk := stream.read(_CHUNK):
                    total += len(chunk)
                    if max_bytes is not None and total > max_bytes:
                        raise TooLargeError(f"object is larger than the limit of {max_bytes} bytes")
                    fh.write(chunk)
            written = self._rename_into(Path(tmp), path, exclusive=exclusive)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if exclusive:  # a hard link leaves the staged name behind
            Path(tmp).unlink(missing_ok=True)
        return total, written

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        self._write(bucket, key, io.BytesIO(data), None)

    def put_stream(self, bucket: str, key: str, stream: BinaryIO, *, max_bytes: int | None = None) -> int:
        return self._write(bucket, key, stream, max_bytes)[0]

    def put_bytes_if_absent(self, bucket: str, key: str, data: bytes) -> bool:
        return self._write(bucket, key, io.BytesIO(data), None, exclusive=True)[1]

    def get_bytes(self, bucket: str, key: str) -> bytes:
        try:
            return self._existing(bucket, key).read_bytes()
        except FileNotFoundError as exc:  # deleted since the check
            raise self._missing(bucket, key) from exc

    def exists(self, bucket: str, key: str) -> bool:
        return self._path(bucket, key).is_file()

    def size(self, bucket: str, key: str) -> int:
        try:
            return self._existing(bucket, key).stat().st_size
        except FileNotFoundError as exc:
            raise self._missing(bucket, key) from exc

    def read_range(self, bucket: str, key: str, start: int, end: int) -> Iterator[bytes]:
        path = self._existing(bucket, key)
        try:
            fh = path.open("rb")
        except FileNotFoundError as exc:
            raise self._missing(bucket, key) from exc
        with fh:
            fh.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = fh.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk

    def move(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        src = self._existing(src_bucket, src_key)
        dst = self._path(dst_bucket, dst_key)
        try:
            self._rename_into(src, dst)
        except FileNotFoundError as exc:  # moved or deleted by someone else meanwhile
            raise self._missing(src_bucket, src_key) from exc
        self._prune(src.parent, self.root / src_bucket)

    def delete(self, bucket: str, key: str) -> bool:
        path = self._path(bucket, key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        self._prune(path.parent, self.root / bucket)
        return True

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        base = self.root / check_bucket(bucket)
        if prefix:
            check_key(prefix.rstrip("/") or "x")
        folder = base / prefix if not prefix or prefix.endswith("/") else (base / prefix).parent
        if not folder.is_dir():
            return []
        keys = []
        # Writes are staged outside the bucket and renamed in, so every file found is a complete object.
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                key = (Path(dirpath) / name).relative_to(base).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete_prefix(self, bucket: str, prefix: str) -> list[str]:
        base = self.root / check_bucket(bucket)
        check_key(prefix.rstrip("/") or "x")
        deleted: list[str] = []
        folder = base / prefix if prefix.endswith("/") else (base / prefix).parent
        if not folder.is_dir():
            return deleted
        folders: list[Path] = []
        # os.walk skips folders that vanish under it (a concurrent delete); Path.rglob would raise.
        for dirpath, _dirs, files in os.walk(folder):
            here = Path(dirpath)
            folders.append(here)
            for name in files:
                path = here / name
                key = path.relative_to(base).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    path.unlink()
                except FileNotFoundError:  # deleted or moved concurrently: not ours to report
                    continue
                deleted.append(key)
        for path in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            if path != folder:  # the folder itself, and its parents, are pruned below
                self._rmdir(path)
        self._prune(folder, base)
        return sorted(deleted)

    @staticmethod
    def _rmdir(folder: Path) -> bool:
        """Remove ``folder`` if it is empty; whether it is gone now. A folder a writer just filled is left alone."""
        try:
            folder.rmdir()
        except FileNotFoundError:  # pruned by someone else
            return True
        except OSError:  # ENOTEMPTY/EEXIST: in use again
            return False
        return True

    @classmethod
    def _prune(cls, folder: Path, stop: Path) -> None:
        """Remove empty parent folders up to the bucket, as S3 has no folders.

        Safe against concurrent writers: they re-create a folder pruned under them (see ``_rename_into``).
        """
        while folder != stop and folder.is_relative_to(stop) and cls._rmdir(folder):
            folder = folder.parent
