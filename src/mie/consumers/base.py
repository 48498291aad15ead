"""A reusable change-stream consumer: follow the outbox from a persisted offset, hand batches to a handler.

How to use it (the notifications consumer in ``consumers/notify.py`` is a worked example)::

    consumer = ChangeConsumer("search-index", changes, offsets, handle=index_batch, sources={DATAPLANE})
    consumer.start()   # a daemon thread
    ...
    consumer.stop()    # returns within ``idle_timeout`` seconds plus the batch being handled

Guarantees and the contract of ``handle``:

- Events reach ``handle`` in ``seq`` order, in batches of at most ``batch_size``, each event once per process.
- The offset (the ``seq`` of the last event of a handled batch) is saved through the :class:`OffsetStore` *after*
  ``handle`` returns. A crash between the two makes the next start hand the same batch again, so delivery is
  **at least once**: ``handle`` must be idempotent per event ``seq`` (e.g. an insert that ignores a duplicate key,
  an upsert keyed by the document id). Nothing is ever skipped: when ``handle`` raises, the batch is retried with
  a backoff (1 s doubling to 60 s) until it succeeds or the consumer stops, and the offset does not move.
- Events of other sources (``sources``) are not handed over, but the offset moves past them.
- The first start, with no saved offset, begins at the first event (``start_at="beginning"``) or after the last
  event present then (``start_at="end"``, for consumers that only care about what happens from now on).
- Several processes may run the same consumer (PostgreSQL): each reads the whole stream, offsets never move
  backwards, and idempotent handlers make the overlap harmless.

The thread blocks in :meth:`mie.dataplane.changes.ChangeLog.wait`, which wakes as soon as a writer calls
``ChangeLog.notify`` after its commit; ``idle_timeout`` only bounds how long :meth:`ChangeConsumer.stop` waits and
how quickly events appended by another process are seen.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from typing import Literal, Protocol

from mie.dataplane.changes import ChangeLog
from mie.types import JSONDict

log = logging.getLogger(__name__)

#: ``handle(events)``: each event is a :meth:`ChangeLog.read` item ``{seq, source, AssetId, created, payload}``.
Handler = Callable[[list[JSONDict]], None]


class OffsetStore(Protocol):
    """Where consumers keep their offsets (``mie.storage.sql.notify_tables.SqlOffsetStore``)."""

    def load(self, name: str) -> int | None:
        """The saved offset of consumer ``name``, or None when it never saved one."""

    def save(self, name: str, seq: int) -> None:
        """Store ``seq`` as the offset of ``name`` (an offset never moves backwards)."""


class ChangeConsumer:
    """Follows the change log in a daemon thread and hands batches of events to ``handle`` (see the module doc)."""

    def __init__(
        self,
        name: str,
        changes: ChangeLog,
        offsets: OffsetStore,
        handle: Handler,
        *,
        sources: Collection[str] | None = None,
        start_at: Literal["beginning", "end"] = "beginning",
        batch_size: int = 100,
        idle_timeout: float = 0.5,
    ) -> None:
        self.name = name
        self._changes = changes
        self._offsets = offsets
        self._handle = handle
        self._sources = frozenset(sources) if sources is not None else None
        self._start_at = start_at
        self._batch_size = batch_size
        self._idle_timeout = idle_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._offset = 0
        self._progress = threading.Condition()

    @property
    def offset(self) -> int:
        """The ``seq`` of the last event handled (and saved)."""
        return self._offset

    @property
    def running(self) -> bool:
        """Whether the thread is following the log."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Load (or initialise and save) the offset, then start following. Idempotent."""
        if self.running:
            return
        saved = self._offsets.load(self.name)
        if saved is None:
            saved = self._changes.last_seq() if self._start_at == "end" else 0
            self._offsets.save(self.name, saved)
        self._offset = saved
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"mie-consumer-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop following; waits for the batch being handled (at most ``timeout`` seconds). Idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("consumer %s did not stop within %.0f s", self.name, timeout)
        self._thread = None
        with self._progress:
            self._progress.notify_all()

    def wait_until(self, seq: int, timeout: float) -> bool:
        """Block until every event up to ``seq`` is handled (True) or ``timeout`` passes (False)."""
        with self._progress:
            return self._progress.wait_for(lambda: self._offset >= seq or self._stop.is_set(), timeout) and (
                self._offset >= seq
            )

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                events = self._changes.wait(self._offset, self._idle_timeout)
            except Exception:
                failures += 1
                log.exception("consumer %s cannot read the change log (%d in a row)", self.name, failures)
                self._stop.wait(min(2.0**failures, 60.0))
                continue
            if not events or self._stop.is_set():
                continue
            events = events[: self._batch_size]
            wanted = [e for e in events if self._sources is None or e["source"] in self._sources]
            last = int(events[-1]["seq"])
            try:
                if wanted:
                    self._handle(wanted)
                self._offsets.save(self.name, last)
            except Exception:
                failures += 1
                # Never skip: the same batch comes again after the backoff (the handler is idempotent).
                log.exception("consumer %s failed on events %s..%s (%d in a row); retrying", self.name,
                              events[0]["seq"], last, failures)  # fmt: skip
                self._stop.wait(min(2.0 ** (failures - 1), 60.0))
                continue
            failures = 0
            with self._progress:
                self._offset = last
                self._progress.notify_all()
