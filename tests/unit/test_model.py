"""The pure MIE rules: record building, configuration merge, the filter, and stage completion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mie.errors import InvalidError
from mie.model import records
from mie.model.execution import (
    apply_configuration,
    complete_stage,
    failed_output,
    initialize_execution,
    operator_event,
    should_skip,
)
from mie.types import StageStatus


def op(name: str, media: str = "Video", kind: str = "Sync", **config: Any) -> dict[str, Any]:
    body = {
        "Name": name,
        "Type": kind,
        "Configuration": {"MediaType": media, "Enabled": True, **config},
        "StartLambdaArn": "VideoSyncOKLambda",
    }
    if kind == "Async":
        body["MonitorLambdaArn"] = "VideoAsyncOKMonitorLambda"
    return records.build_operation(records.validate_operation_request(body))


def workflow(*stage_ops: list[dict[str, Any]]) -> dict[str, Any]:
    stages = {}
    names = [f"S{i}" for i in range(len(stage_ops))]
    for name, ops in zip(names, stage_ops, strict=True):
        stages[name] = records.build_stage({"Name": name, "Operations": [o["Name"] for o in ops]}, ops)
    links = {n: ({"Next": names[i + 1]} if i + 1 < len(names) else {"End": True}) for i, n in enumerate(names)}
    body = records.validate_workflow_request({"Name": "wf", "StartAt": "S0", "Stages": links})
    return records.build_workflow(body, stages)


def execution(wf: dict[str, Any], config: Any = None) -> dict[str, Any]:
    return initialize_execution(
        wf,
        execution_id="E",
        asset_id="A",
        media={"Video": {"S3Bucket": "b", "S3Key": "k"}},
        configuration=config,
        created="1.0",
    )


def output(
    event: dict[str, Any], status: str = "Complete", media: dict[str, Any] | None = None, **meta: Any
) -> dict[str, Any]:
    return {**event, "Status": status, "Media": media or {}, "MetaData": meta}


class TestOperationRecord:
    def test_record_has_mie_fields(self) -> None:
        record = op("labelDetection", kind="Async")
        assert record["StageName"] == "_labelDetection"
        assert record["ResourceType"] == "OPERATION"
        assert record["Version"] == "v0"
        asl = json.loads(record["StateMachineAsl"])
        assert "Get labelDetection Status (%%STAGE_NAME%%)" in asl["States"]

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"Type": "Later"}, "Type must be one of"),
            ({"Configuration": {"Enabled": True}}, "MediaType"),
            ({"Configuration": {"MediaType": "Video", "Enabled": "false"}}, "Enabled"),
            ({"Name": "../x"}, "not valid"),
            ({"Type": "Async"}, "MonitorLambdaArn is required"),
        ],
    )
    def test_invalid_requests_say_why(self, change: dict[str, Any], message: str) -> None:
        body = {
            "Name": "x",
            "Type": "Sync",
            "Configuration": {"MediaType": "Video", "Enabled": True},
            "StartLambdaArn": "a",
            **change,
        }
        with pytest.raises(InvalidError, match=message):
            records.validate_operation_request(body)

    def test_update_keeps_identity_and_bumps_version(self) -> None:
        first = op("x")
        body = records.validate_operation_request({**first, "Configuration": {"MediaType": "Audio", "Enabled": True}})
        second = records.build_operation(body, previous=first)
        assert second["Id"] == first["Id"]
        assert second["Created"] == first["Created"]
        assert second["Version"] == "v1"
        assert second["Configuration"]["MediaType"] == "Audio"


class TestWorkflowRecord:
    def test_stage_order_and_operations(self) -> None:
        wf = workflow([op("a"), op("b")], [op("c")])
        assert wf["Operations"] == ["a", "b", "c"]
        assert wf["Stages"]["S0"]["Next"] == "S1"
        assert wf["Stages"]["S1"]["End"] is True
        assert records.workflow_configuration(wf)["S0"]["a"] == {"MediaType": "Video", "Enabled": True}

    @pytest.mark.parametrize(
        ("stages", "message"),
        [
            ({"A": {"Next": "B"}, "B": {"Next": "A"}}, "exactly 1 'End'"),
            ({"A": {}}, "must have either an 'End' or and 'Next'"),
            ({"A": {"Next": "Z"}, "B": {"End": True}}, "not in Stages"),
            ({"A": {"End": True}, "B": {"End": True}}, "exactly 1 'End'"),
            ({"A": {"End": True}, "B": {"Next": "A"}}, "cannot be reached"),
        ],
    )
    def test_invalid_graphs(self, stages: dict[str, Any], message: str) -> None:
        with pytest.raises(InvalidError, match=message):
            records.validate_workflow_request({"Name": "w", "StartAt": "A", "Stages": stages})


class TestExecutionRecord:
    def test_initial_record_matches_mie(self) -> None:
        rec = execution(workflow([op("a")], [op("b")]))
        assert rec["Status"] == "Queued"
        assert rec["CurrentStage"] == "S0"
        assert rec["Globals"] == {"Media": {"Video": {"S3Bucket": "b", "S3Key": "k"}}, "MetaData": {}}
        s0, s1 = rec["Workflow"]["Stages"]["S0"], rec["Workflow"]["Stages"]["S1"]
        assert s0["Status"] == "Started"
        assert s0["Input"] == rec["Globals"]
        assert s1["Status"] == "Not Started"
        assert "Input" not in s1
        for stage in (s0, s1):
            assert stage["AssetId"] == "A"
            assert stage["WorkflowExecutionId"] == "E"
            assert stage["Metrics"] == {}
            assert stage["MetaData"] == {}

    def test_configuration_override_is_per_key_and_shallow(self) -> None:
        wf = workflow([op("a", Threshold=1, Nested={"x": 1, "y": 2})])
        apply_configuration(wf, {"S0": {"a": {"Threshold": 5, "Nested": {"x": 9}}}})
        assert wf["Stages"]["S0"]["Configuration"]["a"] == {
            "MediaType": "Video",
            "Enabled": True,
            "Threshold": 5,
            "Nested": {"x": 9},
        }

    @pytest.mark.parametrize(
        ("override", "message"),
        [
            ({"Nope": {}}, "Invalid stage found in Configuration 'Nope'"),
            ({"S0": {"zz": {}}}, "Invalid operation 'zz'"),
            ({"S0": []}, "must be a JSON object"),
            ([], "must be a JSON object"),
        ],
    )
    def test_bad_overrides(self, override: Any, message: str) -> None:
        with pytest.raises(InvalidError, match=message):
            apply_configuration(workflow([op("a")]), override)


class TestFilter:
    def event(self, media: str = "Video", enabled: Any = True, have: tuple[str, ...] = ("Video",)) -> dict[str, Any]:
        stage = {
            "AssetId": "A",
            "WorkflowExecutionId": "E",
            "Input": {"Media": {m: {} for m in have}, "MetaData": {}},
            "Configuration": {"x": {"MediaType": media, "Enabled": enabled}},
        }
        return operator_event(stage, "x")

    def test_runs_when_media_present(self) -> None:
        assert not should_skip(self.event())

    def test_skips_when_media_missing(self) -> None:
        assert should_skip(self.event(media="Audio"))

    def test_metadata_only_never_skips_for_media(self) -> None:
        assert not should_skip(self.event(media="MetadataOnly", have=()))

    def test_enabled_false_skips_but_string_false_runs_as_mie(self) -> None:
        assert should_skip(self.event(enabled=False))
        assert not should_skip(self.event(enabled="false"))


class TestCompleteStage:
    def test_rolls_up_and_prepares_next_stage(self) -> None:
        rec = execution(workflow([op("a"), op("b")], [op("c")]))
        stage = rec["Workflow"]["Stages"]["S0"]
        outs = [
            output(operator_event(stage, "a"), media={"Audio": {"S3Key": "x"}}, Shared="a", OnlyA="1"),
            output(operator_event(stage, "b"), Shared="b"),
        ]
        result = complete_stage(rec, "S0", outs)
        assert result.status is StageStatus.COMPLETE
        assert result.next_stage == "S1"
        assert rec["Globals"]["Media"]["Audio"] == {"S3Key": "x"}
        assert rec["Globals"]["MetaData"] == {"Shared": "b", "OnlyA": "1"}  # last writer wins, as MIE
        assert rec["Workflow"]["Stages"]["S1"]["Input"] == rec["Globals"]
        assert rec["Workflow"]["Stages"]["S1"]["Status"] == "Started"
        assert stage["Outputs"] == outs

    def test_skipped_counts_as_success(self) -> None:
        rec = execution(workflow([op("a")]))
        stage = rec["Workflow"]["Stages"]["S0"]
        result = complete_stage(rec, "S0", [output(operator_event(stage, "a"), status="Skipped")])
        assert result.status is StageStatus.COMPLETE
        assert result.next_stage is None

    def test_failed_operator_fails_stage_with_reason(self) -> None:
        rec = execution(workflow([op("a"), op("b")], [op("c")]))
        stage = rec["Workflow"]["Stages"]["S0"]
        bad = failed_output(operator_event(stage, "b"), "ValueError: boom")
        result = complete_stage(rec, "S0", [output(operator_event(stage, "a")), bad])
        assert result.status is StageStatus.ERROR
        assert result.next_stage is None
        assert result.message is not None
        assert "operation b" in result.message
        assert "boom" in result.message
        assert bad["MetaData"] == {"bError": "ValueError: boom"}

    def test_duplicate_media_key_in_one_stage_is_an_error(self) -> None:
        rec = execution(workflow([op("a"), op("b")]))
        stage = rec["Workflow"]["Stages"]["S0"]
        outs = [output(operator_event(stage, n), media={"Text": {"S3Key": n}}) for n in ("a", "b")]
        result = complete_stage(rec, "S0", outs)
        assert result.status is StageStatus.ERROR
        assert result.message is not None
        assert "both produced media 'Text'" in result.message
