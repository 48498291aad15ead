"""Native operators used by the SDK tests. Each does a small piece of real work on its input."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from mie.operators import EXECUTING, OperatorContext, operator

# Observations the tests read back (operators run in worker threads of the same process).
state: dict[str, Any] = {"running": 0, "peak": 0, "stopped": threading.Event()}
_lock = threading.Lock()


@operator("SdkWordCount", media_type="Video", configuration={"MinLength": 1}, version="2.1.0")
def word_count(ctx: OperatorContext) -> dict[str, Any]:
    """Count the words of the input file (read as text) that are at least MinLength long."""
    text = ctx.input_file().read_bytes().decode("utf-8", "replace")
    ctx.progress(50, "counting")
    words = [w for w in text.split() if len(w) >= int(ctx.config("MinLength"))]
    ctx.save_results({"Words": len(words), "First": words[:3]})
    return {"WordCount": len(words)}


@operator("SdkPaged", media_type="Video", configuration={"Pages": 3})
def paged(ctx: OperatorContext) -> None:
    """Store Pages result pages."""
    with ctx.result_pages() as pages:
        for index in range(int(ctx.config("Pages"))):
            pages.add({"Page": index, "Items": list(range(index * 2, index * 2 + 2))})


@operator("SdkMedia", media_type="Video")
def media(ctx: OperatorContext) -> None:
    """Write the input reversed as a derived Text media object."""
    ctx.add_media("Text", ctx.input_file().read_bytes()[::-1], filename="reversed.bin")


@operator("SdkCooperative", media_type="Video", configuration={"Steps": 400})
def cooperative(ctx: OperatorContext) -> None:
    """Report progress step by step until done or cancelled."""
    steps = int(ctx.config("Steps"))
    try:
        for step in range(steps):
            ctx.progress(100 * step / steps, f"step {step} of {steps}")
            time.sleep(0.02)
    finally:
        if ctx.cancelled:
            state["stopped"].set()


@operator("SdkHang", media_type="Video", timeout=0.5)
def hang(ctx: OperatorContext) -> None:
    """Ignore time limits (sleeps past its timeout, without checking cancellation)."""
    time.sleep(2.0)


@operator("SdkLimited", media_type="Video", max_concurrent=1)
def limited(ctx: OperatorContext) -> None:
    """Track how many of its calls overlap."""
    with _lock:
        state["running"] += 1
        state["peak"] = max(state["peak"], state["running"])
    try:
        time.sleep(0.15)
    finally:
        with _lock:
            state["running"] -= 1


@operator("SdkAsyncJob", media_type="Video", configuration={"Polls": 3})
def async_start(ctx: OperatorContext) -> None:
    """Start a job: the monitor finishes it after Polls calls."""
    ctx.metadata["JobPolls"] = 0


@async_start.monitor
def async_monitor(ctx: OperatorContext) -> Any:
    ctx.metadata["JobPolls"] += 1
    if ctx.metadata["JobPolls"] < int(ctx.config("Polls")):
        return EXECUTING
    return {"JobDone": True}


@operator("SdkBadReturn", media_type="Video")
def bad_return(ctx: OperatorContext) -> Any:
    """Return something that is not an output."""
    return ["not", "a", "dict"]


@operator("SdkProcess", media_type="Video", isolation="process")
def in_process(ctx: OperatorContext) -> dict[str, Any]:
    """Say which process ran it, and count the words of the input (real work, in a worker process)."""
    ctx.progress(10, "in a worker process")
    words = len(ctx.input_file().read_bytes().split())
    ctx.save_results({"Words": words})
    return {"Pid": os.getpid(), "Words": words}


@operator("SdkProcessHang", media_type="Video", isolation="process", timeout=0.5)
def process_hang(ctx: OperatorContext) -> None:
    """Hang in a worker process (only killing the process stops it)."""
    while True:
        time.sleep(0.1)


ALL = [word_count, paged, media, cooperative, hang, limited, async_start, bad_return, in_process, process_hang]
