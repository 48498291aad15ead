"""Worker processes for operators declared ``isolation="process"``: CPU-heavy work off the server's interpreter,
and calls that can really be stopped (a thread cannot be killed; a process can).

Each worker process lives across calls, so a model an operator loads stays loaded (once per process), and runs
one call at a time. A call past its time limit, or whose execution was cancelled, has its process killed; the
next call starts a fresh one.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mie.dataplane.service import DataPlane
from mie.engine.tracker import Reported, RunTracker
from mie.engine.workers import Outcome, TaskRun, TaskSignals, error_outcome, run_task
from mie.operators.definition import OperatorDefinition
from mie.operators.registry import OperatorRegistry
from mie.storage.engine import WorkerStore

if TYPE_CHECKING:
    from mie.storage.faces import FaceCollections
    from mie.storage.people import People

log = logging.getLogger(__name__)

# spawn, not fork: the server has threads (scheduler, workers, uvicorn) and forking those is unsafe.
_CTX = multiprocessing.get_context("spawn")


@dataclass
class WorkerResources:
    """What a worker process needs, built inside it by the factory the composition root hands over."""

    registry: OperatorRegistry
    dataplane: DataPlane
    #: Progress and cancellation of the running call.
    store: WorkerStore
    #: Releases what the factory opened (database connections), when the process ends.
    close: Callable[[], None] = lambda: None
    scratch_root: Path | None = None
    #: The face collections operators reach as ``ctx.faces`` (None: none).
    faces: FaceCollections | None = None
    #: The people store operators reach as ``ctx.people`` (None: none).
    people: People | None = None


#: A picklable callable (a module-level function, or functools.partial of one) building WorkerResources.
ResourceFactory = Callable[[], WorkerResources]


def definition_ref(definition: OperatorDefinition) -> str | None:
    """``module:attribute`` under which a decorated operator can be imported in another process."""
    module = getattr(definition.function, "__module__", None)
    name = getattr(definition.function, "__qualname__", "")
    if not module or "<locals>" in name:
        return None
    return f"{module}:{name}"


#: Numeric libraries' thread pools, capped in worker processes (unless the environment sets them).
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


#: ``prctl`` option: the signal the kernel sends this process when its parent (thread) ends.
_PR_SET_PDEATHSIG = 1
#: How often a worker process checks that its parent is still alive (the fallback where prctl is missing).
_PARENT_POLL = 0.5


def _die_with_parent(parent_pid: int) -> None:
    """Make sure this worker process cannot outlive the server (a ``kill -9`` of it runs no clean-up).

    An orphaned worker would keep writing results while the restarted server re-runs the same task. On Linux the
    kernel kills us with the parent (``PR_SET_PDEATHSIG``); everywhere, a thread watches for re-parenting as a
    fallback, and we check once right away in case the parent died before the ``prctl``.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(_PARENT_POLL)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="mie-parent-watch", daemon=True).start()


def limit_memory(memory_mb: int) -> bool:
    """Cap this process's address space at ``memory_mb`` MiB (``RLIMIT_AS``); False where that is not possible.

    Past the cap an allocation fails in the operator (``MemoryError`` in Python, an allocation error in numpy,
    torch or onnxruntime) and fails that task, instead of the kernel's OOM killer picking a victim, possibly the
    server. Address space, not resident memory, is what the kernel can bound per process: shared libraries and
    thread stacks count too (torch, onnxruntime, dlib and OpenCV together map about 0.9 GiB before any work).
    """
    if memory_mb <= 0:
        return False
    try:
        import resource
    except ImportError:  # not on POSIX
        return False
    limit = memory_mb * 2**20
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        log.warning("could not limit worker process memory to %d MiB", memory_mb)
        return False
    return True


def _memory_message(outcome: Outcome, run: TaskRun, memory_mb: int) -> Outcome:
    """Say which limit a ``MemoryError`` ran into (Python's own message is empty)."""
    if memory_mb <= 0 or not (outcome.error or "").startswith("MemoryError"):
        return outcome
    return replace(
        outcome,
        error=(
            f"MemoryError: {run.operation} ran out of memory in its worker process, which may use {memory_mb} MiB "
            "(MIE_WORKER_MEMORY_MB)"
        ),
    )


def _child_main(conn: Connection, factory: ResourceFactory, parent_pid: int | None = None, memory_mb: int = 0) -> None:
    """Worker process: build resources once, then run calls until told to stop."""
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    limit_memory(memory_mb)
    # There are as many worker processes as CPUs, running operators side by side: one compute thread each. Pools
    # sized to every core in every process would oversubscribe the CPUs several times over and spin against each
    # other (measured: a video stage three times slower). Set before any numeric library is imported.
    for variable in _THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")
    resources = factory()
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            run, ref = message
            if ref is not None:
                _ensure_registered(resources.registry, ref)
            signals = TaskSignals(resources.store, run.task_id, run.token)
            outcome = run_task(
                run,
                resources.registry,
                resources.dataplane,
                signals,
                resources.scratch_root,
                faces=resources.faces,
                people=resources.people,
            )
            conn.send(_memory_message(outcome, run, memory_mb))
    finally:
        resources.close()


def _ensure_registered(registry: OperatorRegistry, ref: str) -> None:
    module_name, _, attr = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return  # run_task reports that the operator cannot be found
    if isinstance(target, OperatorDefinition) and registry.definition(target.name) is None:
        registry.register(target)


class _Worker:
    """One worker process and the thread in this process that waits for its answers."""

    def __init__(self, factory: ResourceFactory, index: int, memory_mb: int = 0) -> None:
        parent, child = _CTX.Pipe()
        self.conn = parent
        self.process: SpawnProcess = _CTX.Process(
            target=_child_main,
            args=(child, factory, os.getpid(), memory_mb),
            name=f"mie-process-worker-{index}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.run: TaskRun | None = None

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        # The call thread waiting in recv() on this pipe may be closing it at the same moment (its worker died
        # under it): a second close of the same descriptor is EBADF, and the pipe is closed either way.
        with contextlib.suppress(OSError):
            self.conn.close()


class ProcessWorkers:
    """A :class:`mie.engine.dispatch.Dispatcher` on a small pool of worker processes; calls beyond its size wait
    in order (their time limits count from their submission, as from their claim)."""

    def __init__(
        self, size: int, factory: ResourceFactory, store: WorkerStore, *, lease_seconds: float, memory_mb: int = 0
    ) -> None:
        self._size = max(1, size)
        self._tracker = RunTracker(store, lease_seconds, self.abandon, name="processes")
        #: Address-space limit of each worker process in MiB (``MIE_WORKER_MEMORY_MB``; 0: none).
        self._memory_mb = memory_mb
        self._factory = factory
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: dict[tuple[int, str], _Worker] = {}
        self._queue: list[tuple[TaskRun, str | None]] = []
        self._count = 0
        self._closed = False
        # Processes are started from this one long-lived thread: PR_SET_PDEATHSIG fires when the *thread* that
        # started a child ends, and _dispatch also runs on the short-lived per-call threads.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="mie-process-spawner")

    def start(self, reported: Reported) -> None:
        """Call ``reported(run)`` after each reported outcome."""
        self._tracker.on_reported(reported)

    def capacity(self) -> int:
        """Free processes (calls beyond them wait in order)."""
        return self._size - self._tracker.running()

    def running(self) -> int:
        """Calls running or waiting for a process."""
        return self._tracker.running()

    def submit(self, run: TaskRun, ref: str | None = None) -> None:
        """Run ``run`` in a worker process (queued while all are busy); ``ref`` imports its operator there."""
        with self._lock:
            if self._closed:
                return
            self._queue.append((run, ref))
        self._tracker.begin(run)
        self._dispatch()

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if not self._queue or self._closed:
                    return
                worker = self._idle.pop() if self._idle else None
                if worker is None and len(self._busy) >= self._size:
                    return
                run, ref = self._queue.pop(0)
                if worker is None:
                    self._count += 1
                    index = self._count
            if worker is None:
                try:
                    worker = self._spawner.submit(_Worker, self._factory, index, self._memory_mb).result()
                except Exception as exc:  # cannot start a process: fail the call, not the scheduler
                    log.exception("could not start a worker process")
                    self._tracker.finish(run, error_outcome(run.task_id, run.token, exc))
                    continue
            with self._lock:
                worker.run = run
                self._busy[(run.task_id, run.token)] = worker
            threading.Thread(
                target=self._call, args=(worker, run, ref), name=f"mie-process-call-{run.task_id}", daemon=True
            ).start()

    def _call(self, worker: _Worker, run: TaskRun, ref: str | None) -> None:
        outcome: Outcome | None
        try:
            worker.conn.send((replace(run), ref))
            outcome = worker.conn.recv()
        except Exception:
            # The process died (EOFError, OSError), or abandon() closed the pipe under this very recv, which
            # multiprocessing reports as whatever the half-closed handle raises (TypeError, ValueError, OSError).
            outcome = None
        with self._lock:
            mine = self._busy.pop((run.task_id, run.token), None) is worker
            keep = outcome is not None and mine and not self._closed and worker.alive()
            if keep:
                worker.run = None
                self._idle.append(worker)
        if not keep:
            worker.kill()
        if outcome is None:
            if mine:
                # The process died under the call (out of memory, a crash in native code): say so.
                code = worker.process.exitcode
                hint = (
                    f"; it may use {self._memory_mb} MiB (MIE_WORKER_MEMORY_MB), running out is a likely cause"
                    if self._memory_mb > 0
                    else ""
                )
                outcome = error_outcome(
                    run.task_id,
                    run.token,
                    RuntimeError(f"the worker process running {run.operation} died (exit code {code}){hint}"),
                )
            else:
                return  # killed on purpose (timeout, cancel): the scheduler already reported the task
        self._tracker.finish(run, outcome)
        self._dispatch()

    def abandon(self, run: TaskRun) -> None:
        """Stop a call: kill its process (or drop it from the queue)."""
        with self._lock:
            self._queue = [(r, ref) for r, ref in self._queue if (r.task_id, r.token) != (run.task_id, run.token)]
            worker = self._busy.pop((run.task_id, run.token), None)
        if worker is not None:
            log.info("killing the worker process of task %s (%s)", run.task_id, run.operation)
            worker.kill()
            self._dispatch()

    def shutdown(self, grace: float = 0.0) -> None:
        """Stop taking work and stop the idle processes; wait up to ``grace`` seconds for busy ones, then kill
        them (their tasks run again)."""
        self._close_idle()
        deadline = time.monotonic() + grace
        while self._tracker.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.kill_all()
        self._tracker.close()

    def _close_idle(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            worker.process.join(2)
            worker.kill()

    def kill_all(self) -> None:
        """Kill every process still running (after the grace period of a shutdown)."""
        with self._lock:
            busy = list(self._busy.values())
            self._busy.clear()
        for worker in busy:
            worker.kill()
