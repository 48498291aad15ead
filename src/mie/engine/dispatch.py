"""The dispatch seam: how the scheduler hands claimed tasks to workers.

The scheduler claims a task (a lease in the store), then calls :meth:`Dispatcher.submit`; from there the worker
side owns the call: it renews the lease, enforces the time limit and reports the outcome through the store,
guarded by the lease token (mie.engine.tracker), then calls the ``reported`` hook the scheduler gave to
:meth:`Dispatcher.start` (in this process, a wake-up; a remote worker has only the store, and the scheduler finds
its report when the lease runs out at the latest). Today's implementations: a thread pool
(mie.engine.workers.ThreadWorkers), a process pool (mie.engine.processes.ProcessWorkers), and
:class:`IsolationRouter`, which picks one of them per operator.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

from mie.engine.processes import ProcessWorkers, definition_ref
from mie.engine.tracker import Reported, TaskRun
from mie.engine.workers import ThreadWorkers
from mie.operators.definition import OperatorDefinition
from mie.operators.registry import OperatorRegistry


class Dispatcher(Protocol):
    """Runs claimed tasks (see the module docstring)."""

    def start(self, reported: Reported) -> None:
        """Call ``reported(run)`` whenever the outcome of a submitted run was reported through the store."""

    def capacity(self) -> int:
        """How many more runs would start at once (the scheduler claims no more than that)."""

    def submit(self, run: TaskRun) -> None:
        """Start ``run`` (its lease is held by ``run.token``)."""

    def abandon(self, run: TaskRun) -> None:
        """Stop a run if it can be stopped (a thread is told to stop, a process killed); nothing is reported."""

    def shutdown(self, grace: float = 0.0) -> None:
        """Stop taking work, wait up to ``grace`` seconds for running calls, stop what can be stopped."""


class IsolationRouter:
    """Threads for most operators, worker processes for those declared ``isolation="process"``.

    The process pool starts with the first operator call that asks for it. Capacity is the thread pool's size
    (``MIE_WORKERS``) across both, as one pool of places.
    """

    def __init__(
        self,
        threads: ThreadWorkers,
        registry: OperatorRegistry,
        processes: Callable[[], ProcessWorkers] | None = None,
        *,
        size: int,
    ) -> None:
        self._threads = threads
        self._registry = registry
        self._make_processes = processes
        self._processes: ProcessWorkers | None = None
        self._size = size
        self._reported: Reported = lambda run: None
        self._lock = threading.Lock()

    def start(self, reported: Reported) -> None:
        self._reported = reported
        self._threads.start(reported)

    def capacity(self) -> int:
        running = self._threads.running() + (self._processes.running() if self._processes is not None else 0)
        return self._size - running

    def submit(self, run: TaskRun) -> None:
        definition = self._definition(run.arn)
        if definition is not None and definition.isolation == "process" and self._make_processes is not None:
            self._process_pool().submit(run, definition_ref(definition))
            return
        self._threads.submit(run)

    def abandon(self, run: TaskRun) -> None:
        self._threads.abandon(run)
        if self._processes is not None:
            self._processes.abandon(run)

    def shutdown(self, grace: float = 0.0) -> None:
        deadline = time.monotonic() + grace
        self._threads.shutdown(grace)
        if self._processes is not None:
            self._processes.shutdown(max(0.0, deadline - time.monotonic()))

    def _process_pool(self) -> ProcessWorkers:
        with self._lock:
            if self._processes is None:
                assert self._make_processes is not None
                self._processes = self._make_processes()
                self._processes.start(self._reported)
            return self._processes

    def _definition(self, arn: str | None) -> OperatorDefinition | None:
        if arn is None:
            return None
        try:
            return self._registry.resolve(arn).definition
        except Exception:  # the worker reports why it cannot be resolved
            return None


def process_pool_size(configured: int) -> int:
    """``MIE_PROCESS_WORKERS`` (0: as many as CPUs)."""
    return configured or os.cpu_count() or 1
