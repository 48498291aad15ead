"""Data plane: asset creation, metadata pages and cursors, deletes, locks, signed URLs, the change log."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mie.dataplane.changes import ChangeLog
from mie.dataplane.service import DataPlane, decode_cursor, encode_cursor
from mie.dataplane.signing import UrlSigner
from mie.dataplane.sniff import sniff_media_type
from mie.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from mie.storage.objects import LocalObjectStore
from mie.storage.sql.asset_store import SqlAssetStore
from mie.storage.sql.db import Database
from mie.storage.sql.outbox import SqlOutbox
from tests.helpers import MP4_BYTES


@pytest.fixture
def dp(tmp_path: Path) -> Iterator[DataPlane]:
    db = Database(f"sqlite:///{tmp_path / 'mie.db'}")
    db.migrate()
    store = LocalObjectStore(tmp_path / "objects")
    yield DataPlane(SqlAssetStore(db), store, ChangeLog(SqlOutbox(db)), bucket="dataplane", signer=UrlSigner(b"s" * 32))
    db.dispose()


def new_asset(dp: DataPlane, key: str = "upload/v.mp4", data: bytes = MP4_BYTES) -> str:
    dp.objects.put_bytes("dataplane", key, data)
    asset_id: str = dp.create_asset("dataplane", key)["AssetId"]
    return asset_id


def read_all(dp: DataPlane, asset_id: str) -> list[tuple[str, Any]]:
    """Follow the cursor to the end: [(operator, results), ...]."""
    response = dp.get_metadata(asset_id)
    seen = []
    while "cursor" in response:
        response = dp.get_metadata(asset_id, response["cursor"])
        seen.append((response["operator"], response["results"]))
    return seen


class TestAssets:
    def test_create_moves_media_and_infers_type(self, dp: DataPlane) -> None:
        dp.objects.put_bytes("dataplane", "upload/my video.mp4", MP4_BYTES)
        asset = dp.create_asset("dataplane", "upload/my video.mp4")
        assert asset["MediaType"] == "Video"
        assert asset["S3Key"] == f"private/assets/{asset['AssetId']}/input/upload/my video.mp4"
        assert not dp.objects.exists("dataplane", "upload/my video.mp4")
        assert dp.objects.get_bytes("dataplane", asset["S3Key"]) == MP4_BYTES

    def test_missing_object_is_a_400_naming_it(self, dp: DataPlane) -> None:
        with pytest.raises(InvalidError, match=r"s3://dataplane/upload/none\.mp4"):
            dp.create_asset("dataplane", "upload/none.mp4")

    @pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../../b", "a\\b", "a/./b"])
    def test_keys_cannot_escape(self, dp: DataPlane, key: str) -> None:
        with pytest.raises(InvalidError):
            dp.create_asset("dataplane", key)

    def test_unknown_content_needs_media_type(self, dp: DataPlane) -> None:
        dp.objects.put_bytes("dataplane", "upload/blob", bytes(range(256)) * 4)
        with pytest.raises(InvalidError, match="MediaType"):
            dp.create_asset("dataplane", "upload/blob")
        assert dp.create_asset("dataplane", "upload/blob", "Audio")["MediaType"] == "Audio"

    def test_delete_removes_every_object_and_pointer(self, dp: DataPlane) -> None:
        asset_id = new_asset(dp)
        dp.store_metadata(asset_id, {"OperatorName": "Op", "WorkflowId": "W", "Results": {"a": 1}})
        dp.objects.put_bytes("dataplane", f"private/assets/{asset_id}/derived_proxy.mp4", b"x")
        assert dp.delete_asset(asset_id) == f"Deleted asset: {asset_id} from the dataplane"
        root = Path(str(dp.objects.local_path("dataplane", "x"))).parent
        assert not (root / "private" / "assets" / asset_id).exists()
        with pytest.raises(NotFoundError):
            dp.get_metadata(asset_id)

    def test_locks(self, dp: DataPlane) -> None:
        asset_id = new_asset(dp)
        lock = dp.checkout(asset_id, "alice")
        assert lock["LockedBy"] == "alice"
        assert isinstance(lock["LockedAt"], int)
        with pytest.raises(ConflictError, match="alice"):
            dp.checkout(asset_id, "bob")
        assert dp.checkouts()["locks"][0]["AssetId"] == asset_id
        dp.checkin(asset_id)
        assert dp.checkouts() == {"locks": []}
        # Checking in an asset that is not checked out is refused, and leaves it unlocked.
        with pytest.raises(ConflictError, match="not checked out"):
            dp.checkin(asset_id)
        assert dp.checkouts() == {"locks": []}
        assert dp.checkout(asset_id, "bob")["LockedBy"] == "bob"


class TestMetadata:
    def test_non_paginated_overwrites_and_points_newest(self, dp: DataPlane) -> None:
        asset_id = new_asset(dp)
        first = dp.store_metadata(asset_id, {"OperatorName": "Mediainfo", "WorkflowId": "W1", "Results": {"v": 1}})
        assert first == {
            "Status": "Success",
            "Bucket": "dataplane",
            "Key": f"private/assets/{asset_id}/workflows/W1/Mediainfo.json",
        }
        dp.store_metadata(asset_id, {"OperatorName": "Mediainfo", "WorkflowId": "W2", "Results": {"v": 2}})
        assert dp.get_operator_metadata(asset_id, "Mediainfo") == {
            "asset_id": asset_id,
            "operator": "Mediainfo",
            "results": {"v": 2},
        }

    def test_pages_are_invisible_until_end(self, dp: DataPlane) -> None:
        asset_id = new_asset(dp)
        body = {"OperatorName": "labelDetection", "WorkflowId": "W"}
        assert dp.store_metadata(asset_id, {**body, "Results": {"p": 0}}, paginated=True) == {"Status": "Success"}
        assert dp.store_metadata(asset_id, {**body, "Results": {"p": 1}}, paginated=True) == {"Status": "Success"}
        with pytest.raises(NotFoundError):
            dp.get_operator_metadata(asset_id, "labelDetection")
        final = dp.store_metadata(asset_id, {**body, "Results": {"p": 2}}, paginated=True, end=True)
        assert final["Key"].endswith("/workflows/W/labelDetection.json")
        first = dp.get_operator_metadata(asset_id, "labelDetection")
        assert first["results"] == {"p": 0}
        second = dp.get_operator_metadata(asset_id, "labelDetection", first["cursor"])
        third = dp.get_operator_metadata(asset_id, "labelDetection", second["cursor"])
        assert (second["results"], third["results"]) == ({"p": 1}, {"p": 2})
        assert "cursor" not in third

    def test_cursor_walks_every_operator_and_page_once(self, dp: DataPlane) -> None:
        asset_id = new_asset(dp)
        dp.store_metadata(asset_id, {"OperatorName": "Mediainfo", "WorkflowId": "W", "Results": {"tracks": []}})
        for page in range(3):
            dp.store_metadata(
                asset_id,
                {"OperatorName": "labelDetection", "WorkflowId": "W", "Results": {"page": page}},
                paginated=True,
                end=page == 2,
            )
        dp.store_metadata(asset_id, {"OperatorName": "textDetection", "WorkflowId": "W", "Results": {"t": 1}})
        first = dp.get_metadata(asset_id)
        assert first["results"]["S3Key"].startswith(f"private/assets/{asset_id}/input/")
        assert read_all(dp, asset_id) == [
            ("Mediainfo", {"tracks": []}),
            ("labelDetection", {"page": 0}),
            ("labelDetection", {"page": 1}),
            ("labelDetection", {"page": 2}),
            ("textDetection", {"t": 1}),
        ]

    def test_asset_without_results_has_no_cursor(self, dp: DataPlane) -> None:
        asset_id = new_asset(dp)
        assert "cursor" not in dp.get_metadata(asset_id)

    def test_concurrent_page_writes_lose_nothing(self, dp: DataPlane) -> None:
        asset_id = new_asset(dp)

        def write(thread: int) -> None:
            for i in range(10):
                dp.store_metadata(
                    asset_id,
                    {"OperatorName": "op", "WorkflowId": "W", "Results": {"t": thread, "i": i}},
                    paginated=True,
                )

        threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        dp.store_metadata(
            asset_id, {"OperatorName": "op", "WorkflowId": "W", "Results": {"last": 1}}, paginated=True, end=True
        )
        pages = [results for _, results in read_all(dp, asset_id)]
        assert len(pages) == 61
        assert {(p["t"], p["i"]) for p in pages[:-1]} == {(t, i) for t in range(6) for i in range(10)}

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"WorkflowId": "W", "Results": {}}, "'OperatorName'"),
            ({"OperatorName": "x", "WorkflowId": "W", "Results": [1]}, "dict"),
            ({"OperatorName": "../x", "WorkflowId": "W", "Results": {}}, "not a valid operator name"),
            ({"OperatorName": "x", "WorkflowId": "../W", "Results": {}}, "WorkflowId"),
        ],
    )
    def test_bad_metadata_bodies(self, dp: DataPlane, body: dict[str, Any], message: str) -> None:
        asset_id = new_asset(dp)
        with pytest.raises(InvalidError, match=message):
            dp.store_metadata(asset_id, body)

    def test_unknown_asset_is_404(self, dp: DataPlane) -> None:
        with pytest.raises(NotFoundError):
            dp.store_metadata("nope", {"OperatorName": "x", "WorkflowId": "W", "Results": {}})
        with pytest.raises(NotFoundError):
            dp.get_metadata("nope")

    def test_delete_operator_metadata(self, dp: DataPlane) -> None:
        asset_id = new_asset(dp)
        stored = dp.store_metadata(asset_id, {"OperatorName": "x", "WorkflowId": "W", "Results": {}})
        assert dp.delete_operator_metadata(asset_id, "x") == {"Deleted": [{"Key": stored["Key"]}]}
        assert not dp.objects.exists("dataplane", stored["Key"])
        with pytest.raises(NotFoundError, match="pointer does not exist for x"):
            dp.delete_operator_metadata(asset_id, "x")

    def test_bad_cursors_are_400(self, dp: DataPlane) -> None:
        asset_id = new_asset(dp)
        for cursor in ("!!!", base64.b64encode(b"[]").decode(), encode_cursor({"next": {"a": "b", "c": "d"}})):
            with pytest.raises(InvalidError):
                dp.get_metadata(asset_id, cursor)

    def test_cursor_accepts_both_base64_alphabets(self) -> None:
        state = {"next": {"op?>": "k/?>", "page": 0}, "remaining": []}
        urlsafe = encode_cursor(state)
        standard = base64.b64encode(json.dumps(state).encode()).decode()
        assert decode_cursor(urlsafe) == decode_cursor(standard) == state


class TestChangeLog:
    def test_events_in_order_with_mie_payloads(self, dp: DataPlane) -> None:
        asset_id = new_asset(dp)
        dp.store_metadata(asset_id, {"OperatorName": "x", "WorkflowId": "W", "Results": {}})
        dp.delete_operator_metadata(asset_id, "x")
        dp.delete_asset(asset_id)
        payloads = [e["payload"] for e in dp.changes.read(0)]
        assert [p["Action"] for p in payloads] == ["INSERT", "MODIFY", "REMOVE", "REMOVE"]
        assert payloads[1] == {
            "Action": "MODIFY",
            "Operator": "x",
            "Workflow": "W",
            "Pointer": f"private/assets/{asset_id}/workflows/W/x.json",
        }
        assert payloads[2] == {"Action": "REMOVE", "Operator": "x"}
        assert payloads[3] == {"Action": "REMOVE"}

    def test_wait_wakes_on_notify(self, dp: DataPlane) -> None:
        after = dp.changes.last_seq()
        timer = threading.Timer(0.1, lambda: new_asset(dp))
        started = time.monotonic()
        timer.start()
        events = dp.changes.wait(after, timeout=5)
        timer.join()
        assert events
        assert events[0]["payload"]["Action"] == "INSERT"
        assert time.monotonic() - started < 2


class TestSigning:
    def test_round_trip_and_tamper(self) -> None:
        signer = UrlSigner(b"k" * 32)
        expires = int(time.time()) + 60
        sig = signer.sign("GET", "b", "k", expires)
        signer.verify("GET", "b", "k", str(expires), sig)
        with pytest.raises(ForbiddenError):
            signer.verify("GET", "b", "other", str(expires), sig)
        past = int(time.time()) - 1
        with pytest.raises(ForbiddenError, match="expired"):
            signer.verify("GET", "b", "k", str(past), signer.sign("GET", "b", "k", past))


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "Image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "Image"),
        (MP4_BYTES, "Video"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "Audio"),
        (b"\x1a\x45\xdf\xa3\x01\x00\x00\x00webmV_VP8", "Video"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "Audio"),
        (b"ID3\x04\x00\x00\x00\x00", "Audio"),
        (b"FLV\x01\x05", "Video"),
        ("Plain text, with ünïcode".encode(), "Text"),
        (bytes(range(256)), None),
    ],
)
def test_sniffing(head: bytes, kind: str | None) -> None:
    assert sniff_media_type(head) == kind


def test_local_store_round_trip(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    store.put_bytes("b", "a/b/c.txt", b"0123456789")
    assert b"".join(store.read_range("b", "a/b/c.txt", 2, 5)) == b"2345"
    assert store.delete_prefix("b", "a/") == ["a/b/c.txt"]
    assert not (tmp_path / "b" / "a").exists()
