"""Re-runs are idempotent: a retried task's paged results replace the interrupted attempt's, a retried ``end``
write does not double its pages, and execution creation on new media survives a retry."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.dataplane.service import DataPlane, result_key
from mie.errors import OperatorError
from mie.operators import OperatorContext, operator
from tests.helpers import make_workflow, operation, upload, wait_for

_calls: dict[str, int] = {}
_lock = threading.Lock()


@operator("FlakyPaged", media_type="Video")
def flaky_paged(ctx: OperatorContext) -> None:
    """First attempt: two pages added (the first one stored), then a retryable failure; later: three pages."""
    with _lock:
        attempt = _calls[ctx.workflow_execution_id] = _calls.get(ctx.workflow_execution_id, 0) + 1
    pages = ctx.result_pages()
    if attempt == 1:
        pages.add({"Page": 0, "Attempt": 1})
        pages.add({"Page": 1, "Attempt": 1})
        raise OperatorError("the service is busy", retryable=True)
    with pages:
        for index in range(3):
            pages.add({"Page": index, "Attempt": attempt})


def _all_pages(client: TestClient, asset_id: str, operator_name: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/dataplane/metadata/{asset_id}/{operator_name}").json()
    pages = [response["results"]]
    while "cursor" in response:
        response = client.get(
            f"/api/dataplane/metadata/{asset_id}/{operator_name}", params={"cursor": response["cursor"]}
        ).json()
        pages.append(response["results"])
    return pages


def test_a_retried_attempt_replaces_the_interrupted_attempts_pages(services: Services, client: TestClient) -> None:
    services.registry.register(flaky_paged)
    registered = client.post("/api/operators/FlakyPaged/register")
    assert registered.status_code == 200, registered.text
    make_workflow(client, "flaky-wf", [[registered.json()]])
    upload(client, "upload/flaky.mp4")
    started = client.post(
        "/api/workflow/execution",
        json={
            "Name": "flaky-wf",
            "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/flaky.mp4"}}},
        },
    )
    assert started.status_code == 200, started.text
    done = wait_for(client, started.json()["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete", done.get("Message")
    assert _calls[done["Id"]] == 2
    pages = _all_pages(client, done["AssetId"], "FlakyPaged")
    assert [p["Page"] for p in pages] == [0, 1, 2]
    assert {p["Attempt"] for p in pages} == {2}


def _asset(dp: DataPlane) -> str:
    dp.objects.put_bytes("dataplane", "upload/v.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32)
    asset_id: str = dp.create_asset("dataplane", "upload/v.mp4")["AssetId"]
    return asset_id


def test_an_end_write_retried_after_a_crash_before_its_commit_does_not_double(services: Services) -> None:
    dp = services.dataplane
    asset_id = _asset(dp)
    body = {"OperatorName": "labelDetection", "WorkflowId": "W"}
    dp.store_metadata(asset_id, {**body, "Results": {"p": 0}}, paginated=True)
    dp.store_metadata(asset_id, {**body, "Results": {"p": 1}}, paginated=True)
    # The crash: the joined object is written, then the transaction does not commit.
    original = dp._point

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed")

    dp._point = crash  # type: ignore[method-assign]
    try:
        with contextlib.suppress(RuntimeError):
            dp.store_metadata(asset_id, {**body, "Results": {"p": 2}}, paginated=True, end=True)
    finally:
        dp._point = original  # type: ignore[method-assign]
    key = result_key(asset_id, "W", "labelDetection")
    assert dp.objects.exists(dp.bucket, key)  # written before the failed commit
    dp.store_metadata(asset_id, {**body, "Results": {"p": 2}}, paginated=True, end=True)  # the client's retry
    whole = dp.get_operator_metadata(asset_id, "labelDetection")
    pages = [whole["results"]]
    while "cursor" in whole:
        whole = dp.get_operator_metadata(asset_id, "labelDetection", whole["cursor"])
        pages.append(whole["results"])
    assert pages == [{"p": 0}, {"p": 1}, {"p": 2}]


def test_a_re_run_under_the_same_workflow_id_still_appends_for_mie_clients(services: Services) -> None:
    dp = services.dataplane
    asset_id = _asset(dp)
    body = {"OperatorName": "op", "WorkflowId": "W"}
    dp.store_metadata(asset_id, {**body, "Results": {"p": 0}}, paginated=True, end=True)
    dp.store_metadata(asset_id, {**body, "Results": {"p": 1}}, paginated=True, end=True)
    key = result_key(asset_id, "W", "op")
    import json

    assert json.loads(dp.objects.get_bytes(dp.bucket, key)) == [{"p": 0}, {"p": 1}]
    # The SDK's writer replaces instead.
    dp.store_metadata(asset_id, {**body, "Results": {"p": 9}}, paginated=True, end=True, first=True, replace=True)
    assert json.loads(dp.objects.get_bytes(dp.bucket, key)) == [{"p": 9}]


def test_a_crash_between_moving_the_upload_and_committing_the_execution_is_retryable(
    services: Services, client: TestClient
) -> None:
    make_workflow(client, "orphan-wf", [[operation("orphan-op")]])
    upload(client, "upload/orphan.mp4")
    body = {"Name": "orphan-wf", "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/orphan.mp4"}}}}
    dp = services.dataplane
    original = dp._insert_asset

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # stands in for the process dying: no compensation can be counted on

    # Simulate the process dying after the move: the compensating move-back does not run either.
    moves: list[tuple[str, ...]] = []
    real_move = dp.objects.move

    def move_once(*args: str) -> None:
        moves.append(args)
        if len(moves) == 1:
            real_move(*args)

    dp._insert_asset = crash  # type: ignore[method-assign]
    dp.objects.move = move_once  # type: ignore[method-assign]
    try:
        with contextlib.suppress(KeyboardInterrupt):
            services.executions.create(body)
    finally:
        dp._insert_asset = original  # type: ignore[method-assign]
        dp.objects.move = real_move  # type: ignore[method-assign]
    assert not dp.objects.exists("dataplane", "upload/orphan.mp4")  # moved away, no asset, no execution
    assert dp.count_assets() == 0
    # The client's retry succeeds: the orphaned object is taken back and one asset with one execution exists.
    retried = client.post("/api/workflow/execution", json=body)
    assert retried.status_code == 200, retried.text
    assert dp.count_assets() == 1
    done = wait_for(client, retried.json()["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete", done.get("Message")


def test_a_failed_execution_insert_leaves_no_asset_and_the_upload_in_place(
    services: Services, client: TestClient
) -> None:
    make_workflow(client, "atomic-wf", [[operation("atomic-op")]])
    upload(client, "upload/atomic.mp4")
    body = {"Name": "atomic-wf", "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/atomic.mp4"}}}}
    real = services.executions.create
    from mie.engine import statuses as records

    original = records.insert_execution

    def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    records.insert_execution = failing  # type: ignore[assignment]
    try:
        with contextlib.suppress(RuntimeError):
            real(body)
    finally:
        records.insert_execution = original  # type: ignore[assignment]
    assert services.dataplane.count_assets() == 0
    assert services.dataplane.objects.exists("dataplane", "upload/atomic.mp4")
    assert client.post("/api/workflow/execution", json=body).status_code == 200


def test_asset_id_with_media_validates_the_key(services: Services, client: TestClient) -> None:
    make_workflow(client, "rerun-wf", [[operation("rerun-op")]])
    upload(client, "upload/rerun.mp4")
    asset = client.post("/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": "upload/rerun.mp4"}})
    asset_id = asset.json()["AssetId"]
    for key, message in (("../../etc/passwd", "segments"), ("a\nb", "control"), ("upload/none.mp4", "upload it first")):
        body = {
            "Name": "rerun-wf",
            "Input": {"AssetId": asset_id, "Media": {"Video": {"S3Bucket": "dataplane", "S3Key": key}}},
        }
        response = client.post("/api/workflow/execution", json=body)
        assert response.status_code == 400, response.text
        assert message in response.json()["Message"]
