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

**Transactional offsets** (``apply=`` instead of ``handle=``): ``apply(events, seq)`` writes its changes and the
offset ``seq`` in ONE transaction of its own store (the search index does), so a restart resumes exactly after the
last applied batch; the consumer then never saves through the :class:`OffsetStore` (it only loads from it), and
``apply`` gets every event of the batch (``sources`` does not filter), since it stores the offset of them all.

The consumer is a :class:`~mie.background.BackgroundLoop`: it blocks in the change log's wait (woken as soon as a
writer calls ``ChangeLog.notify`` after its commit, and at once by :meth:`ChangeConsumer.stop`); ``idle_timeout``
only bounds how quickly events appended by another process are seen. Tests call :meth:`drain` to handle everything
committed so far in their own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Collection
from typing import Literal, Protocol

from mie.background import BackgroundLoop
from mie.dataplane.changes import ChangeLog
from mie.types import JSONDict

log = logging.getLogger(__name__)

#: ``handle(events)``: each event is a :meth:`ChangeLog.read` item ``{seq, source, AssetId, created, payload}``.
Handler = Callable[[list[JSONDict]], None]
#: ``apply(events, seq)``: handle the events and store ``seq`` as the offset in the same transaction.
Applier = Callable[[list[JSONDict], int], None]


class OffsetStore(Protocol):
    """Where consumers keep their offsets (``mie.storage.sql.notify_tables.SqlOffsetStore``)."""

    def load(self, name: str) -> int | None:
        """The saved offset of consumer ``name``, or None when it never saved one."""

    def save(self, name: str, seq: int) -> None:
        """Store ``seq`` as the offset of ``name`` (an offset never moves backwards)."""


class LogWaiter:
    """Waits on the change log like :meth:`ChangeLog.wait`, but :meth:`interrupt` ends the wait at once.

    ``ChangeLog.wait`` only returns on an event or its timeout; its event-loop twin ``wait_async`` can be raced
    against a stop signal, so the (rare) idle wait runs in a small event loop owned by the waiting thread, and the
    common case, events already there, is a plain read.
    """

    def __init__(self, changes: ChangeLog) -> None:
        self._changes = changes
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._interrupted = False

    def reset(self) -> None:
        """Allow waiting again after :meth:`interrupt` (a restart, once the waiting thread ended)."""
        self.close()
        with self._lock:
            self._interrupted = False

    def wait(self, after: int, timeout: float) -> list[JSONDict]:
        """Events after ``after``; blocks up to ``timeout`` s for one, unless interrupted."""
        events = self._changes.read(after)
        if events or timeout <= 0:
            return events
        with self._lock:
            if self._interrupted:
                return []
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._stop = asyncio.Event()
            loop = self._loop
        return loop.run_until_complete(self._race(after, timeout))

    async def _race(self, after: int, timeout: float) -> list[JSONDict]:
        assert self._stop is not None
        waiting = asyncio.ensure_future(self._changes.wait_async(after, timeout))
        stopped = asyncio.ensure_future(self._stop.wait())
        done, pending = await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return waiting.result() if waiting in done else []

    def interrupt(self) -> None:
        """End a wait in progress (and every later one until :meth:`reset`)."""
        with self._lock:
            self._interrupted = True
            loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(stop.set)

    def close(self) -> None:
        """Release the event loop (after the waiting thread ended)."""
        with self._lock:
            loop, self._loop, self._stop = self._loop, None, None
        if loop is not None:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()


class ChangeConsumer(BackgroundLoop):
    """Follows the change log in a daemon thread and hands batches of events to ``handle`` (see the module doc)."""

    def __init__(
        self,
        name: str,
        changes: ChangeLog,
        offsets: OffsetStore,
        handle: Handler | None = None,
        *,
        apply: Applier | None = None,
        sources: Collection[str] | None = None,
        start_at: Literal["beginning", "end"] = "beginning",
        batch_size: int = 100,
        idle_timeout: float = 0.5,
        wait_limit: Callable[[], float | None] | None = None,
        after_batch: Callable[[], None] | None = None,
        prepare: Callable[[], None] | None = None,
        max_backoff: float = 60.0,
    ) -> None:
        # Not "exclusive": the step waits on the log without the step lock; only handling a batch takes it, so that
        # drain() in a test's thread never waits for an idle wait to time out.
        super().__init__(f"consumer-{name}", max_backoff=max_backoff, stop_timeout=10.0, exclusive=False)
        if (handle is None) == (apply is None):
            raise ValueError("give exactly one of handle (offset saved after it) or apply (offset stored by it)")
        self.name = name
        self._changes = changes
        self._offsets = offsets
        self._handle = handle
        self._apply = apply
        self._sources = frozenset(sources) if sources is not None and apply is None else None
        self._start_at = start_at
        self._batch_size = batch_size
        self._idle_timeout = idle_timeout
        self._wait_limit = wait_limit
        self._after_batch = after_batch
        self._prepare = prepare
        self._waiter = LogWaiter(changes)
        self._offset = 0
        self._progress = threading.Condition()

    @property
    def offset(self) -> int:
        """The ``seq`` of the last event handled (and saved)."""
        return self._offset

    def seek(self, seq: int) -> None:
        """Continue after ``seq`` (a rebuild that stored its own offset); never moves backwards."""
        with self._progress:
            self._offset = max(self._offset, seq)
            self._progress.notify_all()

    def load_offset(self) -> int:
        """Load (or initialise and save) the offset; called by :meth:`start`."""
        saved = self._offsets.load(self.name)
        if saved is None:
            saved = self._changes.last_seq() if self._start_at == "end" else 0
            self._offsets.save(self.name, saved)
        with self._progress:
            self._offset = saved
        return saved

    def start(self) -> None:
        """Load (or initialise and save) the offset, then start following. Idempotent."""
        if self.running:
            return
        self.load_offset()
        self._waiter.reset()
        super().start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop following at once; waits for the batch being handled (at most ``timeout`` seconds). Idempotent."""
        threads = list(self._threads)
        super().stop(timeout)
        if not any(t.is_alive() for t in threads):
            self._waiter.close()
        with self._progress:
            self._progress.notify_all()

    def wait_until(self, seq: int, timeout: float) -> bool:
        """Block until every event up to ``seq`` is handled (True) or ``timeout`` passes (False)."""
        with self._progress:
            return self._progress.wait_for(lambda: self._offset >= seq or self.stopping, timeout) and (
                self._offset >= seq
            )

    # The loop ----------------------------------------------------------------------------------------------------

    def interrupt(self) -> None:
        """End the change-log wait in progress (stop)."""
        self._waiter.interrupt()

    def before_loop(self) -> None:
        """Run the ``prepare`` hook (the search index finishes an interrupted rebuild)."""
        if self._prepare is not None:
            self._prepare()

    def step(self) -> float | None:
        """Wait for events (bounded by ``idle_timeout`` and ``wait_limit``), handle one batch; then ``after_batch``."""
        timeout = self._idle_timeout
        if self._wait_limit is not None:
            limit = self._wait_limit()
            if limit is not None:
                timeout = max(0.0, min(timeout, limit))
        events = self._waiter.wait(self._offset, timeout) if not self.stopping else []
        if self.stopping:
            return None
        with self._step_lock:
            self.handle_batch(events)
        if self._after_batch is not None:
            self._after_batch()
        # The wait above is the sleep: step again at once.
        return 0.0

    def handle_batch(self, events: list[JSONDict]) -> bool:
        """Hand over one batch of ``events`` (read after the offset) and move the offset; whether there was one.
        Raises (the offset unmoved) when the handler fails: the loop retries after its backoff. The caller holds
        the step lock."""
        events = [e for e in events if int(e["seq"]) > self._offset][: self._batch_size]
        if not events:
            return False
        last = int(events[-1]["seq"])
        if self._apply is not None:
            self._apply(events, last)
        else:
            assert self._handle is not None
            wanted = [e for e in events if self._sources is None or e["source"] in self._sources]
            if wanted:
                self._handle(wanted)
            self._offsets.save(self.name, last)
        self.seek(last)
        return True

    def drain(self, max_steps: int = 100_000) -> int:
        """Handle every event committed so far in the calling thread; how many batches. A failure raises."""
        batches = 0
        while batches < max_steps:
            with self._step_lock:
                if not self.handle_batch(self._changes.read(self._offset, limit=self._batch_size)):
                    return batches
            batches += 1
        raise RuntimeError(f"consumer {self.name}: still busy after {max_steps} batches")
