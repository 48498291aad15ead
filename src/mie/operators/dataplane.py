"""What an operator may ask of the data plane: the :class:`DataPlaneClient` protocol.

``ctx.dataplane`` is typed as this protocol, so an operator sees objects by ``(bucket, key)``, its results and
its media path, never the stores behind them (the database, the object store). The engine's data plane
(``mie.dataplane.service.DataPlane``) implements it; a client of another data plane (HTTP, S3) can too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol


class DataPlaneClient(Protocol):
    """Objects, media paths and metadata, as an operator uses them."""

    @property
    def default_bucket(self) -> str:
        """The bucket assets, results and derived media live in."""
        ...

    def media_path(self, asset_id: str, workflow_id: str) -> dict[str, str]:
        """``{"S3Bucket", "S3Key"}``: the prefix where an operator of this execution writes derived media."""
        ...

    def object_exists(self, bucket: str, key: str) -> bool:
        """Whether the object exists (``InvalidError`` for a malformed bucket or key)."""
        ...

    def object_size(self, bucket: str, key: str) -> int:
        """The object's size in bytes; ``NotFoundError`` when absent."""
        ...

    def read_object(self, bucket: str, key: str) -> bytes:
        """The object's bytes; ``NotFoundError`` when absent."""
        ...

    def put_object(self, bucket: str, key: str, data: bytes | BinaryIO) -> None:
        """Write an object whole, from bytes or a binary stream."""
        ...

    def local_file(self, bucket: str, key: str, folder: Path | Callable[[], Path]) -> Path | None:
        """The object as a local file: read in place when the store keeps files, else downloaded into ``folder``
        (a folder of the call's scratch space; or a function making it, called only when a download is needed).
        ``None`` when the object does not exist."""
        ...

    def store_metadata(
        self,
        asset_id: str,
        body: Any,
        *,
        paginated: bool = False,
        end: bool = False,
        first: bool = False,
        replace: bool = False,
    ) -> dict[str, Any]:
        """Store a result (``{"OperatorName", "Results", "WorkflowId"}``) whole, or as pages finished by ``end``;
        prefer :meth:`OperatorContext.save_results <mie.operators.OperatorContext.save_results>` and
        :meth:`~mie.operators.OperatorContext.result_pages`."""
        ...

    def get_asset(self, asset_id: str) -> dict[str, Any]:
        """The asset (``asset_id, s3_bucket, s3_key, media_type, created, ...``); ``NotFoundError`` when unknown."""
        ...

    def get_metadata(self, asset_id: str, cursor: str | None = None) -> dict[str, Any]:
        """The asset, then one operator result (or page) per call while the response has a ``cursor``."""
        ...

    def get_operator_metadata(self, asset_id: str, operator: str, cursor: str | None = None) -> dict[str, Any]:
        """The newest result of one operator for the asset (paged when it was stored in pages)."""
        ...
