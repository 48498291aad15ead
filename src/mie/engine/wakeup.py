"""The scheduler's doorbell, created before the scheduler so that the API side can be wired to it first."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Waker:
    """Whoever changes what the engine may do (an API call creating, resuming or cancelling an execution, a
    configuration change) calls :meth:`wake`; the schedulers attached to it (one per server) run a step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: list[Callable[[], None]] = []

    def attach(self, target: Callable[[], None]) -> None:
        """Call ``target`` on every :meth:`wake` from now on."""
        with self._lock:
            self._targets.append(target)

    def wake(self) -> None:
        """Ring: every attached scheduler runs a step soon, admission included."""
        for target in tuple(self._targets):
            target()
