"""The whole engine on PostgreSQL, through the in-process API: workflows, failures, admission, data-plane paging
and the change feed."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from mie.storage.sql.db import temporary_engine
from mie.storage.sql.tables import executions
from tests.helpers import changes, make_workflow, operation, start, upload, wait_for

pytestmark = pytest.mark.integration

OPS = "python:tests.unit.ops:"


class StartedSampler:
    """Samples how many executions are ``Started`` in the database, from its own connection, until stopped."""

    def __init__(self, url: str) -> None:
        self._engine = temporary_engine(url)
        self._stop = threading.Event()
        self.samples: list[int] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        query = select(func.count()).select_from(executions).where(executions.c.status == "Started")
        with self._engine.connect() as conn:
            while not self._stop.is_set():
                self.samples.append(int(conn.execute(query).scalar_one()))
                conn.rollback()
                time.sleep(0.005)

    def __enter__(self) -> StartedSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._engine.dispose()


def test_two_stage_workflow_of_sync_and_async_operators_completes(pg_client: TestClient) -> None:
    sync_op = operation("pg-sync")
    async_op = operation("pg-async", "Async", media="Audio", start="AudioAsyncOKLambda")
    polled = operation("pg-polled", "Async", start=OPS + "start_job", monitor=OPS + "counting_monitor", Polls=3)
    make_workflow(
        pg_client, "pg-two-stage", [[sync_op, operation("pg-make-audio", OutputMediaType="Audio")], [async_op, polled]]
    )
    done = wait_for(pg_client, start(pg_client, "pg-two-stage", "upload/two.mp4")["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete", done.get("Message")
    assert done["CurrentStage"] == "End"
    stages = done["Workflow"]["Stages"]
    assert [o["Status"] for o in stages["pg-two-stage-stage0"]["Outputs"]] == ["Complete", "Complete"]
    assert [o["Status"] for o in stages["pg-two-stage-stage1"]["Outputs"]] == ["Complete", "Complete"]
    assert stages["pg-two-stage-stage1"]["Outputs"][1]["MetaData"] == {"polls": "3"}
    assert done["Globals"]["MetaData"]["pg-sync"] == {"Meta": "Workflow metadata for pg-sync"}
    assert done["Globals"]["MetaData"]["pg-async"] == {"Meta": "Workflow metadata for pg-async"}
    # The second stage saw the first stage's output.
    assert stages["pg-two-stage-stage1"]["Input"]["Media"]["Audio"]["S3Bucket"] == "S3BucketFrompg-make-audio"


def test_a_failing_operator_ends_the_execution_in_error_with_its_message(pg_client: TestClient) -> None:
    make_workflow(pg_client, "pg-fail", [[operation("pg-fails", start="VideoSyncFailLambda")], [operation("pg-next")]])
    make_workflow(pg_client, "pg-raise", [[operation("pg-raises", start=OPS + "boom")]])
    failed = wait_for(pg_client, start(pg_client, "pg-fail", "upload/f.mp4")["Id"], {"Complete", "Error"})
    assert failed["Status"] == "Error"
    assert "pg-fails" in failed["Message"]
    assert failed["Workflow"]["Stages"]["pg-fail-stage0"]["Outputs"][0]["Status"] == "Error"
    assert "Outputs" not in failed["Workflow"]["Stages"]["pg-fail-stage1"]  # the next stage never ran
    raised = wait_for(pg_client, start(pg_client, "pg-raise", "upload/r.mp4")["Id"], {"Complete", "Error"})
    assert raised["Status"] == "Error"
    assert "ValueError: boom: the operator broke" in raised["Message"]


def test_max_concurrent_workflows_one_admits_one_at_a_time(pg_client: TestClient, pg_url: str) -> None:
    r = pg_client.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": 1})
    assert r.status_code == 200, r.text
    make_workflow(pg_client, "pg-one", [[operation("pg-slow", SleepSeconds=0.15)], [operation("pg-after")]])
    with StartedSampler(pg_url) as sampler:
        ids = [start(pg_client, "pg-one", f"upload/one-{i}.mp4")["Id"] for i in range(4)]
        statuses = {pg_client.get(f"/api/workflow/execution/{i}").json()["Status"] for i in ids}
        assert "Queued" in statuses  # the others wait for the single slot
        finals = [wait_for(pg_client, i, {"Complete", "Error"}) for i in ids]
    assert [f["Status"] for f in finals] == ["Complete"] * 4
    assert max(sampler.samples) == 1
    # Oldest first: each started only after the previous one had ended.
    started: dict[str, int] = {}
    ended: dict[str, int] = {}
    for event in changes(pg_client, source="WorkflowExecution"):
        payload = event["payload"]
        if payload["Status"] == "Started":
            started.setdefault(payload["Id"], event["seq"])
        elif payload["Status"] == "Complete":
            ended[payload["Id"]] = event["seq"]
    assert sorted(ids, key=started.__getitem__) == ids
    for previous, following in itertools.pairwise(ids):
        assert ended[previous] < started[following]


def test_dataplane_metadata_paging_round_trips(pg_client: TestClient) -> None:
    upload(pg_client, "upload/paged.mp4")
    created = pg_client.post(
        "/api/dataplane/create", json={"Input": {"S3Bucket": "dataplane", "S3Key": "upload/paged.mp4"}}
    )
    assert created.status_code == 200, created.text
    asset_id = created.json()["AssetId"]
    whole = {"OperatorName": "Mediainfo", "WorkflowId": "W1", "Results": {"tracks": [{"kind": "video"}]}}
    assert pg_client.post(f"/api/dataplane/metadata/{asset_id}", json=whole).json()["Status"] == "Success"
    pages = [{"Labels": [{"Name": f"label-{n}", "Confidence": 90.0 + n}]} for n in range(5)]
    for n, page in enumerate(pages):
        r = pg_client.post(
            f"/api/dataplane/metadata/{asset_id}",
            params={"paginated": "true", **({"end": "true"} if n == len(pages) - 1 else {})},
            json={"OperatorName": "labelDetection", "WorkflowId": "W1", "Results": page},
        )
        assert r.status_code == 200, r.text
    response = pg_client.get(f"/api/dataplane/metadata/{asset_id}").json()
    assert response["results"]["MediaType"] == "Video"
    walked: list[tuple[str, Any]] = []
    while "cursor" in response:
        response = pg_client.get(f"/api/dataplane/metadata/{asset_id}", params={"cursor": response["cursor"]}).json()
        walked.append((response["operator"], response["results"]))
    assert walked == [("Mediainfo", whole["Results"])] + [("labelDetection", p) for p in pages]
    # One operator, paged on its own.
    first = pg_client.get(f"/api/dataplane/metadata/{asset_id}/labelDetection").json()
    one: list[Any] = [first["results"]]
    while "cursor" in first:
        first = pg_client.get(
            f"/api/dataplane/metadata/{asset_id}/labelDetection", params={"cursor": first["cursor"]}
        ).json()
        one.append(first["results"])
    assert one == pages
    assert pg_client.get("/api/dataplane/metadata").json()["assets"] == [asset_id]


def test_change_feed_is_in_order_with_no_gaps_while_the_engine_runs(pg_client: TestClient) -> None:
    pg_client.post("/api/system/configuration", json={"Name": "MaxConcurrentWorkflows", "Value": 3})
    make_workflow(
        pg_client,
        "pg-feed",
        [
            [operation("pg-f1"), operation("pg-f2", media="Audio", start="AudioSyncOKLambda", OutputMediaType="Text")],
            [operation("pg-f3")],
        ],
    )
    followed: list[dict[str, Any]] = []
    stop = threading.Event()

    def follow() -> None:
        # A consumer long-polling the feed with its last offset, as a relay would.
        after = 0
        while True:
            finished = stop.is_set()
            r = pg_client.get("/api/dataplane/changes", params={"after": after, "wait": 0.05, "limit": 1000})
            body = r.json()
            followed.extend(body["changes"])
            after = body["last"]
            if finished and not body["changes"]:
                return

    follower = threading.Thread(target=follow)
    follower.start()
    try:
        ids = [start(pg_client, "pg-feed", f"upload/feed-{i}.mp4")["Id"] for i in range(8)]
        for execution_id in ids:
            assert wait_for(pg_client, execution_id, {"Complete", "Error"})["Status"] == "Complete"
    finally:
        stop.set()
        follower.join(30)
    everything = changes(pg_client)
    seqs = [e["seq"] for e in everything]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [e["seq"] for e in followed] == seqs
    # Per execution: Queued, Started, Complete, in that order; per asset the INSERT comes first.
    for execution_id in ids:
        statuses = [
            e["payload"]["Status"]
            for e in everything
            if e["source"] == "WorkflowExecution" and e["payload"]["Id"] == execution_id
        ]
        assert statuses == ["Queued", "Started", "Complete"]
    inserts = [e for e in everything if e["source"] == "Dataplane" and e["payload"].get("Action") == "INSERT"]
    assert len(inserts) == len(ids)
