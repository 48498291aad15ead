"""The local object store under concurrency: folders are created on demand and pruned when empty, by many writers."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mie.errors import InvalidError, NotFoundError, TooLargeError
from mie.storage.objects import STAGING, LocalObjectStore

BUCKET = "b"
THREADS = 16
SECONDS = 1.0


def _hammer(workers: list[Callable[[int, int], None]], seconds: float = SECONDS) -> list[BaseException]:
    """Run each ``worker(thread, round)`` in its own thread, in rounds, until time is up; the errors they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))
    deadline = time.monotonic() + seconds

    def run(index: int, worker: Callable[[int, int], None]) -> None:
        start.wait()
        n = 0
        while time.monotonic() < deadline and not errors:
            try:
                worker(index, n)
            except BaseException as exc:
                errors.append(exc)
                return
            n += 1

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return errors


def _leftovers(root: Path) -> list[str]:
    """Files and folders left in the bucket (the bucket's own folder may stay)."""
    return sorted(p.relative_to(root).as_posix() for p in (root / BUCKET).rglob("*"))


def test_puts_deletes_and_moves_under_shared_prefixes_never_fail(tmp_path: Path) -> None:
    """Writers racing with the pruning of the folders they write into (the old FileNotFoundError -> HTTP 500)."""
    store = LocalObjectStore(tmp_path)

    def put_then_delete(t: int, n: int) -> None:
        # Deep shared folders: each delete prunes the whole chain when it empties it.
        key = f"private/assets/shared{n % 2}/workflows/w/{t}-{n}.json"
        data = f"{t}:{n}".encode()
        if n % 2:
            store.put_bytes(BUCKET, key, data)
        else:
            assert store.put_stream(BUCKET, key, io.BytesIO(data)) == len(data)
        assert store.get_bytes(BUCKET, key) == data
        assert store.delete(BUCKET, key)

    def upload_then_move(t: int, n: int) -> None:
        src, dst = f"uploads/shared/{t}-{n}", f"private/assets/shared{n % 2}/input/{t}-{n}"
        store.put_bytes(BUCKET, src, b"media")
        store.move(BUCKET, src, BUCKET, dst)
        assert store.get_bytes(BUCKET, dst) == b"media"
        assert not store.exists(BUCKET, src)
        assert store.delete(BUCKET, dst)

    workers = [put_then_delete if i % 2 else upload_then_move for i in range(THREADS)]
    errors = _hammer(workers)
    assert not errors, repr(errors[0])
    assert _leftovers(tmp_path) == [], "every object was deleted, so every folder must be pruned"
    assert list((tmp_path / STAGING).iterdir()) == []


def test_puts_racing_with_delete_prefix_never_fail(tmp_path: Path) -> None:
    """delete_prefix walks and prunes folders while writers fill them; neither side may fail."""
    store = LocalObjectStore(tmp_path)
    kept: dict[str, bytes] = {}
    lock = threading.Lock()

    def writer(t: int, n: int) -> None:
        store.put_bytes(BUCKET, f"private/assets/doomed/{t}/{n}.bin", b"x" * 100)
        key = f"private/assets/kept/{t}/{n}.bin"  # beside the deleted prefix, under the same parents
        store.put_bytes(BUCKET, key, str(n).encode())
        with lock:
            kept[key] = str(n).encode()

    def deleter(_t: int, _n: int) -> None:
        for key in store.delete_prefix(BUCKET, "private/assets/doomed/"):
            assert key.startswith("private/assets/doomed/")
            assert not key.rsplit("/", 1)[-1].startswith(".")  # never a writer's half-written file

    errors = _hammer([deleter, deleter] + [writer] * (THREADS - 2))
    assert not errors, repr(errors[0])
    assert kept
    for key, data in kept.items():
        assert store.get_bytes(BUCKET, key) == data
    store.delete_prefix(BUCKET, "private/")
    assert _leftovers(tmp_path) == []


def test_move_of_a_vanished_object_is_not_found(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    store.put_bytes(BUCKET, "a/k", b"1")
    moved = threading.Barrier(2)
    outcomes: list[str] = []

    def move(dst: str) -> None:
        moved.wait()
        try:
            store.move(BUCKET, "a/k", BUCKET, dst)
            outcomes.append("moved")
        except NotFoundError:
            outcomes.append("not found")

    threads = [threading.Thread(target=move, args=(d,)) for d in ("x/one", "y/two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["moved", "not found"]
    assert store.exists(BUCKET, "x/one") + store.exists(BUCKET, "y/two") == 1
    with pytest.raises(NotFoundError):
        store.move(BUCKET, "a/k", BUCKET, "z")
    with pytest.raises(NotFoundError):
        store.get_bytes(BUCKET, "a/k")


def test_failed_put_leaves_nothing_behind(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    with pytest.raises(TooLargeError):
        store.put_stream(BUCKET, "big/file", io.BytesIO(b"x" * 10), max_bytes=5)
    assert not store.exists(BUCKET, "big/file")
    assert _leftovers(tmp_path) == []
    assert list((tmp_path / STAGING).iterdir()) == []


@pytest.mark.parametrize("bucket", [STAGING, ".hidden", ".", ".."])
def test_buckets_cannot_start_with_a_dot(tmp_path: Path, bucket: str) -> None:
    store = LocalObjectStore(tmp_path)
    with pytest.raises(InvalidError):
        store.put_bytes(bucket, "k", b"1")


def test_list_keys_lists_complete_objects_under_a_prefix(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    for key in ("service/a/one.json", "service/a/two.json", "service/b/three.json", "servicex/four.json"):
        store.put_bytes("bucket", key, b"{}")
    assert store.list_keys("bucket", "service/a/") == ["service/a/one.json", "service/a/two.json"]
    assert store.list_keys("bucket", "service/") == ["service/a/one.json", "service/a/two.json", "service/b/three.json"]
    assert store.list_keys("bucket", "service") == [*store.list_keys("bucket", "service/"), "servicex/four.json"]
    assert store.list_keys("bucket", "nothing/") == []
    with pytest.raises(InvalidError):
        store.list_keys("bucket", "../escape/")
