"""People across the library on real photos: peopleRecognitionImage clusters the astronaut's photos into one person
and Grace Hopper into another; a re-run does not duplicate; naming, merging and splitting through /api/people and
``mie people`` update the stored results, whose names the search index reads."""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

pytest.importorskip("PIL.Image")
pytest.importorskip("skimage.data")
pytest.importorskip("dlib")

from PIL import Image

from mie.bootstrap import Services
from mie.consumers.search_extract import extract
from mie.library import vision
from mie.library.vision import _dlib
from mie.operators import Runtime
from mie.operators.invoke import invoke
from mie.operators.registry import Target
from tests.helpers import API_KEY, assert_error
from tests.library.face_photos import TRANSFORMS, astronaut, grace_hopper_path

if not _dlib.available() or grace_hopper_path() is None:
    pytest.skip("needs dlib, face_recognition_models and matplotlib's sample photo", allow_module_level=True)


def _asset(services: Services, image: Image.Image, name: str) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=92)
    services.dataplane.objects.put_bytes("uploads", f"photos/{name}.jpg", buffer.getvalue())
    return str(services.dataplane.create_asset("uploads", f"photos/{name}.jpg", "Image")["AssetId"])


def _run(services: Services, asset_id: str, workflow_id: str | None = None) -> dict[str, Any]:
    """Run peopleRecognitionImage on an asset as the engine's workers do (same runtime, same stores)."""
    asset = services.dataplane.get_asset(asset_id)
    definition = vision.people_recognition_image
    event = {
        "Name": definition.name,
        "AssetId": asset_id,
        "WorkflowExecutionId": workflow_id or str(uuid.uuid4()),
        "Input": {"Media": {"Image": {"S3Bucket": asset["s3_bucket"], "S3Key": asset["s3_key"]}}, "MetaData": {}},
        "Configuration": {"MediaType": "Image", "Enabled": True},
        "Status": "Started",
        "MetaData": {},
        "Media": {},
    }
    runtime = Runtime(services.dataplane, faces=services.faces, people=services.people)
    output = invoke(Target("native", definition.start_arn, definition=definition), event, runtime)
    assert output["Status"] == "Complete", output
    return output


def _result(services: Services, asset_id: str) -> dict[str, Any]:
    stored = services.dataplane.get_operator_metadata(asset_id, "peopleRecognition")
    results: dict[str, Any] = stored["results"]
    return results


def test_people_across_the_library(client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    hopper_photo = Image.open(str(grace_hopper_path())).convert("RGB")
    first = _asset(services, astronaut(), "astronaut")
    second = _asset(services, TRANSFORMS["brighter"](TRANSFORMS["mirrored"](astronaut())), "astronaut-2")
    hopper = _asset(services, hopper_photo, "hopper")
    for asset_id in (first, second, hopper):
        _run(services, asset_id, workflow_id=f"wf-{asset_id}")
    _run(services, first, workflow_id=f"wf-{first}")  # the same task again: nothing doubles

    people = client.get("/api/people").json()["People"]
    assert sorted((p["FaceCount"], p["AssetCount"]) for p in people) == [(1, 1), (2, 2)]
    collins = next(p["PersonId"] for p in people if p["FaceCount"] == 2)
    hopper_id = next(p["PersonId"] for p in people if p["FaceCount"] == 1)
    on_first = client.get(f"/api/people/asset/{first}").json()["People"]
    assert [p["PersonId"] for p in on_first] == [collins]
    assert _result(services, first)["CelebrityFaces"] == []  # nobody is named yet

    named = client.post(f"/api/people/{collins}/name", json={"Name": "Eileen Collins"}).json()
    assert named["Name"] == "Eileen Collins"
    assert named["ResultsUpdated"] == 2
    for asset_id in (first, second):
        result = _result(services, asset_id)
        (celebrity,) = result["CelebrityFaces"]
        assert (celebrity["Name"], celebrity["Id"]) == ("Eileen Collins", collins)
        assert celebrity["MatchConfidence"] > 90
        # What the search and media indexes read of it: the name, as text and as a label.
        assert any("Eileen Collins" in s.text for s in extract(result).segments)
        assert extract(result).labels == ("Eileen Collins",)
    assert _result(services, hopper)["CelebrityFaces"] == []
    assert extract(_result(services, hopper)).labels == ()
    # The media index lists both photos under her name (the search consumer follows the change stream).
    deadline = time.monotonic() + 20
    listed: list[Any] = []
    while time.monotonic() < deadline:
        listed = client.get("/api/media", params={"label": "Eileen Collins"}).json()
        if len(listed) == 2:
            break
        time.sleep(0.1)
    assert sorted(item["asset_id"] for item in listed) == sorted([first, second])
    shown = client.get(f"/api/people/{collins}").json()
    assert sorted(shown["AssetIds"]) == sorted([first, second])

    # Merge Hopper in by mistake, then split her face out again.
    merged = client.post(f"/api/people/{collins}/merge", json={"PersonIds": [hopper_id]}).json()
    assert merged["FaceCount"] == 3
    assert _result(services, hopper)["CelebrityFaces"][0]["Name"] == "Eileen Collins"
    hopper_face = client.get(f"/api/people/asset/{hopper}").json()["People"][0]["Faces"][0]["FaceId"]
    split = client.post(f"/api/people/{collins}/split", json={"FaceIds": [hopper_face]}).json()
    assert (split["Name"], split["FaceCount"]) == (None, 1)
    assert _result(services, hopper)["CelebrityFaces"] == []
    assert client.get(f"/api/people/{collins}").json()["FaceCount"] == 2

    assert_error(client.get("/api/people/nobody"), 404)
    assert_error(client.post(f"/api/people/{collins}/merge", json={"PersonIds": []}), 400)
    assert_error(client.post(f"/api/people/{collins}/name", json={"Name": ""}), 400)

    # The same from the command line.
    from typer.testing import CliRunner

    from mie.cli import client as cli_client
    from mie.cli.main import app as cli
    from tests.unit.test_search import ToApp

    monkeypatch.setattr(cli_client, "transport_override", ToApp(client))
    for variable in ("MIE_URL", "MIE_API_KEY", "MIE_DATA_DIR"):
        monkeypatch.delenv(variable, raising=False)
    runner = CliRunner()

    def mie(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--api-key", API_KEY])
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    listed = json.loads(mie("people", "list", "--json"))
    assert {p["Name"] for p in listed} == {"Eileen Collins", None}
    assert "Grace Hopper" in mie("people", "name", split["PersonId"], "Grace Hopper")
    assert "Grace Hopper" in json.dumps(_result(services, hopper))
    assert "Eileen Collins" in mie("people", "show", collins)

    # Deleting an asset takes its faces out of the people (the people consumer follows the change stream).
    assert client.delete(f"/api/dataplane/metadata/{hopper}").status_code == 200
    deadline = time.monotonic() + 20
    while client.get(f"/api/people/{split['PersonId']}").json()["FaceCount"] and time.monotonic() < deadline:
        time.sleep(0.1)
    hopper_now = client.get(f"/api/people/{split['PersonId']}").json()
    assert (hopper_now["Name"], hopper_now["FaceCount"], hopper_now["AssetIds"]) == ("Grace Hopper", 0, [])
