"""The one background loop (mie.background): steps, wake, backoff, stop at once, drain and join."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from mie.background import BackgroundLoop, CallbackLoop


class Counter(BackgroundLoop):
    """Does one unit per queued item; sleeps until woken when there is none."""

    def __init__(self, **kwargs: float) -> None:
        super().__init__("counter", **kwargs)  # type: ignore[arg-type]
        self.items = 0
        self.done = 0
        self.lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        with self.lock:
            self.items += n
        self.wake()

    def step(self) -> float | None:
        with self.lock:
            if not self.items:
                return None
            self.items -= 1
            self.done += 1
        return 0.0


def test_drain_runs_every_step_in_the_calling_thread_until_idle() -> None:
    loop = Counter()
    loop.items = 5
    assert loop.drain() == 5
    assert loop.done == 5
    assert loop.drain() == 0
    assert not loop.running


def test_drain_raises_the_failure_of_a_step() -> None:
    def fail() -> float | None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        CallbackLoop("failing", fail).drain()


def test_wake_ends_the_sleep_at_once_and_join_waits_for_idle() -> None:
    loop = Counter()
    loop.start()
    try:
        assert loop.join(5)
        began = time.monotonic()
        loop.add(3)
        assert loop.join(5)
        assert loop.done == 3
        assert time.monotonic() - began < 1.0  # woken, not a poll
    finally:
        loop.stop()
    assert not loop.running


def test_stop_interrupts_a_long_sleep_at_once() -> None:
    loop = CallbackLoop("sleeper", lambda: 3600.0)
    loop.start()
    assert loop.join(5)
    began = time.monotonic()
    loop.stop()
    assert time.monotonic() - began < 1.0
    assert not loop.running


def test_failures_back_off_doubling_and_a_success_resets() -> None:
    calls: list[float] = []

    def flaky() -> float | None:
        calls.append(time.monotonic())
        if len(calls) <= 3:
            raise RuntimeError("database down")
        return None

    loop = CallbackLoop("flaky", flaky, backoff=0.05, max_backoff=0.1)
    loop.start()
    try:
        deadline = time.monotonic() + 5
        while len(calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        loop.stop()
    assert len(calls) == 4
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.045
    assert gaps[1] >= 0.095
    assert gaps[2] >= 0.095


def test_several_threads_share_the_work() -> None:
    seen: set[str] = set()
    lock = threading.Lock()
    barrier = threading.Barrier(3, timeout=5)
    left = [3]

    def work() -> float | None:
        with lock:
            if not left[0]:
                return None
            left[0] -= 1
        barrier.wait()  # three steps at the same time: three threads
        with lock:
            seen.add(threading.current_thread().name)
        return 0.0

    loop = CallbackLoop("pool", work, threads=3)
    loop.start()
    try:
        assert loop.join(10)
    finally:
        loop.stop()
    assert seen == {"mie-pool-0", "mie-pool-1", "mie-pool-2"}


def test_an_exclusive_loop_has_one_thread() -> None:
    with pytest.raises(ValueError, match="threads must be 1"):
        Counter(threads=2)
