"""The asset store on SQL (``mie.storage.assets``): the ``assets``, ``metadata_pointers`` and ``metadata_pages``
tables, with change events in the same transaction through ``mie.storage.sql.outbox``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from mie.storage.assets import AssetRow
from mie.storage.outbox import Change
from mie.storage.sql.db import Database, dumps
from mie.storage.sql.outbox import append_many
from mie.storage.sql.tables import assets, metadata_pages, metadata_pointers

# Built once: every metadata write runs several of these, and building a statement costs more than running it.
_ASSET = select(assets).where(assets.c.asset_id == bindparam("a"))
# FOR UPDATE on PostgreSQL; SQLite ignores it (a write transaction there already excludes every other writer).
_LOCK_ASSET = _ASSET.with_for_update()
_KNOWN = select(assets.c.asset_id).where(assets.c.asset_id.in_(bindparam("ids", expanding=True)))
_ASSET_IDS = select(assets.c.asset_id).order_by(assets.c.created, assets.c.asset_id)
_COUNT = select(func.count()).select_from(assets)
_LOCKS = select(assets.c.asset_id, assets.c.locked_by, assets.c.locked_at).where(assets.c.locked_by.is_not(None))
_INSERT_ASSET = insert(assets)
_DELETE_ASSET = delete(assets).where(assets.c.asset_id == bindparam("a"))
_SET_LOCK = (
    update(assets)
    .where(assets.c.asset_id == bindparam("a"))
    .values(locked_by=bindparam("v_by"), locked_at=bindparam("v_at"))
)

_OF_ASSET = metadata_pointers.c.asset_id == bindparam("a")
_OF_OPERATOR = _OF_ASSET & (metadata_pointers.c.operator == bindparam("o"))
_POINTERS = (
    select(metadata_pointers.c.operator, metadata_pointers.c.pointer).where(_OF_ASSET).order_by(metadata_pointers.c.id)
)
_NEWEST = select(metadata_pointers.c.pointer).where(_OF_OPERATOR).order_by(metadata_pointers.c.id.desc()).limit(1)
_HAS = select(metadata_pointers.c.id).where(_OF_OPERATOR & (metadata_pointers.c.pointer == bindparam("p"))).limit(1)
_OPERATOR_POINTERS = select(metadata_pointers.c.pointer).where(_OF_OPERATOR)
_INSERT_POINTER = insert(metadata_pointers)
_DELETE_POINTERS = delete(metadata_pointers).where(_OF_OPERATOR)
_DELETE_ASSET_POINTERS = delete(metadata_pointers).where(_OF_ASSET)

_OF_RESULT = (
    (metadata_pages.c.asset_id == bindparam("a"))
    & (metadata_pages.c.workflow == bindparam("w"))
    & (metadata_pages.c.operator == bindparam("o"))
)
_PAGES = select(metadata_pages.c.page).where(_OF_RESULT).order_by(metadata_pages.c.id)
_INSERT_PAGE = insert(metadata_pages)
_DELETE_PAGES = delete(metadata_pages).where(_OF_RESULT)
_DELETE_ASSET_PAGES = delete(metadata_pages).where(metadata_pages.c.asset_id == bindparam("a"))


class _Tx:
    """:class:`~mie.storage.assets.AssetTransaction` on one connection (reads only, in a read transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.handle = conn
        self._conn = conn

    # Reads ---------------------------------------------------------------------------------------------------

    def get_asset(self, asset_id: str) -> AssetRow | None:
        row = self._conn.execute(_ASSET, {"a": asset_id}).first()
        return None if row is None else dict(row._mapping)

    def known_assets(self, asset_ids: list[str]) -> set[str]:
        return set(self._conn.scalars(_KNOWN, {"ids": asset_ids})) if asset_ids else set()

    def asset_ids(self) -> list[str]:
        return [r[0] for r in self._conn.execute(_ASSET_IDS)]

    def count_assets(self) -> int:
        return int(self._conn.execute(_COUNT).scalar_one())

    def locks(self) -> list[tuple[str, str, int | None]]:
        return [(r.asset_id, r.locked_by, r.locked_at) for r in self._conn.execute(_LOCKS)]

    def pointers(self, asset_id: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._conn.execute(_POINTERS, {"a": asset_id})]

    def newest_pointer(self, asset_id: str, operator: str) -> str | None:
        row = self._conn.execute(_NEWEST, {"a": asset_id, "o": operator}).first()
        return None if row is None else str(row[0])

    def has_pointer(self, asset_id: str, operator: str, pointer: str) -> bool:
        return self._conn.execute(_HAS, {"a": asset_id, "o": operator, "p": pointer}).first() is not None

    def operator_pointers(self, asset_id: str, operator: str) -> list[str]:
        return [r[0] for r in self._conn.execute(_OPERATOR_POINTERS, {"a": asset_id, "o": operator})]

    # Writes --------------------------------------------------------------------------------------------------

    def lock_asset(self, asset_id: str) -> AssetRow | None:
        row = self._conn.execute(_LOCK_ASSET, {"a": asset_id}).first()
        return None if row is None else dict(row._mapping)

    def insert_asset(self, asset_id: str, bucket: str, key: str, media_type: str, created: str) -> None:
        self._conn.execute(
            _INSERT_ASSET,
            {"asset_id": asset_id, "s3_bucket": bucket, "s3_key": key, "media_type": media_type, "created": created},
        )

    def delete_asset(self, asset_id: str) -> None:
        params = {"a": asset_id}
        self._conn.execute(_DELETE_ASSET_POINTERS, params)
        self._conn.execute(_DELETE_ASSET_PAGES, params)
        self._conn.execute(_DELETE_ASSET, params)

    def set_lock(self, asset_id: str, locked_by: str | None, locked_at: int | None) -> None:
        self._conn.execute(_SET_LOCK, {"a": asset_id, "v_by": locked_by, "v_at": locked_at})

    def add_page(self, asset_id: str, operator: str, workflow: str, page: Any) -> None:
        self._conn.execute(
            _INSERT_PAGE, {"asset_id": asset_id, "operator": operator, "workflow": workflow, "page": dumps(page)}
        )

    def pages(self, asset_id: str, operator: str, workflow: str) -> list[Any]:
        return [json.loads(r[0]) for r in self._conn.execute(_PAGES, {"a": asset_id, "w": workflow, "o": operator})]

    def drop_pages(self, asset_id: str, operator: str, workflow: str) -> None:
        self._conn.execute(_DELETE_PAGES, {"a": asset_id, "w": workflow, "o": operator})

    def add_pointer(self, asset_id: str, operator: str, workflow: str, pointer: str) -> None:
        self._conn.execute(
            _INSERT_POINTER, {"asset_id": asset_id, "operator": operator, "workflow": workflow, "pointer": pointer}
        )

    def drop_pointers(self, asset_id: str, operator: str) -> None:
        self._conn.execute(_DELETE_POINTERS, {"a": asset_id, "o": operator})

    def emit(self, events: Iterable[Change]) -> None:
        append_many(self._conn, events)


class SqlAssetStore:
    """:class:`~mie.storage.assets.AssetStore` on ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @contextmanager
    def read(self) -> Iterator[_Tx]:
        """A read transaction (see :meth:`Database.read`)."""
        with self.db.read() as conn:
            yield _Tx(conn)

    @contextmanager
    def write(self) -> Iterator[_Tx]:
        """A write transaction holding the write lock from its first statement (see :meth:`Database.write`)."""
        with self.db.write() as conn:
            yield _Tx(conn)
