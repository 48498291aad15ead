"""The asset store interface: assets, their locks, and per-operator metadata pointers and pending pages.

The data plane (``mie.dataplane.service``) keeps result documents in the object store and everything else here.
Every change happens in a unit of work, :meth:`AssetStore.write`, which also carries the change events
(:meth:`AssetTransaction.emit`): a change and its event commit together or not at all. Another store on the same
backend may join the unit of work through :attr:`AssetTransaction.handle` (``POST /workflow/execution`` creates an
asset and its execution in one transaction). See ``mie.storage.sql.asset_store`` for the SQL implementation; only
the composition root picks one.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from mie.storage.outbox import Change

#: An asset as stored: ``asset_id, s3_bucket, s3_key, media_type, created, locked_by, locked_at``.
AssetRow = dict[str, Any]


class AssetReader(Protocol):
    """Reads inside one transaction (a consistent view)."""

    def get_asset(self, asset_id: str) -> AssetRow | None:
        """The asset, or None when unknown."""
        ...

    def known_assets(self, asset_ids: list[str]) -> set[str]:
        """Which of ``asset_ids`` exist."""
        ...

    def asset_ids(self) -> list[str]:
        """Every asset id, in creation order (ties by id)."""
        ...

    def count_assets(self) -> int:
        """How many assets exist."""
        ...

    def locks(self) -> list[tuple[str, str, int | None]]:
        """``(asset_id, locked_by, locked_at)`` of every checked-out asset."""
        ...

    def pointers(self, asset_id: str) -> list[tuple[str, str]]:
        """``(operator, pointer)`` of every stored result of the asset, oldest first."""
        ...

    def newest_pointer(self, asset_id: str, operator: str) -> str | None:
        """The pointer of the operator's newest result for the asset (None: it stored none)."""
        ...

    def has_pointer(self, asset_id: str, operator: str, pointer: str) -> bool:
        """Whether ``pointer`` is a result the operator stored for the asset."""
        ...

    def operator_pointers(self, asset_id: str, operator: str) -> list[str]:
        """Every pointer the operator stored for the asset (in no particular order, repeats possible)."""
        ...


class AssetTransaction(AssetReader, Protocol):
    """One unit of work: the reads above plus writes and change events, committed together."""

    @property
    def handle(self) -> Any:
        """The backend's transaction (SQL: the ``Connection``), for another store of the same backend to join."""
        ...

    def lock_asset(self, asset_id: str) -> AssetRow | None:
        """The asset, locked against concurrent writers until this unit of work ends (None when unknown): for a
        decision about the asset that must not race another (e.g. "no other execution is active on it")."""
        ...

    def insert_asset(self, asset_id: str, bucket: str, key: str, media_type: str, created: str) -> None:
        """Add an asset (not checked out)."""
        ...

    def delete_asset(self, asset_id: str) -> None:
        """Remove the asset with its pointers and pending pages."""
        ...

    def set_lock(self, asset_id: str, locked_by: str | None, locked_at: int | None) -> None:
        """Check the asset out to ``locked_by`` (None: check it in)."""
        ...

    def add_page(self, asset_id: str, operator: str, workflow: str, page: Any) -> None:
        """Append one pending page (a JSON value) of a paged result."""
        ...

    def pages(self, asset_id: str, operator: str, workflow: str) -> list[Any]:
        """The pending pages of a paged result, in the order they were added."""
        ...

    def drop_pages(self, asset_id: str, operator: str, workflow: str) -> None:
        """Forget the pending pages of a paged result."""
        ...

    def add_pointer(self, asset_id: str, operator: str, workflow: str, pointer: str) -> None:
        """Record a stored result (the newest of its operator from now on)."""
        ...

    def drop_pointers(self, asset_id: str, operator: str) -> None:
        """Forget every stored result of the operator for the asset."""
        ...

    def emit(self, events: Iterable[Change]) -> None:
        """Append change events to the outbox, in this unit of work."""
        ...


class AssetStore(Protocol):
    """Transactions on assets and metadata pointers."""

    def read(self) -> AbstractContextManager[AssetReader]:
        """A read-only transaction that never blocks writers."""
        ...

    def write(self) -> AbstractContextManager[AssetTransaction]:
        """A unit of work, committed when the block ends and rolled back when it raises."""
        ...
