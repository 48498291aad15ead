"""Run one operator on local files without a server: for operator authors and for our own tests.

>>> from mie.testing import run_operator
>>> result = run_operator(my_operator, "clip.mp4")          # doctest: +SKIP
>>> result.status, result.metadata, result.results           # doctest: +SKIP

The operator runs exactly as in the engine (the same event, :func:`mie.operators.invoke.invoke`, a real data plane
on SQLite and a folder), so what passes here passes in a workflow. Async operators are monitored until done.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mie.dataplane.changes import ChangeLog
from mie.dataplane.service import DataPlane
from mie.dataplane.signing import UrlSigner
from mie.operators.context import Runtime
from mie.operators.definition import OperatorDefinition
from mie.operators.invoke import invoke
from mie.operators.registry import OperatorRegistry, Target
from mie.storage.objects import LocalObjectStore
from mie.storage.sql.asset_store import SqlAssetStore
from mie.storage.sql.db import Database
from mie.storage.sql.faces_people import SqlPeopleStore
from mie.storage.sql.faces_store import SqlFaceStore
from mie.storage.sql.outbox import SqlOutbox
from mie.types import JSONDict

_SUFFIX_TYPES = {
    ".mp4": "Video",
    ".mov": "Video",
    ".mkv": "Video",
    ".webm": "Video",
    ".avi": "Video",
    ".flv": "Video",
    ".jpg": "Image",
    ".jpeg": "Image",
    ".png": "Image",
    ".webp": "Image",
    ".gif": "Image",
    ".bmp": "Image",
    ".tif": "Image",
    ".tiff": "Image",
    ".wav": "Audio",
    ".mp3": "Audio",
    ".flac": "Audio",
    ".m4a": "Audio",
    ".ogg": "Audio",
    ".txt": "Text",
    ".json": "Text",
}


@dataclass
class OperatorRun:
    """What one operator call produced."""

    output: JSONDict
    #: Every result the operator stored in the data plane, by operator name (pages joined into a list).
    results: dict[str, Any]
    #: ``(percent, message)`` pairs in the order the operator reported them.
    progress: list[tuple[float | None, str | None]]
    #: Local paths of the media the operator added, by kind.
    media_files: dict[str, Path]
    calls: int = 1
    dataplane: DataPlane | None = field(default=None, repr=False)

    @property
    def status(self) -> str:
        """The output ``Status``."""
        return str(self.output.get("Status"))

    @property
    def metadata(self) -> JSONDict:
        """The output ``MetaData``."""
        meta: JSONDict = self.output.get("MetaData") or {}
        return meta


class Harness:
    """A data plane in a temporary folder, for running operators against real files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = Database(f"sqlite:///{root / 'mie.db'}")
        self.db.migrate()
        self.objects = LocalObjectStore(root / "objects")
        self.dataplane = DataPlane(
            SqlAssetStore(self.db),
            self.objects,
            ChangeLog(SqlOutbox(self.db)),
            bucket="dataplane",
            signer=UrlSigner(b"mie-testing"),
        )
        #: Face collections the operators reach as ``ctx.faces``.
        self.faces = SqlFaceStore(self.db)
        #: People across this data plane's assets (``ctx.people``).
        self.people = SqlPeopleStore(self.db)

    def add_asset(self, path: Path | str, media_type: str | None = None) -> tuple[str, JSONDict]:
        """Copy a file in as a new asset; ``(asset_id, {"S3Bucket", "S3Key"})``."""
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"no such file: {source}")
        key = f"upload/{uuid.uuid4().hex}/{source.name}"
        with source.open("rb") as fh:
            self.objects.put_stream("uploads", key, fh)
        guessed = media_type or _SUFFIX_TYPES.get(source.suffix.lower())
        asset = self.dataplane.create_asset("uploads", key, guessed)
        return str(asset["AssetId"]), {"S3Bucket": asset["S3Bucket"], "S3Key": asset["S3Key"]}

    def run(
        self,
        operator: OperatorDefinition | str,
        files: Mapping[str, Path | str] | Path | str,
        *,
        configuration: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        registry: OperatorRegistry | None = None,
        poll_interval: float = 0.01,
        timeout: float = 600.0,
    ) -> OperatorRun:
        """Run ``operator`` (a definition, or a name/ARN resolved by ``registry``) on ``files``: one path (its
        media type guessed from the suffix), or ``{"Video": path, "Audio": path, ...}``."""
        start, monitor, media_type, defaults = self._targets(operator, registry)
        by_kind: dict[str, Path | str] = dict(files) if isinstance(files, Mapping) else {"": files}
        asset_id = ""
        media: JSONDict = {}
        for kind, path in by_kind.items():
            declared = kind or _SUFFIX_TYPES.get(Path(path).suffix.lower()) or media_type
            if asset_id:
                # Further inputs join the first asset, as derived media of an earlier stage would.
                ref = self._put_extra(asset_id, Path(path))
            else:
                asset_id, ref = self.add_asset(path, declared if declared in _SUFFIX_TYPES.values() else None)
            media[declared] = ref
        name = start.definition.name if start.definition is not None else str(operator)
        config = {"MediaType": media_type, "Enabled": True, **defaults, **(configuration or {})}
        event: JSONDict = {
            "Name": name,
            "AssetId": asset_id,
            "WorkflowExecutionId": str(uuid.uuid4()),
            "Input": {"Media": media, "MetaData": dict(metadata or {})},
            "Configuration": config,
            "Status": "Started",
            "MetaData": {},
            "Media": {},
        }
        progress: list[tuple[float | None, str | None]] = []

        def report(percent: float | None, message: str | None) -> bool:
            progress.append((percent, message))
            return True

        deadline = time.monotonic() + timeout
        runtime = Runtime(
            self.dataplane,
            report_progress=report,
            deadline=deadline,
            scratch_root=self.root / "work",
            faces=self.faces,
            people=self.people,
        )
        output = invoke(start, event, runtime, timeout=timeout)
        calls = 1
        while monitor is not None and output.get("Status") not in ("Complete", "Error"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not finish within {timeout:g} s")
            time.sleep(poll_interval)
            output = invoke(monitor, output, runtime, timeout=timeout)
            calls += 1
        return OperatorRun(
            output=output,
            results=self.results(asset_id),
            progress=progress,
            media_files=self._media_files(output),
            calls=calls,
            dataplane=self.dataplane,
        )

    def results(self, asset_id: str) -> dict[str, Any]:
        """Every operator result stored for the asset, following the data plane's cursor (a paged result comes
        back as the list of its pages)."""
        pages: dict[str, list[Any]] = {}
        paged: set[str] = set()
        page = self.dataplane.get_metadata(asset_id)
        while page.get("cursor"):
            page = self.dataplane.get_metadata(asset_id, str(page["cursor"]))
            operator = str(page["operator"])
            pages.setdefault(operator, []).append(page.get("results"))
        for operator in pages:
            stored = self.dataplane.get_operator_metadata(asset_id, operator)
            if stored.get("cursor"):
                paged.add(operator)
        return {op: (found if op in paged or len(found) > 1 else found[0]) for op, found in pages.items()}

    def _put_extra(self, asset_id: str, path: Path) -> JSONDict:
        key = f"private/assets/{asset_id}/input/{path.name}"
        with path.open("rb") as fh:
            self.objects.put_stream("dataplane", key, fh)
        return {"S3Bucket": "dataplane", "S3Key": key}

    def _media_files(self, output: JSONDict) -> dict[str, Path]:
        files: dict[str, Path] = {}
        for kind, ref in (output.get("Media") or {}).items():
            if isinstance(ref, dict) and ref.get("S3Bucket") and ref.get("S3Key"):
                local = self.objects.local_path(str(ref["S3Bucket"]), str(ref["S3Key"]))
                if local is not None and local.is_file():
                    files[kind] = local
        return files

    @staticmethod
    def _targets(
        operator: OperatorDefinition | str, registry: OperatorRegistry | None
    ) -> tuple[Target, Target | None, str, JSONDict]:
        if isinstance(operator, OperatorDefinition):
            start = Target("native", operator.start_arn, definition=operator)
            monitor = (
                Target("native", operator.monitor_arn, definition=operator, monitor=True)
                if operator.monitor_arn is not None
                else None
            )
            return start, monitor, operator.media_type, dict(operator.configuration)
        reg = registry or _default_registry()
        start = reg.resolve(operator)
        if start.definition is not None:
            return Harness._targets(start.definition, None)
        return start, None, "Video", {}

    def close(self) -> None:
        """Release the database."""
        self.db.dispose()


def _default_registry() -> OperatorRegistry:
    registry = OperatorRegistry()
    registry.load_entry_points()
    return registry


@contextmanager
def harness(root: Path | None = None) -> Iterator[Harness]:
    """A :class:`Harness` in ``root`` (a temporary folder, removed afterwards, when None)."""
    temporary = root is None
    folder = Path(tempfile.mkdtemp(prefix="mie-testing-")) if root is None else root
    folder.mkdir(parents=True, exist_ok=True)
    h = Harness(folder)
    try:
        yield h
    finally:
        h.close()
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)


def run_operator(
    operator: OperatorDefinition | str,
    files: Mapping[str, Path | str] | Path | str,
    *,
    configuration: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    workdir: Path | None = None,
) -> OperatorRun:
    """Run one operator on ``files`` in a throw-away data plane (kept in ``workdir`` when given, so media the
    operator added can be inspected); see :meth:`Harness.run`."""
    with harness(workdir) as h:
        return h.run(operator, files, configuration=configuration, metadata=metadata)
