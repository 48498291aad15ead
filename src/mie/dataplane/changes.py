"""The change log: events written in the same transaction as each change, read by consumers by offset.

Writers append their events inside their transaction (the data plane through its unit of work, other stores
through :meth:`ChangeLog.append_many` with their transaction handle) and call :meth:`ChangeLog.notify` after it
commits, so a consumer woken by ``notify`` always finds the rows. Nothing is lost across a restart: the rows are
the log. Where and how they are kept (and why ``seq`` order is commit order) is the :class:`~mie.storage.outbox.
Outbox`'s business; the SQL one is ``mie.storage.sql.outbox``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from mie.storage.outbox import Change, Outbox
from mie.types import JSONDict

DATAPLANE = "Dataplane"
WORKFLOW_EXECUTION = "WorkflowExecution"

__all__ = ["ASYNC_POLL", "DATAPLANE", "WORKFLOW_EXECUTION", "Change", "ChangeLog", "execution_event"]

#: Seconds between reads of a long poll waiting in an event loop when no notify came (events of other nodes).
ASYNC_POLL = 1.0


class ChangeLog:
    """Append, read and follow the outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._cond = threading.Condition()
        self._version = 0
        #: Long polls waiting in event loops (``wait_async``): each loop's event is set on ``notify``.
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def outbox(self) -> Outbox:
        """The store the events are kept in."""
        return self._outbox

    def append(self, tx: Any, source: str, asset_id: str | None, payload: JSONDict) -> None:
        """Add one event inside the transaction ``tx`` (see :meth:`append_many`)."""
        self._outbox.append_many(tx, [(source, asset_id, payload)])

    def append_many(self, tx: Any, events: Iterable[Change]) -> None:
        """Add ``(source, asset_id, payload)`` events, in order, inside the transaction ``tx``: the transaction
        handle of a store on the outbox's backend (one statement). They become visible when it commits."""
        self._outbox.append_many(tx, events)

    def notify(self) -> None:
        """Wake followers; call after the transaction that appended has committed."""
        with self._cond:
            self._version += 1
            self._cond.notify_all()
            waiters = list(self._async_waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that event loop is closed: its waiter is gone
                loop.call_soon_threadsafe(event.set)

    def last_seq(self) -> int:
        """The newest sequence number (0 when the log is empty)."""
        return self._outbox.last_seq()

    def read(self, after: int = 0, limit: int = 100, source: str | None = None) -> list[JSONDict]:
        """Events with ``seq > after``, oldest first, at most ``limit``."""
        return self._outbox.read(after, limit, source)

    def wait(self, after: int, timeout: float) -> list[JSONDict]:
        """Like :meth:`read`, but block up to ``timeout`` seconds for an event when there is none yet."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._version
            events = self.read(after)
            remaining = deadline - time.monotonic()
            if events or remaining <= 0:
                return events
            with self._cond:
                if self._version == seen:
                    self._cond.wait(remaining)

    async def wait_async(self, after: int, timeout: float) -> list[JSONDict]:
        """:meth:`wait` for an event loop: the wait holds no thread (a long poll per client must not take one from
        the pool every synchronous route runs in). Reads run briefly on the loop's default executor.

        Besides :meth:`notify`, the log is read again every :data:`ASYNC_POLL` seconds, so events committed by
        another node (PostgreSQL) are seen too.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waiter = (loop, asyncio.Event())
        with self._cond:
            self._async_waiters.add(waiter)
        try:
            while True:
                waiter[1].clear()  # before reading: a notify from now on wakes the wait below
                events = await asyncio.to_thread(self.read, after)
                remaining = deadline - loop.time()
                if events or remaining <= 0:
                    return events
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter[1].wait(), min(remaining, ASYNC_POLL))
        finally:
            with self._cond:
                self._async_waiters.discard(waiter)

    def follow(self, after: int, stop: threading.Event, batch: int = 100) -> Iterator[JSONDict]:
        """Yield events after ``after`` for ever (until ``stop`` is set), waking on ``notify``."""
        while not stop.is_set():
            for event in self.wait(after, timeout=1.0):
                after = int(event["seq"])
                yield event

    def __repr__(self) -> str:
        return f"ChangeLog({self._outbox.describe()!r})"


def execution_event(record: JSONDict) -> dict[str, Any]:
    """MIE's workflow-stream payload for a status change."""
    return {
        "Id": record["Id"],
        "AssetId": record.get("AssetId"),
        "Status": record.get("Status"),
        "CurrentStage": record.get("CurrentStage"),
        "Message": record.get("Message"),
        "Globals": record.get("Globals", {}),
        "Configuration": record.get("Configuration", {}),
        "Created": record.get("Created"),
    }
