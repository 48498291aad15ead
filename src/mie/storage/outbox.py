"""The change log's outbox interface: events appended inside the writer's transaction, read back by offset.

A writer appends its events through the unit of work it already holds (the data plane's
:meth:`AssetTransaction.emit <mie.storage.assets.AssetTransaction.emit>`, or :meth:`Outbox.append_many` with the
transaction handle of a store on the same backend), so a change and its event commit together. Readers follow
``seq`` order; see ``mie.storage.sql.outbox`` for how the SQL implementation keeps ``seq`` order equal to commit
order on PostgreSQL. Only the composition root picks an implementation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeAlias

from mie.types import JSONDict

#: One change event: ``(source, asset_id, payload)``.
Change: TypeAlias = tuple[str, str | None, JSONDict]


class Outbox(Protocol):
    """Append and read the change events."""

    def append_many(self, tx: Any, events: Iterable[Change]) -> None:
        """Add ``events``, in order, inside the transaction ``tx`` (the backend's transaction handle, e.g. the
        ``handle`` of a :class:`~mie.storage.assets.AssetTransaction`); nothing is written when it rolls back."""
        ...

    def last_seq(self) -> int:
        """The newest sequence number (0 when the log is empty)."""
        ...

    def read(self, after: int = 0, limit: int = 100, source: str | None = None) -> list[JSONDict]:
        """Events with ``seq > after``, oldest first, at most ``limit``: ``{seq, source, AssetId, created,
        payload}``."""
        ...

    def describe(self) -> str:
        """Where the events are kept (for ``repr`` and logs)."""
        ...
