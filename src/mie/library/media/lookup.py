"""``GenericDataLookup``: attach a user's JSON document from the object store to the asset, as MIE does.

Configuration ``Bucket`` and ``Key`` name the document (``Bucket`` defaults to the data-plane bucket); it must hold
one JSON object, which is stored as the asset's ``GenericDataLookup`` metadata. With no ``Key`` configured the
operator has nothing to do and completes without storing anything: it sits in ``CasVideoWorkflow`` by default,
where most executions give it no configuration.
"""

from __future__ import annotations

import json
from typing import Any

from mie.errors import MieError, OperatorError
from mie.operators import OperatorContext, operator

#: Largest document attached (bytes); metadata is for facts about the asset, not for bulk data.
MAX_BYTES = 16 * 1024 * 1024


@operator(
    "GenericDataLookup",
    media_type="Video",
    timeout=120,
    description="Attach a JSON document from the object store (configuration Bucket, Key) as the asset's metadata.",
)
def generic_data_lookup(ctx: OperatorContext) -> dict[str, Any]:
    """Store the JSON object at ``Bucket``/``Key`` as this asset's ``GenericDataLookup`` result."""
    key = ctx.config("Key")
    bucket = ctx.config("Bucket")
    ids = {"AssetId": ctx.asset_id, "WorkflowExecutionId": ctx.workflow_execution_id}
    if not key:
        if bucket:
            raise OperatorError(f"{ctx.name}: configuration Bucket is set but Key is not; set both, or neither")
        return {"GenericDataLookup": "skipped: no Bucket/Key configured, nothing to attach", **ids}
    if not isinstance(key, str) or (bucket is not None and not isinstance(bucket, str)):
        raise OperatorError(f"{ctx.name}: configuration Bucket and Key must be strings")
    bucket = bucket or ctx.dataplane.default_bucket
    dataplane = ctx.dataplane
    where = f"s3://{bucket}/{key}"
    try:
        if not dataplane.object_exists(bucket, key):
            raise OperatorError(f"{ctx.name}: the document {where} does not exist")
        size = dataplane.object_size(bucket, key)
        if size > MAX_BYTES:
            raise OperatorError(f"{ctx.name}: the document {where} is {size} bytes, over the {MAX_BYTES} byte limit")
        data = dataplane.read_object(bucket, key)
    except OperatorError:
        raise
    except MieError as exc:  # a malformed bucket or key, or the store refused
        raise OperatorError(f"{ctx.name}: cannot read {where}: {exc.message}") from exc
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise OperatorError(f"{ctx.name}: {where} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise OperatorError(f"{ctx.name}: {where} must hold a JSON object, not a {type(document).__name__}")
    ctx.save_results(document)
    return {"GenericDataLookup": f"attached {where}", **ids}
