"""One background loop: the thread(s) behind every ``while not stopping`` of the server's components.

A subclass implements :meth:`BackgroundLoop.step`, one unit of work, and says how long to sleep afterwards::

    class Sender(BackgroundLoop):
        def step(self) -> float | None:
            if self.queue.deliver_one():
                return 0.0             # did something: step again at once
            return self.queue.next_due_in()   # nothing now: sleep that long (None: until woken)

The loop calls ``step`` until :meth:`stop`; :meth:`wake` cuts a sleep short (call it when work is enqueued, so no
loop polls for it). A step that raises is logged and retried after a backoff (``backoff`` doubling to
``max_backoff`` while failures repeat, reset by the first success), so a database that fails now does not make the
thread spin. :meth:`interrupt` is the hook for steps that block in something else (a change-log wait): stop calls
it so that the loop ends at once rather than after its timeout.

Tests do not sleep: :meth:`drain` runs steps in the calling thread until one has nothing to do (like dramatiq's
``join``, deterministic: it returns when the work is done, and a failing step raises), and :meth:`join` waits until
the running threads are all idle with no wake pending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundLoop:
    """Runs :meth:`step` in ``threads`` daemon threads from :meth:`start` to :meth:`stop` (see the module doc)."""

    #: Whether steps must never run concurrently (one thread, and :meth:`drain` excludes it while it runs).
    exclusive = True

    def __init__(
        self,
        name: str,
        *,
        threads: int = 1,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        stop_timeout: float = 15.0,
        exclusive: bool | None = None,
    ) -> None:
        if exclusive is not None:
            self.exclusive = exclusive
        if self.exclusive and threads != 1:
            raise ValueError(f"{type(self).__name__} runs its steps one at a time: threads must be 1")
        self.loop_name = name
        self._thread_count = threads
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._stop_timeout = stop_timeout
        self._cond = threading.Condition()
        self._version = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        #: Threads asleep with nothing to do, and the wake version each saw when it went to sleep.
        self._idle: dict[int, int] = {}
        self._step_lock = threading.Lock()

    # To implement ------------------------------------------------------------------------------------------------

    def step(self) -> float | None:
        """Do one unit of work; seconds to sleep before the next step (0: at once; None: until woken)."""
        raise NotImplementedError

    def interrupt(self) -> None:
        """Cut short a step that blocks outside :meth:`wake`'s reach (called by :meth:`stop`); default: nothing."""

    def before_loop(self) -> None:
        """Run once in the (first) thread before the first step (e.g. finish an interrupted rebuild)."""

    # Lifecycle ---------------------------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (a long step checks it to give up early)."""
        return self._stopping.is_set()

    @property
    def running(self) -> bool:
        """Whether a loop thread is alive."""
        return any(t.is_alive() for t in self._threads)

    def start(self) -> None:
        """Start the threads (idempotent while running)."""
        if self.running:
            return
        self._stopping.clear()
        self._threads = []
        for index in range(self._thread_count):
            suffix = f"-{index}" if self._thread_count > 1 else ""
            thread = threading.Thread(
                target=self._run, args=(index == 0,), name=f"mie-{self.loop_name}{suffix}", daemon=True
            )
            self._threads.append(thread)
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop: wake and interrupt the threads and wait for the steps in progress (at most ``timeout`` s each)."""
        self._stopping.set()
        self.interrupt()
        self.wake()
        limit = self._stop_timeout if timeout is None else timeout
        for thread in self._threads:
            if thread is threading.current_thread():
                continue
            thread.join(limit)
            if thread.is_alive():
                log.warning("%s did not stop within %.0f s", thread.name, limit)
        self._threads = []
        with self._cond:
            self._idle.clear()
            self._cond.notify_all()

    def wake(self) -> None:
        """End the threads' sleep now (there is work)."""
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` unless stopped; True when stopped (for steps that pace themselves)."""
        return self._stopping.wait(seconds)

    # Tests -------------------------------------------------------------------------------------------------------

    def drain(self, max_steps: int = 100_000) -> int:
        """Run steps in the calling thread until one has nothing to do now; how many did work. A step's exception
        propagates (no backoff): tests see it."""
        done = 0
        while done < max_steps:
            if self.exclusive:
                with self._step_lock:
                    wait = self.step()
            else:
                wait = self.step()
            if wait is None or wait > 0:
                return done
            done += 1
        raise RuntimeError(f"{self.loop_name}: still busy after {max_steps} steps")

    def join(self, timeout: float = 30.0) -> bool:
        """Wait until every running thread sleeps with nothing to do and no wake pending; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                alive = [t for t in self._threads if t.is_alive()]
                if not alive or (
                    len(self._idle) == len(alive) and all(v == self._version for v in self._idle.values())
                ):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))

    # The thread --------------------------------------------------------------------------------------------------

    def _run(self, first: bool) -> None:
        ident = threading.get_ident()
        failures = 0
        if first:
            try:
                self.before_loop()
            except Exception:
                log.exception("%s failed to prepare; continuing", self.loop_name)
        while not self._stopping.is_set():
            with self._cond:
                seen = self._version
            try:
                if self.exclusive:
                    with self._step_lock:
                        wait = self.step()
                else:
                    wait = self.step()
                failures = 0
            except Exception:
                failures += 1
                wait = min(self._backoff * 2.0 ** (failures - 1), self._max_backoff)
                log.exception("%s failed (%d in a row); retrying in %.1f s", self.loop_name, failures, wait)
                # A failure is not a wake: sleep through the backoff unless stopped.
                self._stopping.wait(wait)
                continue
            if wait is not None and wait <= 0:
                continue
            with self._cond:
                if self._version != seen or self._stopping.is_set():
                    continue
                self._idle[ident] = seen
                self._cond.notify_all()
                try:
                    self._cond.wait(wait)
                finally:
                    self._idle.pop(ident, None)


class CallbackLoop(BackgroundLoop):
    """A :class:`BackgroundLoop` whose step is a function (for components that own a loop rather than being one).

    With several ``threads`` the steps run concurrently (the work they claim must be safe for that, as queue
    claims are)."""

    def __init__(
        self,
        name: str,
        step: Callable[[], float | None],
        *,
        threads: int = 1,
        interrupt: Callable[[], None] | None = None,
        before_loop: Callable[[], None] | None = None,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        stop_timeout: float = 15.0,
    ) -> None:
        super().__init__(
            name,
            threads=threads,
            backoff=backoff,
            max_backoff=max_backoff,
            stop_timeout=stop_timeout,
            exclusive=threads == 1,
        )
        self._step_fn = step
        self._interrupt_fn = interrupt
        self._before_fn = before_loop

    def step(self) -> float | None:
        """Call the step function."""
        return self._step_fn()

    def interrupt(self) -> None:
        """Call the interrupt function, if any."""
        if self._interrupt_fn is not None:
            self._interrupt_fn()

    def before_loop(self) -> None:
        """Call the preparation function, if any."""
        if self._before_fn is not None:
            self._before_fn()
