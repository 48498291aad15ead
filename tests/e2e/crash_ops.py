"""Native operators for the crash tests (tests/e2e/test_crash_pages.py), loaded by ``mie serve`` as the plugin
``tests.e2e.crash_ops:register``: they store a paged result slowly, so that the test can ``kill -9`` the server
between (or during) page writes, and they journal every step to a file the test reads (the server's own state is out
of the test's reach, and dies with it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mie.operators import OperatorContext, OperatorRegistry, operator

CONFIGURATION = {"Pages": 6, "PauseSeconds": 0.05, "Journal": "", "Holds": ""}

#: How long a held attempt waits to be killed before it goes on (only when the test died without killing it).
HOLD_SECONDS = 120.0


def _journal(ctx: OperatorContext, line: str) -> int:
    """Append one line (flushed and synced: the test reads it while the server may be killed at any moment);
    returns the attempt number (the count of ``start`` lines so far)."""
    path = Path(str(ctx.config("Journal")))
    with path.open("a") as fh:
        fh.write(f"{line}\n")
        fh.flush()
        os.fsync(fh.fileno())
    return sum(1 for seen in path.read_text().splitlines() if seen.startswith("start "))


def _write_pages(ctx: OperatorContext) -> None:
    """Store pages ``{"Page": 0..Pages-1}`` of one result, pausing between them.

    Journal lines: ``start <pid>`` per attempt; ``writing <i>`` just before page ``i`` is written and ``stored <i>``
    once it is (``ResultPages`` stores a page when the next one is added, the last one on close, with ``end``);
    ``done`` when the result is finished. ``Holds`` (comma-separated page numbers, one per attempt) makes attempt
    number n stop after ``stored <Holds[n-1]>`` and wait there to be killed, so that a kill always interrupts that
    attempt however slow the machine is; later attempts run through.
    """
    pages_wanted = int(ctx.config("Pages"))
    pause = float(ctx.config("PauseSeconds"))
    holds = [int(h) for h in str(ctx.config("Holds")).split(",") if h.strip()]
    attempt = _journal(ctx, f"start {os.getpid()}")
    hold = holds[attempt - 1] if attempt <= len(holds) else None

    def stored(index: int) -> None:
        _journal(ctx, f"stored {index}")
        if index == hold:
            deadline = time.monotonic() + HOLD_SECONDS
            while time.monotonic() < deadline:
                time.sleep(0.05)

    with ctx.result_pages() as pages:
        for index in range(pages_wanted):
            if index > 0:
                _journal(ctx, f"writing {index - 1}")
            pages.add({"Page": index, "Pid": os.getpid(), "Attempt": attempt})
            if index > 0:
                stored(index - 1)
            time.sleep(pause)
        _journal(ctx, f"writing {pages_wanted - 1}")
    stored(pages_wanted - 1)
    _journal(ctx, "done")


@operator("E2eCrashPages", media_type="Video", configuration=CONFIGURATION)
def crash_pages(ctx: OperatorContext) -> None:
    """A paged result written slowly by a worker thread of the server."""
    _write_pages(ctx)


@operator("E2eCrashPagesProcess", media_type="Video", isolation="process", configuration=CONFIGURATION)
def crash_pages_process(ctx: OperatorContext) -> None:
    """The same, in a worker process (which must die with the killed server, not keep writing)."""
    _write_pages(ctx)


def register(registry: OperatorRegistry) -> None:
    """Plugin entry point."""
    registry.register(crash_pages)
    registry.register(crash_pages_process)
