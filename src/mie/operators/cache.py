"""Models loaded once per (worker) process: the one "load on first use, then keep" helper of the operators.

Loading a model (a classifier, a spaCy pipeline, Whisper) takes seconds and memory; an operator runs many times in
one worker process, so it loads its model on the first run and keeps it. Loads happen under a lock, so concurrent
first calls do not load twice; a load that fails is not kept (the next run tries again, after the operator's
dependency was installed, say).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class Lazy(Generic[T]):
    """A model loaded on first use and then kept for the life of the (worker) process.

    ``loads`` counts real loads (tests use it to prove a second call reuses the model).
    """

    def __init__(self, loader: Callable[[], T]) -> None:
        self._loader = loader
        self._value: T | None = None
        self._lock = threading.Lock()
        self.loads = 0

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._value is not None

    def get(self) -> T:
        """The model, loading it the first time."""
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is None:
                self._value = self._loader()
                self.loads += 1
            return self._value


class LazyMap(Generic[K, T]):
    """Models chosen by a key (a model path and its settings, a pipeline's name), each loaded once, on first use,
    and kept for the life of the process."""

    def __init__(self) -> None:
        self._values: dict[K, T] = {}
        self._lock = threading.Lock()

    def get(self, key: K, loader: Callable[[], T]) -> T:
        """The model for ``key``, loaded by ``loader`` the first time."""
        with self._lock:
            if key not in self._values:
                self._values[key] = loader()
            return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values
