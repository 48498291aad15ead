"""A process-isolated native operator for the e2e tests, loaded by ``mie serve`` as the plugin
``tests.e2e.process_ops:register``: it records its worker's pid, then works (writes) until killed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mie.operators import OperatorContext, OperatorRegistry, operator


@operator("E2eProcessWriter", media_type="Video", isolation="process", configuration={"PidFile": ""})
def process_writer(ctx: OperatorContext) -> None:
    """Write this worker's pid to PidFile, then keep appending to it (a worker writing results) for a minute."""
    path = Path(str(ctx.config("PidFile")))
    path.write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with path.open("a") as fh:
            fh.write(".")
        time.sleep(0.1)


def register(registry: OperatorRegistry) -> None:
    """Plugin entry point."""
    registry.register(process_writer)
