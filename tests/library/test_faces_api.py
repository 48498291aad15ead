"""Face collections over HTTP (``/api/service/rekognition/*``), end to end on real photos through the in-process
client (the dlib model runs, hence the library tier): Rekognition's request and response shapes (checked against
botocore's model), its errors, and the ``mie faces`` commands."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from starlette.testclient import TestClient

pytest.importorskip("PIL.Image")
pytest.importorskip("skimage.data")
pytest.importorskip("dlib")

from PIL import Image

from mie.bootstrap import Services
from mie.library.vision import _dlib, embeddings
from tests.aws_shapes import violations
from tests.helpers import API_KEY, assert_error
from tests.library.face_photos import TRANSFORMS, astronaut, grace_hopper_path

if not _dlib.available():
    pytest.skip("dlib or face_recognition_models is not installed", allow_module_level=True)

API = "/api/service/rekognition"


def _jpeg(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=92)
    return base64.b64encode(buffer.getvalue()).decode()


def _call(client: TestClient, name: str, body: dict[str, Any], operation: str | None = None) -> dict[str, Any]:
    response = client.post(f"{API}/{name}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    if operation is not None:
        assert violations("rekognition", operation, result) == []
    return result


def test_collections_end_to_end(client: TestClient) -> None:
    created = _call(client, "create_collection", {"CollectionId": "crew"}, "CreateCollection")
    assert created["StatusCode"] == 200
    assert created["CollectionArn"].endswith("collection/crew")
    body = assert_error(client.post(f"{API}/create_collection", json={"CollectionId": "crew"}), 409)
    assert body["Code"] == "ResourceAlreadyExistsException"
    body = assert_error(client.post(f"{API}/create_collection", json={"CollectionId": "no spaces"}), 400)
    assert body["Code"] == "InvalidParameterException"
    assert _call(client, "list_collections", {}, "ListCollections")["CollectionIds"] == ["crew"]

    # An empty collection finds nothing.
    empty = _call(client, "search_faces_by_image", {"CollectionId": "crew", "Image": {"Bytes": _jpeg(astronaut())}})
    assert empty["FaceMatches"] == []
    assert violations("rekognition", "SearchFacesByImage", empty) == []

    indexed = _call(
        client,
        "index_faces",
        {"CollectionId": "crew", "Image": {"Bytes": _jpeg(astronaut())}, "ExternalImageId": "Eileen_Collins"},
        "IndexFaces",
    )
    (record,) = indexed["FaceRecords"]
    assert record["Face"]["ExternalImageId"] == "Eileen_Collins"
    assert {m["Type"] for m in record["FaceDetail"]["Landmarks"]} >= {"eyeLeft", "eyeRight", "nose"}
    assert indexed["UnindexedFaces"] == []
    face_id = record["Face"]["FaceId"]
    described = _call(client, "describe_collection", {"CollectionId": "crew"}, "DescribeCollection")
    assert described["FaceCount"] == 1
    listed = _call(client, "list_faces", {"CollectionId": "crew"}, "ListFaces")
    assert [f["FaceId"] for f in listed["Faces"]] == [face_id]

    # Another photo of her (cropped and brighter) finds her with a high Similarity.
    other = TRANSFORMS["brighter"](TRANSFORMS["crop"](astronaut()))
    found = _call(
        client,
        "search_faces_by_image",
        {"CollectionId": "crew", "Image": {"Bytes": _jpeg(other)}},
        "SearchFacesByImage",
    )
    (match,) = found["FaceMatches"]
    assert match["Face"]["FaceId"] == face_id
    assert match["Similarity"] > 95
    assert found["SearchedFaceBoundingBox"]["Width"] > 0

    # SearchFaces by FaceId: a second photo of her is found, the face itself is left out.
    second = _call(
        client, "index_faces", {"CollectionId": "crew", "Image": {"Bytes": _jpeg(TRANSFORMS["mirrored"](astronaut()))}}
    )["FaceRecords"][0]["Face"]["FaceId"]
    by_id = _call(client, "search_faces", {"CollectionId": "crew", "FaceId": face_id}, "SearchFaces")
    assert [m["Face"]["FaceId"] for m in by_id["FaceMatches"]] == [second]
    body = assert_error(client.post(f"{API}/search_faces", json={"CollectionId": "crew", "FaceId": "nope"}), 400)
    assert body["Code"] == "InvalidParameterException"
    _call(client, "delete_faces", {"CollectionId": "crew", "FaceIds": [second]})

    hopper = grace_hopper_path()
    if hopper is not None:
        stranger = {"CollectionId": "crew", "Image": {"Bytes": base64.b64encode(hopper.read_bytes()).decode()}}
        assert _call(client, "search_faces_by_image", stranger)["FaceMatches"] == []
        loose = _call(client, "search_faces_by_image", {**stranger, "FaceMatchThreshold": 10})
        assert 10 <= loose["FaceMatches"][0]["Similarity"] < 80

    deleted = _call(client, "delete_faces", {"CollectionId": "crew", "FaceIds": [face_id, "nope"]}, "DeleteFaces")
    assert deleted["DeletedFaces"] == [face_id]
    assert deleted["UnsuccessfulFaceDeletions"] == [{"FaceId": "nope", "Reasons": ["FACE_NOT_FOUND"]}]
    assert _call(client, "list_faces", {"CollectionId": "crew"})["Faces"] == []
    _call(client, "delete_collection", {"CollectionId": "crew"}, "DeleteCollection")
    assert _call(client, "list_collections", {})["CollectionIds"] == []


def test_unknown_collection_is_a_404(client: TestClient) -> None:
    for name, extra in (
        ("describe_collection", {}),
        ("delete_collection", {}),
        ("list_faces", {}),
        ("delete_faces", {"FaceIds": ["x"]}),
        ("index_faces", {"Image": {"Bytes": _jpeg(astronaut())}}),
        ("search_faces_by_image", {"Image": {"Bytes": _jpeg(astronaut())}}),
    ):
        body = assert_error(client.post(f"{API}/{name}", json={"CollectionId": "ghosts", **extra}), 404)
        assert body["Code"] == "ResourceNotFoundException"


def test_bad_images_and_parameters_are_400s(client: TestClient) -> None:
    _call(client, "create_collection", {"CollectionId": "c"})
    cases = [
        ({"Image": {"Bytes": "not base64!"}}, "InvalidParameterException"),
        ({"Image": {"Bytes": base64.b64encode(b"not an image").decode()}}, "InvalidImageFormatException"),
        ({"Image": {"S3Object": {"Bucket": "dataplane", "Name": "missing.jpg"}}}, "InvalidS3ObjectException"),
        ({}, "InvalidParameterException"),
        ({"Image": {"Bytes": _jpeg(astronaut())}, "MaxFaces": 0}, "InvalidParameterException"),
        ({"Image": {"Bytes": _jpeg(astronaut())}, "ExternalImageId": "has space"}, "InvalidParameterException"),
    ]
    for extra, code in cases:
        body = assert_error(client.post(f"{API}/index_faces", json={"CollectionId": "c", **extra}), 400)
        assert body["Code"] == code, body
    from skimage import data

    no_face = {"CollectionId": "c", "Image": {"Bytes": _jpeg(Image.fromarray(data.coffee()))}}
    assert_error(client.post(f"{API}/search_faces_by_image", json=no_face), 400, "no faces")
    assert _call(client, "index_faces", no_face)["FaceRecords"] == []


def test_a_face_too_small_is_unindexed(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _call(client, "create_collection", {"CollectionId": "c"})
    monkeypatch.setattr(embeddings, "MIN_FACE_SIDE", 200)
    result = _call(client, "index_faces", {"CollectionId": "c", "Image": {"Bytes": _jpeg(astronaut())}}, "IndexFaces")
    assert result["FaceRecords"] == []
    assert result["UnindexedFaces"][0]["Reasons"] == ["SMALL_BOUNDING_BOX"]


def test_index_an_assets_image(client: TestClient, services: Services) -> None:
    _call(client, "create_collection", {"CollectionId": "assets"})
    buffer = io.BytesIO()
    astronaut().save(buffer, "PNG")
    services.dataplane.objects.put_bytes("uploads", "photos/astronaut.png", buffer.getvalue())
    asset = services.dataplane.create_asset("uploads", "photos/astronaut.png", "Image")
    body = {"CollectionId": "assets", "Image": {"AssetId": asset["AssetId"]}, "ExternalImageId": "astronaut"}
    first = _call(client, "index_faces", body)
    again = _call(client, "index_faces", body)
    # The same asset is the same ImageId (Rekognition indexes again on request, as here).
    assert first["FaceRecords"][0]["Face"]["ImageId"] == again["FaceRecords"][0]["Face"]["ImageId"]
    assert_error(client.post(f"{API}/index_faces", json={**body, "Image": {"AssetId": "nope"}}), 404)


def test_mie_faces_commands(client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import json

    from typer.testing import CliRunner

    from mie.cli import client as cli_client
    from mie.cli.main import app as cli
    from tests.unit.test_search import ToApp

    monkeypatch.setattr(cli_client, "transport_override", ToApp(client))
    for name in ("MIE_URL", "MIE_API_KEY", "MIE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    photo, other = tmp_path / "astronaut.jpg", tmp_path / "mirrored.jpg"
    astronaut().save(photo, quality=92)
    TRANSFORMS["mirrored"](astronaut()).save(other, quality=92)
    runner = CliRunner()

    def mie(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--api-key", API_KEY])
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    assert "created collection crew" in mie("faces", "create", "crew")
    assert "indexed" in mie("faces", "index", "crew", str(photo), "--external-id", "Eileen_Collins")
    assert "Eileen_Collins" in mie("faces", "list", "crew")
    (match,) = json.loads(mie("faces", "search", "crew", str(other), "--json"))["FaceMatches"]
    assert match["Face"]["ExternalImageId"] == "Eileen_Collins"
    assert '"FaceCount": 1' in mie("faces", "collections", "--json")
    assert "deleted" in mie("faces", "delete", "crew", match["Face"]["FaceId"])
    assert "deleted collection crew" in mie("faces", "delete-collection", "crew")
    failed = runner.invoke(cli, ["faces", "list", "crew", "--api-key", API_KEY])
    assert failed.exit_code != 0
    assert "does not exist" in failed.output
