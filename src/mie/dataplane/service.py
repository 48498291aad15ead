"""Data-plane operations behind ``/api/dataplane/*`` and the operators' ``DataPlane`` handle (teardown §1.7, §2.2).

Each change to an asset or its metadata pointers is committed together with its change-log event.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from mie.dataplane.changes import DATAPLANE, ChangeLog
from mie.dataplane.cursors import cursor_target, decode_cursor, encode_cursor
from mie.dataplane.signing import UrlSigner
from mie.dataplane.sniff import sniff_media_type
from mie.errors import ConflictError, InvalidError, MieError, NotFoundError
from mie.model.records import NAME_PATTERN, created_now
from mie.storage.assets import AssetReader, AssetStore, AssetTransaction
from mie.storage.objects import ObjectStore, check_bucket, check_key, local_file
from mie.types import MediaType

__all__ = ["ASSET_PREFIX", "MEDIA_TYPES", "DataPlane", "asset_prefix", "decode_cursor", "encode_cursor", "result_key"]

ASSET_PREFIX = "private/assets/"
MEDIA_TYPES = tuple(MediaType)


def _dumps(value: Any) -> str:
    """A result document as stored (compact JSON; non-ASCII kept as is)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def asset_prefix(asset_id: str) -> str:
    """``private/assets/<AssetId>/``: every object of an asset lives below it."""
    return f"{ASSET_PREFIX}{asset_id}/"


def result_key(asset_id: str, workflow_id: str, operator: str) -> str:
    """Where an operator's result object is stored."""
    return f"{asset_prefix(asset_id)}workflows/{workflow_id}/{operator}.json"


class DataPlane:
    """Assets, media objects, metadata results and their change events.

    It is the :class:`~mie.operators.dataplane.DataPlaneClient` operators are given (they see only that
    protocol); the server's own layers (API object routes, web pages, jobs) reach the store behind it through
    :attr:`objects` and :attr:`bucket`.
    """

    def __init__(
        self,
        store: AssetStore,
        objects: ObjectStore,
        changes: ChangeLog,
        *,
        bucket: str,
        signer: UrlSigner,
        url_expiry: int = 3600,
    ) -> None:
        self._store = store
        self._objects = objects
        self.changes = changes
        self._bucket = check_bucket(bucket)
        self.signer = signer
        self.url_expiry = url_expiry
        # Moving an upload and committing its asset is one step for other creators of this process: a concurrent
        # create must not take an in-flight object for the orphan of a crashed one.
        self._creating = threading.RLock()

    @property
    def objects(self) -> ObjectStore:
        """The object store (server side only: operators use the object methods of the client protocol)."""
        return self._objects

    @property
    def bucket(self) -> str:
        """The bucket assets live in (server side; operators ask :attr:`default_bucket`)."""
        return self._bucket

    @contextmanager
    def transaction(self) -> Iterator[AssetTransaction]:
        """A unit of work on assets and metadata for a caller that decides something about an asset together with
        its own store (the engine: "lock the asset, check no execution is active, insert one"): join it through
        :attr:`~mie.storage.assets.AssetTransaction.handle`. Change events it emits are announced after the
        commit."""
        with self._store.write() as tx:
            yield tx
        self.changes.notify()

    # Assets ---------------------------------------------------------------------------------------------------

    def create_asset(
        self,
        bucket: Any,
        key: Any,
        media_type: Any = None,
        *,
        also: Callable[[Any, dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """``POST /create``: take ownership of an uploaded object as a new asset.

        The object is moved to ``private/assets/<AssetId>/input/<S3Key>`` (as MIE v2 did), so deleting the asset
        removes it. ``MediaType`` is inferred from the content when not given. ``also`` runs in the unit of work that
        creates the asset, given its :attr:`~mie.storage.assets.AssetTransaction.handle` and the asset
        (``POST /workflow/execution`` inserts its execution there: both or neither exist).

        Retryable: when the transaction fails the object is moved back; when the process died between the move and
        the commit, a retry finds the moved object under an asset id that was never committed and takes it back.
        """
        if not isinstance(bucket, str) or not bucket:
            raise InvalidError("Missing required inputs for asset creation: 'S3Bucket'")
        if not isinstance(key, str) or not key:
            raise InvalidError("Missing required inputs for asset creation: 'S3Key'")
        check_bucket(bucket)
        check_key(key)
        if media_type is not None and media_type not in MEDIA_TYPES:
            raise InvalidError(f"MediaType must be one of {', '.join(MEDIA_TYPES)}, not {media_type!r}")
        with self._creating:
            if not self._objects.exists(bucket, key) and not self._recover_orphan(bucket, key):
                raise InvalidError(f"Input media s3://{bucket}/{key} does not exist: upload it first")
            if media_type is None:
                media_type = self._sniff(bucket, key)
            asset_id = str(uuid.uuid4())
            new_key = f"{asset_prefix(asset_id)}input/{key}"
            self._objects.move(bucket, key, self._bucket, new_key)
            try:
                return self._insert_asset(asset_id, new_key, media_type, also)
            except BaseException:
                with contextlib.suppress(MieError, OSError):  # best effort; a retry recovers it otherwise
                    self._objects.move(self._bucket, new_key, bucket, key)
                raise

    def _recover_orphan(self, bucket: str, key: str) -> bool:
        """Move back an object a crashed ``create_asset`` moved under an asset id it never committed."""
        suffix = f"/input/{key}"
        candidates: dict[str, str] = {}
        for found in self._objects.list_keys(self._bucket, ASSET_PREFIX):
            owner = found[len(ASSET_PREFIX) :].split("/", 1)[0]
            if found == f"{ASSET_PREFIX}{owner}{suffix}":
                candidates[owner] = found
        if not candidates:
            return False
        with self._store.read() as reader:
            known = reader.known_assets(list(candidates))
        orphans = sorted(k for a, k in candidates.items() if a not in known)
        if not orphans:
            return False
        self._objects.move(self._bucket, orphans[0], bucket, key)
        return True

    def _insert_asset(
        self,
        asset_id: str,
        new_key: str,
        media_type: str,
        also: Callable[[Any, dict[str, Any]], None] | None,
    ) -> dict[str, Any]:
        created = created_now()
        asset = {"AssetId": asset_id, "MediaType": media_type, "S3Bucket": self._bucket, "S3Key": new_key}
        with self.transaction() as tx:
            tx.insert_asset(asset_id, self._bucket, new_key, media_type, created)
            event = {
                "S3Bucket": self._bucket,
                "S3Key": new_key,
                "Created": created,
                "MediaType": media_type,
                "Action": "INSERT",
            }
            tx.emit([(DATAPLANE, asset_id, event)])
            if also is not None:
                also(tx.handle, asset)
        return asset

    def _sniff(self, bucket: str, key: str) -> str:
        size = self._objects.size(bucket, key)
        head = b"".join(self._objects.read_range(bucket, key, 0, min(size, 8192) - 1)) if size else b""
        kind = sniff_media_type(head)
        if kind is None:
            raise InvalidError(
                f"cannot tell the media type of s3://{bucket}/{key} from its content; pass Input.MediaType"
            )
        return kind

    def get_asset(self, asset_id: str, conn: AssetReader | None = None) -> dict[str, Any]:
        """The asset row as a dict; 404 when unknown. ``conn``: read in that unit of work."""
        if conn is None:
            with self._store.read() as reader:
                row = reader.get_asset(asset_id)
        else:
            row = conn.get_asset(asset_id)
        if row is None:
            raise NotFoundError(f"Asset {asset_id} does not exist")
        return row

    def list_assets(self, *, limit: int | None = None, after: str | None = None) -> tuple[list[str], str | None]:
        """Asset ids in creation order, paged by asset id."""
        with self._store.read() as reader:
            ids = reader.asset_ids()
        if after is not None:
            ids = ids[ids.index(after) + 1 :] if after in ids else []
        if limit is not None and len(ids) > limit:
            return ids[:limit], ids[limit - 1]
        return ids, None

    def delete_asset(self, asset_id: str) -> str:
        """``DELETE /metadata/{asset}``: the asset, its results and every object under its prefix."""
        with self.transaction() as tx:
            asset = self.get_asset(asset_id, tx)
            tx.delete_asset(asset_id)
            tx.emit([(DATAPLANE, asset_id, {"Action": "REMOVE"})])
        # Objects go after the commit: a crash in between leaves unreachable files, never a dangling asset.
        self._objects.delete_prefix(self._bucket, asset_prefix(asset_id))
        if not asset["s3_key"].startswith(asset_prefix(asset_id)):
            self._objects.delete(asset["s3_bucket"], asset["s3_key"])
        return f"Deleted asset: {asset_id} from the dataplane"

    def media_path(self, asset_id: str, workflow_id: str) -> dict[str, str]:
        """``GET /mediapath/{a}/{w}``: where an operator may write derived media."""
        check_key(asset_id)
        check_key(workflow_id)
        if "/" in asset_id or "/" in workflow_id:
            raise InvalidError("asset and workflow ids cannot contain '/'")
        return {"S3Bucket": self._bucket, "S3Key": f"{asset_prefix(asset_id)}workflows/{workflow_id}/"}

    # Objects, for operators (DataPlaneClient) -------------------------------------------------------------------

    @property
    def default_bucket(self) -> str:
        """The bucket assets, results and derived media live in."""
        return self._bucket

    def object_exists(self, bucket: str, key: str) -> bool:
        """Whether the object exists."""
        return self._objects.exists(bucket, key)

    def object_size(self, bucket: str, key: str) -> int:
        """The object's size in bytes; ``NotFoundError`` when absent."""
        return self._objects.size(bucket, key)

    def read_object(self, bucket: str, key: str) -> bytes:
        """The object's bytes; ``NotFoundError`` when absent."""
        return self._objects.get_bytes(bucket, key)

    def put_object(self, bucket: str, key: str, data: bytes | BinaryIO) -> None:
        """Write an object whole, from bytes or a binary stream (readers see the old or the new object)."""
        if isinstance(data, bytes):
            self._objects.put_bytes(bucket, key, data)
        else:
            self._objects.put_stream(bucket, key, data)

    def local_file(self, bucket: str, key: str, folder: Path | Callable[[], Path]) -> Path | None:
        """The object as a local file (in place, or downloaded into ``folder``); None when it does not exist."""
        return local_file(self._objects, bucket, key, folder)

    # Locks (MIE v4) ------------------------------------------------------------------------------------------

    def checkout(self, asset_id: str, locked_by: Any) -> dict[str, Any]:
        """Lock an asset for a user; 409 when someone holds it."""
        if not isinstance(locked_by, str) or not locked_by:
            raise InvalidError("Missing required input: 'LockedBy'")
        with self.transaction() as tx:
            asset = self.get_asset(asset_id, tx)
            if asset["locked_by"]:
                raise ConflictError(f"Asset {asset_id} is already checked out by {asset['locked_by']}")
            locked_at = int(time.time())
            tx.set_lock(asset_id, locked_by, locked_at)
        return {"AssetId": asset_id, "LockedBy": locked_by, "LockedAt": locked_at}

    def checkin(self, asset_id: str) -> str:
        """Release an asset's lock; 409 when the asset is not checked out (a check-in without a checkout is a
        client's mistake worth telling: it usually means someone else's lock was already released)."""
        with self.transaction() as tx:
            if not self.get_asset(asset_id, tx)["locked_by"]:
                raise ConflictError(f"Asset {asset_id} is not checked out")
            tx.set_lock(asset_id, None, None)
        return f"Unlocked asset {asset_id}"

    def checkouts(self) -> dict[str, Any]:
        """Every lock held."""
        with self._store.read() as reader:
            rows = reader.locks()
        return {"locks": [{"AssetId": a, "LockedBy": by, "LockedAt": at} for a, by, at in rows]}

    # Metadata --------------------------------------------------------------------------------------------------

    def store_metadata(
        self,
        asset_id: str,
        body: Any,
        *,
        paginated: bool = False,
        end: bool = False,
        first: bool = False,
        replace: bool = False,
    ) -> dict[str, Any]:
        """``POST /metadata/{asset}``: store a result whole, or as pages finished by ``end``.

        ``first`` (a paged write only) starts a new sequence: pages still pending from an interrupted attempt are
        dropped in the same transaction. ``replace`` (with ``end``) makes the joined pages the whole result instead
        of appending them to a result stored earlier under the same ``WorkflowId`` (MIE's behaviour, kept for
        MIE's clients). The SDK's :class:`~mie.operators.ResultPages` sets both: a re-run task's pages replace the
        interrupted attempt's, never extend them.
        """
        if not isinstance(body, dict):
            raise InvalidError("the request body must be a JSON object")
        for field in ("OperatorName", "Results", "WorkflowId"):
            if field not in body:
                raise InvalidError(f"Missing required inputs for storing metadata: '{field}'")
        operator, results, workflow_id = body["OperatorName"], body["Results"], body["WorkflowId"]
        if not isinstance(operator, str) or not NAME_PATTERN.match(operator):
            raise InvalidError(f"OperatorName {operator!r} is not a valid operator name")
        if not isinstance(workflow_id, str) or not workflow_id or "/" in workflow_id or workflow_id in {".", ".."}:
            raise InvalidError(f"WorkflowId {workflow_id!r} is not valid")
        if not isinstance(results, dict):
            raise InvalidError(f"Results of {operator} are not the required data type, dict")
        key = result_key(asset_id, workflow_id, operator)
        if not paginated:
            self.get_asset(asset_id)
            self._objects.put_bytes(self._bucket, key, _dumps(results).encode())
            with self.transaction() as tx:
                self.get_asset(asset_id, tx)
                self._point(tx, asset_id, operator, workflow_id, key)
            return {"Status": "Success", "Bucket": self._bucket, "Key": key}
        with self.transaction() as tx:
            self.get_asset(asset_id, tx)
            if first:
                tx.drop_pages(asset_id, operator, workflow_id)
            tx.add_page(asset_id, operator, workflow_id, results)
            if not end:
                return {"Status": "Success"}
            pages = tx.pages(asset_id, operator, workflow_id)
            existing: list[Any] = []
            if not replace and self._objects.exists(self._bucket, key):
                # A re-run under the same workflow id appends to the earlier pages, as MIE does...
                previous = json.loads(self._objects.get_bytes(self._bucket, key))
                existing = previous if isinstance(previous, list) else [previous]
                # ...except when the stored object already ends with exactly these pages: that is this very write,
                # retried after a crash between writing the object (below) and committing. The pages are still
                # pending then, and appending them again would double every page.
                if len(existing) >= len(pages) and existing[len(existing) - len(pages) :] == pages:
                    existing = existing[: len(existing) - len(pages)]
            # The object is written before the commit, and idempotently: until the commit, the pages stay pending,
            # so a retry recomputes the same object (see above); after it, pointer and pages agree.
            self._objects.put_bytes(self._bucket, key, _dumps(existing + pages).encode())
            tx.drop_pages(asset_id, operator, workflow_id)
            self._point(tx, asset_id, operator, workflow_id, key)
        return {"Status": "Success", "Bucket": self._bucket, "Key": key}

    @staticmethod
    def _point(tx: AssetTransaction, asset_id: str, operator: str, workflow_id: str, key: str) -> None:
        tx.add_pointer(asset_id, operator, workflow_id, key)
        event = {"Action": "MODIFY", "Operator": operator, "Pointer": key, "Workflow": workflow_id}
        tx.emit([(DATAPLANE, asset_id, event)])

    @staticmethod
    def _latest_pointers(reader: AssetReader, asset_id: str) -> list[tuple[str, str]]:
        """``(operator, pointer)`` of each operator's newest result, in the order operators first stored one."""
        latest: dict[str, str] = {}
        for operator, pointer in reader.pointers(asset_id):
            latest[operator] = pointer
        return list(latest.items())

    def _check_pointer(self, asset_id: str, operator: str, pointer: str) -> None:
        with self._store.read() as reader:
            found = reader.has_pointer(asset_id, operator, pointer)
        if not found:
            raise InvalidError("the cursor does not name a result of this asset")

    def _read_result(self, pointer: str) -> Any:
        try:
            return json.loads(self._objects.get_bytes(self._bucket, pointer))
        except NotFoundError as exc:
            raise NotFoundError(f"the result object {pointer} is missing from the object store") from exc

    def get_metadata(self, asset_id: str, cursor: str | None = None) -> dict[str, Any]:
        """``GET /metadata/{asset}``: the asset, then one operator result (or page) per call while ``cursor``."""
        if cursor is None:
            with self._store.read() as reader:
                asset = self.get_asset(asset_id, reader)
                pointers = self._latest_pointers(reader, asset_id)
            response: dict[str, Any] = {
                "asset_id": asset_id,
                "results": {
                    "S3Bucket": asset["s3_bucket"],
                    "S3Key": asset["s3_key"],
                    "Created": asset["created"],
                    "MediaType": asset["media_type"],
                },
            }
            if pointers:
                first, *rest = pointers
                response["cursor"] = encode_cursor(
                    {"next": {first[0]: first[1], "page": 0}, "remaining": [{op: p} for op, p in rest]}
                )
            return response
        state = decode_cursor(cursor)
        self.get_asset(asset_id)
        operator, pointer, page = cursor_target(state)
        remaining = [r for r in state.get("remaining", []) if isinstance(r, dict) and len(r) == 1]
        return self._page_response(asset_id, operator, pointer, page, remaining)

    def _page_response(
        self, asset_id: str, operator: str, pointer: str, page: int, remaining: list[dict[str, str]]
    ) -> dict[str, Any]:
        # A cursor is the client's to forge: only a pointer stored for this asset and operator is read, never
        # another object of the asset (its input media, another result) named by a crafted cursor.
        self._check_pointer(asset_id, operator, pointer)
        results = self._read_result(pointer)
        response: dict[str, Any] = {"asset_id": asset_id, "operator": operator}
        next_state: dict[str, Any] | None = None
        if isinstance(results, list):
            if not 0 <= page < max(len(results), 1):
                raise InvalidError("the cursor points past the last page")
            response["results"] = results[page] if results else {}
            if page + 1 < len(results):
                next_state = {"next": {operator: pointer, "page": page + 1}, "remaining": remaining}
        else:
            if page != 0:
                raise InvalidError("the cursor points past the last page")
            response["results"] = results
        if next_state is None and remaining:
            (op2, p2), *rest = [next(iter(r.items())) for r in remaining]
            next_state = {"next": {op2: p2, "page": 0}, "remaining": [{o: p} for o, p in rest]}
        if next_state is not None:
            response["cursor"] = encode_cursor(next_state)
        return response

    def get_operator_metadata(self, asset_id: str, operator: str, cursor: str | None = None) -> dict[str, Any]:
        """``GET /metadata/{asset}/{operator}``: the newest result of one operator (paged when paginated)."""
        if cursor is not None:
            state = decode_cursor(cursor)
            named, pointer, page = cursor_target(state)
            if named != operator:
                raise InvalidError("the cursor is not one this data plane issued for this operator")
            self.get_asset(asset_id)
            return self._page_response(asset_id, operator, pointer, page, [])
        with self._store.read() as reader:
            self.get_asset(asset_id, reader)
            newest = reader.newest_pointer(asset_id, operator)
        if newest is None:
            raise NotFoundError(f"No metadata of operator {operator} for asset {asset_id}")
        return self._page_response(asset_id, operator, newest, 0, [])

    def delete_operator_metadata(self, asset_id: str, operator: str) -> dict[str, Any]:
        """``DELETE /metadata/{asset}/{operator}``: every stored result of one operator."""
        with self.transaction() as tx:
            self.get_asset(asset_id, tx)
            pointers = sorted(set(tx.operator_pointers(asset_id, operator)))
            if not pointers:
                raise NotFoundError(f"Unable to delete metadata, pointer does not exist for {operator}")
            tx.drop_pointers(asset_id, operator)
            tx.emit([(DATAPLANE, asset_id, {"Action": "REMOVE", "Operator": operator})])
        deleted = [{"Key": key} for key in pointers if self._objects.delete(self._bucket, key)]
        return {"Deleted": deleted}

    def count_assets(self) -> int:
        """How many assets exist."""
        with self._store.read() as reader:
            return reader.count_assets()

    # Signed URLs -----------------------------------------------------------------------------------------------

    def upload_form(self, bucket: Any, key: Any, base_url: str, max_bytes: int) -> dict[str, Any]:
        """``POST /upload``: a URL and form fields for a multipart POST, like an S3 presigned POST."""
        bucket, key = self._location(bucket, key)
        from urllib.parse import urlencode

        expires = int(time.time()) + self.url_expiry
        fields = {
            "bucket": bucket,
            "key": key,
            "expires": str(expires),
            "max-bytes": str(max_bytes),
            "signature": self.signer.sign("POST", bucket, key, expires, str(max_bytes)),
        }
        # The URL repeats the grant in its query so that the server can check it before reading the body; the
        # fields stay for S3-style clients that post them (they are checked before the file part).
        return {"url": f"{base_url.rstrip('/')}/api/dataplane/objects/upload?{urlencode(fields)}", "fields": fields}

    def download_url(self, bucket: Any, key: Any, base_url: str) -> str:
        """``POST /download``: a URL that serves the object's bytes until it expires."""
        from urllib.parse import quote

        bucket, key = self._location(bucket, key)
        if not self._objects.exists(bucket, key):
            raise NotFoundError(f"object s3://{bucket}/{key} does not exist")
        expires = int(time.time()) + self.url_expiry
        signature = self.signer.sign("GET", bucket, key, expires)
        return (
            f"{base_url.rstrip('/')}/api/dataplane/objects/{quote(bucket)}/{quote(key)}"
            f"?expires={expires}&signature={signature}"
        )

    @staticmethod
    def _location(bucket: Any, key: Any) -> tuple[str, str]:
        if not isinstance(bucket, str) or not bucket:
            raise InvalidError("Missing required input: 'S3Bucket'")
        if not isinstance(key, str) or not key:
            raise InvalidError("Missing required input: 'S3Key'")
        return check_bucket(bucket), check_key(key)
