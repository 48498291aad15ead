"""The face operators in a real workflow: the engine runs them in worker processes, which reach the same face
collections and people as the API (``ctx.faces`` / ``ctx.people`` wired by the composition root)."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from starlette.testclient import TestClient

pytest.importorskip("PIL.Image")
pytest.importorskip("skimage.data")
pytest.importorskip("dlib")

from mie.bootstrap import Services
from mie.library import vision
from mie.library.vision import _dlib
from tests.aws_shapes import violations
from tests.helpers import make_workflow, upload, wait_for
from tests.library.face_photos import TRANSFORMS, astronaut

if not _dlib.available():
    pytest.skip("dlib or face_recognition_models is not installed", allow_module_level=True)


@pytest.mark.timeout(300)
def test_face_operators_in_a_workflow(services: Services, client: TestClient) -> None:
    vision.register(services.registry)
    buffer = io.BytesIO()
    astronaut().save(buffer, "PNG")
    photo = base64.b64encode(buffer.getvalue()).decode()
    for collection in ("crew", "celebrities"):
        assert client.post("/api/service/rekognition/create_collection", json={"CollectionId": collection}).is_success
        indexed = client.post(
            "/api/service/rekognition/index_faces",
            json={"CollectionId": collection, "Image": {"Bytes": photo}, "ExternalImageId": "Eileen_Collins"},
        )
        assert indexed.status_code == 200, indexed.text
    operations = []
    for name in ("faceSearchImage", "celebrityRecognitionImage", "peopleRecognitionImage"):
        response = client.post(f"/api/operators/{name}/register")
        assert response.status_code == 200, response.text
        operations.append(response.json())
    make_workflow(client, "faces-image", [operations])
    other = io.BytesIO()
    TRANSFORMS["mirrored"](astronaut()).save(other, "JPEG", quality=92)
    upload(client, "upload/mirrored.jpg", other.getvalue())
    response = client.post(
        "/api/workflow/execution",
        json={
            "Name": "faces-image",
            "Configuration": {"faces-image-stage0": {"faceSearchImage": {"CollectionId": "crew"}}},
            "Input": {"Media": {"Image": {"S3Bucket": "dataplane", "S3Key": "upload/mirrored.jpg"}}},
        },
    )
    assert response.status_code == 200, response.text
    done = wait_for(client, response.json()["Id"], {"Complete", "Error"}, timeout=240)
    assert done["Status"] == "Complete", done.get("Message")
    asset = done["AssetId"]

    def results(operator: str) -> dict[str, Any]:
        response = client.get(f"/api/dataplane/metadata/{asset}/{operator}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()["results"]
        return body

    search = results("faceSearch")
    assert violations("rekognition", "SearchFacesByImage", search) == []
    assert [m["Face"]["ExternalImageId"] for m in search["FaceMatches"]] == ["Eileen_Collins"]
    celebrities = results("celebrityRecognition")
    assert [c["Name"] for c in celebrities["CelebrityFaces"]] == ["Eileen_Collins"]
    people = results("peopleRecognition")
    assert len(people["People"]) == 1
    assert client.get(f"/api/people/asset/{asset}").json()["People"][0]["PersonId"] == people["People"][0]["PersonId"]

    # A workflow naming a collection that does not exist ends in Error with the reason.
    response = client.post(
        "/api/workflow/execution",
        json={
            "Name": "faces-image",
            "Configuration": {"faces-image-stage0": {"faceSearchImage": {"CollectionId": "nobody"}}},
            "Input": {"AssetId": asset},
        },
    )
    assert response.status_code == 200, response.text
    failed = wait_for(client, response.json()["Id"], {"Complete", "Error"}, timeout=240)
    assert failed["Status"] == "Error"
    assert "'nobody' does not exist" in str(failed)
