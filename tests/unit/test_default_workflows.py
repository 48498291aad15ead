"""Default workflows: built from the operators that exist, refreshed when more arrive, never over a user's own."""

from __future__ import annotations

from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.engine.plugins import install_default_workflows
from mie.library.workflows import DEFAULT_WORKFLOWS, INSTALLED_BY
from tests.helpers import operation, start, wait_for

SPEC = {"WfDefault": [("S1", ["OpA", "Missing"]), ("S2", ["Missing2"]), ("S3", ["OpB"])]}


def _stages(client: TestClient, name: str) -> dict[str, list[str]]:
    record = client.get(f"/api/workflow/{name}").json()
    return {stage: body["Operations"] for stage, body in record["Stages"].items()}


def test_default_workflows_use_the_operators_that_exist(services: Services, client: TestClient) -> None:
    for name in ("OpA", "OpB"):
        assert client.post("/api/workflow/operation", json=operation(name)).status_code == 200
    assert install_default_workflows(services.catalog, SPEC, INSTALLED_BY) == ["WfDefault"]
    assert _stages(client, "WfDefault") == {"S1": ["OpA"], "S3": ["OpB"]}
    done = wait_for(client, start(client, "WfDefault", "upload/d.mp4")["Id"], {"Complete", "Error"})
    assert done["Status"] == "Complete", done.get("Message")
    # Nothing changed: nothing to do.
    assert install_default_workflows(services.catalog, SPEC, INSTALLED_BY) == []
    # An operator arrives (a library was installed): the workflow gains its stage.
    assert client.post("/api/workflow/operation", json=operation("Missing2")).status_code == 200
    assert install_default_workflows(services.catalog, SPEC, INSTALLED_BY) == ["WfDefault"]
    assert _stages(client, "WfDefault") == {"S1": ["OpA"], "S2": ["Missing2"], "S3": ["OpB"]}
    assert client.get("/api/workflow/WfDefault").json()["StartAt"] == "S1"


def test_a_users_workflow_of_the_same_name_is_left_alone(services: Services, client: TestClient) -> None:
    assert client.post("/api/workflow/operation", json=operation("OpA")).status_code == 200
    assert client.post("/api/workflow/stage", json={"Name": "Mine", "Operations": ["OpA"]}).status_code == 200
    mine = {"Name": "WfDefault", "StartAt": "Mine", "Stages": {"Mine": {"End": True}}}
    assert client.post("/api/workflow", json=mine).status_code == 200
    assert install_default_workflows(services.catalog, SPEC, INSTALLED_BY) == []
    assert _stages(client, "WfDefault") == {"Mine": ["OpA"]}


def test_the_shipped_specs_keep_mies_names() -> None:
    assert [s for s, _ in DEFAULT_WORKFLOWS["CasVideoWorkflow"]][:4] == [
        "defaultPrelimVideoStage",
        "defaultVideoStage",
        "defaultAudioStage",
        "defaultTextStage",
    ]
    # MIE's two image stages come first; ours (PeopleStage, which reads faceDetection's boxes) follows them.
    assert [s for s, _ in DEFAULT_WORKFLOWS["CasImageWorkflow"]][:2] == ["ValidationStage", "RekognitionStage"]


def test_the_shipped_specs_are_stable_when_installed_again() -> None:
    """A stage shared by two workflows must list the same operators in both, or every start would flip it."""
    seen: dict[str, list[str]] = {}
    for spec in DEFAULT_WORKFLOWS.values():
        for stage, ops in spec:
            assert seen.setdefault(stage, ops) == ops, f"stage {stage} differs between workflows"


def test_installing_every_default_workflow_twice_changes_nothing(services: Services, client: TestClient) -> None:
    for spec in DEFAULT_WORKFLOWS.values():
        for _, ops in spec:
            for name in ops:
                client.post("/api/workflow/operation", json=operation(name))
    install_default_workflows(services.catalog, DEFAULT_WORKFLOWS, INSTALLED_BY)
    stages = client.get("/api/workflow/stage").json()
    assert install_default_workflows(services.catalog, DEFAULT_WORKFLOWS, INSTALLED_BY) == []
    assert client.get("/api/workflow/stage").json() == stages
