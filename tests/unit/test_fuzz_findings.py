"""Regression tests for the server errors the schema fuzzer (tests/e2e/test_fuzz.py) found: each request below once
answered 500; it must answer a clear 4xx in MIE's error shape."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.helpers import assert_error


@pytest.mark.parametrize(
    "stages",
    [
        {"A": {"Next": []}, "B": {"End": True}},  # a list is not hashable: `in stages` raised TypeError
        {"A": {"Next": {"B": 1}}, "B": {"End": True}},
    ],
)
def test_a_workflow_whose_next_is_not_a_stage_name_is_a_400(client: TestClient, stages: dict[str, Any]) -> None:
    response = client.post("/api/workflow", json={"Name": "fuzz-next", "StartAt": "A", "Stages": stages})
    assert_error(response, 400, "Next stage")


@pytest.mark.parametrize("start_at", [["A"], {"A": 1}])
def test_a_workflow_whose_start_at_is_not_a_stage_name_is_a_400(client: TestClient, start_at: Any) -> None:
    body = {"Name": "fuzz-start", "StartAt": start_at, "Stages": {"A": {"End": True}}}
    assert_error(client.post("/api/workflow", json=body), 400, "StartAt")
