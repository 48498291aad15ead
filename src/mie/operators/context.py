"""What a native operator sees: its input media as local files, configuration, results, progress, cancellation.

The engine builds one :class:`OperatorContext` per call from the MIE event and a :class:`Runtime` (the data plane
and the callbacks that report progress and tell about cancellation). :mod:`mie.testing` builds one without a server.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mie.errors import InvalidError, OperatorCancelledError, OperatorError, OperatorTimeoutError
from mie.operators.dataplane import DataPlaneClient
from mie.types import JSONDict

if TYPE_CHECKING:
    from mie.dataplane.service import DataPlane
    from mie.storage.faces import FaceCollections
    from mie.storage.people import People

log = logging.getLogger("mie.operator")

#: Seconds between two cancellation look-ups that reach the database (progress reports also look).
_CANCEL_CHECK_INTERVAL = 1.0


def _never() -> bool:
    return False


def _ignore(percent: float | None, message: str | None) -> bool:
    return True


@dataclass
class Runtime:
    """The engine's side of an operator call."""

    #: The engine's data plane (operators see it through :attr:`OperatorContext.dataplane`, as a
    #: :class:`~mie.operators.dataplane.DataPlaneClient`).
    dataplane: DataPlane
    #: Stores the task's progress; returns False when the task is gone (cancelled, deleted, taken over).
    report_progress: Callable[[float | None, str | None], bool] = _ignore
    #: True once the task's execution was cancelled or deleted.
    is_cancelled: Callable[[], bool] = _never
    #: ``time.monotonic()`` value after which the call has run out of time (None: no limit).
    deadline: float | None = None
    #: Where per-call scratch folders go (None: the system temporary folder).
    scratch_root: Path | None = None
    #: The engine's face collections (None: this runtime has none).
    faces: FaceCollections | None = None
    #: The faces of every asset, clustered into people (None: this runtime has none).
    people: People | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class OperatorContext:
    """One call of a native operator.

    Attributes mirror MIE's event: :attr:`name`, :attr:`asset_id`, :attr:`workflow_execution_id`,
    :attr:`configuration` (the operator's defaults overridden by the workflow's and the execution's),
    :attr:`input_media` and :attr:`input_metadata`. :attr:`metadata` becomes the output ``MetaData``;
    :attr:`media` the output ``Media``.
    """

    def __init__(
        self,
        event: JSONDict,
        runtime: Runtime,
        *,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.event = event
        self.runtime = runtime
        self.name: str = str(event.get("Name", ""))
        self.asset_id: str = str(event.get("AssetId") or "")
        self.workflow_execution_id: str = str(event.get("WorkflowExecutionId") or "")
        config = event.get("Configuration") or {}
        self.configuration: JSONDict = {**(defaults or {}), **(config if isinstance(config, dict) else {})}
        inputs = event.get("Input") or {}
        self.input_media: JSONDict = dict(inputs.get("Media") or {}) if isinstance(inputs, dict) else {}
        self.input_metadata: JSONDict = dict(inputs.get("MetaData") or {}) if isinstance(inputs, dict) else {}
        #: Output ``MetaData`` (starts from the event's: a monitor sees what its start stored here).
        self.metadata: JSONDict = dict(event.get("MetaData") or {})
        #: Output ``Media`` (``{"Kind": {"S3Bucket", "S3Key"}}``).
        self.media: JSONDict = dict(event.get("Media") or {})
        self.log = logging.LoggerAdapter(log, {"operator": self.name, "asset": self.asset_id})
        self._files: dict[str, Path] = {}
        self._scratch: Path | None = None
        self._last_cancel_check = 0.0
        self._cancelled = False
        self._results_stored = False

    # Configuration ------------------------------------------------------------------------------------------

    def config(self, key: str, default: Any = None) -> Any:
        """One configuration value (``default`` when absent)."""
        return self.configuration.get(key, default)

    # Input media ----------------------------------------------------------------------------------------------

    @property
    def dataplane(self) -> DataPlaneClient:
        """The data plane as an operator sees it: objects, media paths and metadata."""
        return self.runtime.dataplane

    @property
    def faces(self) -> FaceCollections:
        """The engine's face collections (Rekognition-style; see ``mie.operators.faces``)."""
        if self.runtime.faces is None:
            raise OperatorError(f"{self.name} needs the engine's face collections, which this runtime does not have")
        return self.runtime.faces

    @property
    def people(self) -> People:
        """People across the library: the faces of every asset, clustered (see ``mie.operators.faces``)."""
        if self.runtime.people is None:
            raise OperatorError(f"{self.name} needs the engine's people store, which this runtime does not have")
        return self.runtime.people

    def media_location(self, kind: str | None = None) -> tuple[str, str]:
        """``(bucket, key)`` of the input media of ``kind`` (the first one when None)."""
        if kind is None:
            if not self.input_media:
                raise OperatorError(f"{self.name} received no input media")
            kind = next(iter(self.input_media))
        ref = self.input_media.get(kind)
        if not isinstance(ref, dict) or not ref.get("S3Bucket") or not ref.get("S3Key"):
            have = ", ".join(self.input_media) or "none"
            raise OperatorError(f"{self.name} needs {kind} input media (this execution has: {have})")
        return str(ref["S3Bucket"]), str(ref["S3Key"])

    def input_file(self, kind: str | None = None) -> Path:
        """The input media of ``kind`` as a local file: read in place when the store is a local folder, else
        downloaded once into this call's scratch folder (removed when the call ends)."""
        bucket, key = self.media_location(kind)
        cache_key = f"{bucket}/{key}"
        cached = self._files.get(cache_key)
        if cached is not None:
            return cached
        try:
            path = self.dataplane.local_file(bucket, key, lambda: self.scratch / "input")
        except InvalidError as exc:
            raise OperatorError(f"{self.name}: bad input media location s3://{bucket}/{key}: {exc}") from exc
        if path is None:
            raise OperatorError(f"{self.name}: input object s3://{bucket}/{key} does not exist")
        self._files[cache_key] = path
        return path

    @property
    def scratch(self) -> Path:
        """A private folder for this call's temporary files, removed when the call ends."""
        if self._scratch is None:
            root = self.runtime.scratch_root
            if root is not None:
                root.mkdir(parents=True, exist_ok=True)
            self._scratch = Path(tempfile.mkdtemp(prefix=f"mie-{self.name}-", dir=root))
        return self._scratch

    # Results ---------------------------------------------------------------------------------------------------

    def save_results(self, results: JSONDict, *, operator_name: str | None = None) -> None:
        """Store ``results`` in the data plane as this operator's metadata for the asset (one object)."""
        self.dataplane.store_metadata(
            self.asset_id,
            {
                "OperatorName": operator_name or self.name,
                "Results": results,
                "WorkflowId": self.workflow_execution_id,
            },
        )
        self._results_stored = True

    def result_pages(self, *, operator_name: str | None = None) -> ResultPages:
        """A writer for results too large for one object: ``with ctx.result_pages() as pages: pages.add({...})``.
        Each page is stored as it comes; reading the asset's metadata walks them in order."""
        return ResultPages(self, operator_name or self.name)

    def add_media(self, kind: str, source: Path | bytes, *, filename: str | None = None) -> JSONDict:
        """Store a derived media file for the asset and name it in the output ``Media`` under ``kind``
        (e.g. ``Thumbnail``, ``ProxyEncode``, ``Audio``). Returns ``{"S3Bucket", "S3Key"}``."""
        if not kind or not isinstance(kind, str):
            raise ValueError("media kind must be a non-empty string")
        location = self.dataplane.media_path(self.asset_id, self.workflow_execution_id)
        if filename is None:
            filename = source.name if isinstance(source, Path) else kind.lower()
        key = f"{location['S3Key']}{self.name}/{filename}"
        if isinstance(source, bytes):
            self.dataplane.put_object(location["S3Bucket"], key, source)
        else:
            with source.open("rb") as fh:
                self.dataplane.put_object(location["S3Bucket"], key, fh)
        ref: JSONDict = {"S3Bucket": location["S3Bucket"], "S3Key": key}
        self.media[kind] = ref
        return ref

    # Progress and cancellation ----------------------------------------------------------------------------------

    def progress(self, percent: float | None = None, message: str | None = None) -> None:
        """Report progress (0-100 and/or a short message), shown on the execution while the task runs.
        Raises :class:`~mie.errors.OperatorCancelledError` when the execution was cancelled meanwhile."""
        if percent is not None:
            percent = max(0.0, min(100.0, float(percent)))
        if not self.runtime.report_progress(percent, message):
            self._cancelled = True
        self.check_cancelled()

    @property
    def cancelled(self) -> bool:
        """True once the execution was cancelled or deleted (looked up at most about once a second)."""
        if not self._cancelled:
            now = time.monotonic()
            if now - self._last_cancel_check >= _CANCEL_CHECK_INTERVAL:
                self._last_cancel_check = now
                self._cancelled = self.runtime.is_cancelled()
        return self._cancelled

    @property
    def remaining_seconds(self) -> float | None:
        """Seconds left before this call's time limit (None: no limit)."""
        if self.runtime.deadline is None:
            return None
        return max(0.0, self.runtime.deadline - time.monotonic())

    def check_cancelled(self) -> None:
        """Raise :class:`~mie.errors.OperatorCancelledError` if the execution was cancelled, or
        :class:`~mie.errors.OperatorTimeoutError` if the call ran out of time; call it between units of work."""
        if self.cancelled:
            raise OperatorCancelledError(f"{self.name}: the execution was cancelled")
        remaining = self.remaining_seconds
        if remaining is not None and remaining <= 0:
            raise OperatorTimeoutError(f"{self.name}: ran out of time")

    # Lifecycle ---------------------------------------------------------------------------------------------------

    def output(self, status: str) -> JSONDict:
        """The MIE output object for this call."""
        return {
            "Name": self.name,
            "AssetId": self.event.get("AssetId"),
            "WorkflowExecutionId": self.event.get("WorkflowExecutionId"),
            "Input": self.event.get("Input", {}),
            "Configuration": self.event.get("Configuration", {}),
            "Status": status,
            "MetaData": self.metadata,
            "Media": self.media,
        }

    def close(self) -> None:
        """Remove the scratch folder (downloaded inputs included)."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        self._files.clear()


class ResultPages:
    """Paged metadata writes (MIE's ``paginate``/``end`` protocol): every page but the last is stored as it is
    added; the last is stored with ``end`` when the writer closes, which makes the result readable."""

    def __init__(self, ctx: OperatorContext, operator_name: str) -> None:
        self._ctx = ctx
        self._operator = operator_name
        self._pending: JSONDict | None = None
        self._count = 0
        self._closed = False
        self._stored = False

    @property
    def count(self) -> int:
        """Pages added so far."""
        return self._count

    def add(self, page: JSONDict) -> None:
        """Add one page (a JSON object)."""
        if self._closed:
            raise RuntimeError("this result writer is closed")
        if not isinstance(page, dict):
            raise TypeError("a result page must be a dict")
        if self._pending is not None:
            self._store(self._pending, end=False)
        self._pending = page
        self._count += 1

    def close(self) -> None:
        """Store the last page and finish the result (an empty result when no page was added)."""
        if self._closed:
            return
        self._closed = True
        self._store(self._pending if self._pending is not None else {}, end=True)
        self._ctx._results_stored = True  # the writer belongs to its context

    def _store(self, page: JSONDict, *, end: bool) -> None:
        body = {"OperatorName": self._operator, "Results": page, "WorkflowId": self._ctx.workflow_execution_id}
        # One writer is one attempt of the task: its first page restarts the sequence (dropping what an interrupted
        # attempt left pending) and its end replaces any result an earlier attempt finished, so a re-run ends with
        # this attempt's pages exactly (execution is at least once; writes must be idempotent per task).
        first, self._stored = not self._stored, True
        self._ctx.dataplane.store_metadata(self._ctx.asset_id, body, paginated=True, end=end, first=first, replace=end)

    def __enter__(self) -> ResultPages:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
