"""The OpenAPI document: request-body schemas that match what the routes require, and the API-key security."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services
from tests.helpers import MP4_BYTES

#: (method, path, schema name, the keys the route really requires), most used routes first.
BODIES: list[tuple[str, str, str, set[str]]] = [
    ("post", "/api/workflow/execution", "ExecutionRequest", {"Name", "Input"}),
    ("post", "/api/workflow/operation", "OperationRequest", {"Name", "Type", "Configuration", "StartLambdaArn"}),
    ("put", "/api/workflow/operation", "OperationRequest", {"Name", "Type", "Configuration", "StartLambdaArn"}),
    ("post", "/api/workflow/stage", "StageRequest", {"Name", "Operations"}),
    ("put", "/api/workflow/stage", "StageRequest", {"Name", "Operations"}),
    ("post", "/api/workflow", "WorkflowRequest", {"Name", "StartAt", "Stages"}),
    ("put", "/api/workflow", "WorkflowUpdateRequest", {"Name"}),
    ("put", "/api/workflow/execution/{Id}", "ResumeRequest", set()),
    ("post", "/api/system/configuration", "ConfigurationItem", {"Name", "Value"}),
    ("post", "/api/dataplane/create", "CreateAssetRequest", {"Input"}),
    ("post", "/api/dataplane/upload", "S3Location", {"S3Bucket", "S3Key"}),
    ("post", "/api/dataplane/download", "S3Location", {"S3Bucket", "S3Key"}),
    ("post", "/api/dataplane/metadata/{asset_id}", "MetadataRequest", {"OperatorName", "Results", "WorkflowId"}),
    ("post", "/api/dataplane/checkout/{asset_id}", "CheckoutRequest", {"LockedBy"}),
    ("post", "/api/notifications", "SubscriptionRequest", set()),
    ("post", "/api/jobs", "JobRequest", set()),
    ("post", "/api/service/rekognition/create_collection", "CollectionRequest", {"CollectionId"}),
    ("post", "/api/service/rekognition/describe_collection", "CollectionRequest", {"CollectionId"}),
    ("post", "/api/service/rekognition/list_collections", "ListCollectionsRequest", set()),
    ("post", "/api/service/rekognition/delete_collection", "CollectionRequest", {"CollectionId"}),
    ("post", "/api/service/rekognition/index_faces", "IndexFacesRequest", {"CollectionId", "Image"}),
    ("post", "/api/service/rekognition/list_faces", "ListFacesRequest", {"CollectionId"}),
    ("post", "/api/service/rekognition/delete_faces", "DeleteFacesRequest", {"CollectionId", "FaceIds"}),
    ("post", "/api/service/rekognition/search_faces_by_image", "SearchFacesByImageRequest", {"CollectionId", "Image"}),
    ("post", "/api/service/rekognition/search_faces", "SearchFacesRequest", {"CollectionId", "FaceId"}),
    ("put", "/api/people/{person_id}", "NamePersonRequest", {"Name"}),
    ("post", "/api/people/{person_id}/name", "NamePersonRequest", {"Name"}),
    ("post", "/api/people/{person_id}/merge", "PersonIdsRequest", {"PersonIds"}),
    ("post", "/api/people/{person_id}/split", "FaceIdsRequest", {"FaceIds"}),
]


@pytest.fixture
def doc(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


def schema_of(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = doc["components"]["schemas"][name]
    return found


def example(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """The first example of a published schema (a copy, so that a test may change it)."""
    return copy.deepcopy(schema_of(doc, name)["examples"][0])


def test_document_is_valid_openapi(doc: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    """Each ``$ref`` in the document names a published component (a validator-free check)."""
    refs: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str):
                refs.append(ref)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref


@pytest.mark.parametrize(("method", "path", "name", "required"), BODIES)
def test_route_publishes_its_body(doc: dict[str, Any], method: str, path: str, name: str, required: set[str]) -> None:
    body = doc["paths"][path][method]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{name}"}
    # A resume without a body does nothing; list_collections needs no arguments.
    assert body["required"] is (name not in ("ResumeRequest", "ListCollectionsRequest"))
    schema = schema_of(doc, name)
    assert set(schema.get("required", [])) == required
    assert required <= set(schema["properties"])
    assert all(p.get("description") for p in schema["properties"].values()), name
    assert schema["examples"], name


def test_security_schemes_cover_the_keyed_routes(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "the API key"}
    assert schemes["Bearer"]["type"] == "http"
    assert schemes["Bearer"]["scheme"] == "bearer"
    for path in ("/api/", "/api/version"):
        assert "security" not in doc["paths"][path]["get"], path
    # Signed object URLs are authorised by their signature, not by the key.
    assert "security" not in doc["paths"]["/api/dataplane/objects/{bucket}/{key}"]["get"]
    keyed = [("get", "/api/workflow"), ("get", "/api/dataplane/"), ("post", "/api/workflow/execution")]
    for method, path in keyed:
        assert doc["paths"][path][method]["security"] == [{"ApiKey": []}, {"Bearer": []}], path


def post_each_without(client: TestClient, method: str, url: str, body: dict[str, Any], required: set[str]) -> None:
    """Each required key really is required: the route refuses the example without it, with MIE's 400 body."""
    for key in sorted(required):
        partial = {k: v for k, v in body.items() if k != key}
        response = client.request(method, url, json=partial)
        assert response.status_code == 400, (url, key, response.text)
        assert set(response.json()) == {"Code", "Message"}
        assert response.json()["Code"] == "BadRequestError"


def test_examples_are_accepted_and_required_keys_required(
    client: TestClient, services: Services, doc: dict[str, Any]
) -> None:
    required = {(m, p): r for m, p, _, r in BODIES}

    def check(method: str, path: str, name: str, url: str | None = None) -> Any:
        body = example(doc, name)
        post_each_without(client, method, url or path, body, required[(method, path)])
        response = client.request(method, url or path, json=body)
        assert response.status_code in (200, 201), (path, response.text)
        return response.json()

    check("post", "/api/system/configuration", "ConfigurationItem")
    check("post", "/api/workflow/operation", "OperationRequest")
    check("put", "/api/workflow/operation", "OperationRequest")
    check("post", "/api/workflow/stage", "StageRequest")
    check("put", "/api/workflow/stage", "StageRequest")
    check("post", "/api/workflow", "WorkflowRequest")
    check("put", "/api/workflow", "WorkflowUpdateRequest")

    location = example(doc, "S3Location")
    services.dataplane.objects.put_bytes(location["S3Bucket"], location["S3Key"], MP4_BYTES)
    assert "url" in check("post", "/api/dataplane/upload", "S3Location")
    assert isinstance(check("post", "/api/dataplane/download", "S3Location"), str)
    asset = check("post", "/api/dataplane/create", "CreateAssetRequest")["AssetId"]
    check("post", "/api/dataplane/metadata/{asset_id}", "MetadataRequest", f"/api/dataplane/metadata/{asset}")
    check("post", "/api/dataplane/checkout/{asset_id}", "CheckoutRequest", f"/api/dataplane/checkout/{asset}")

    media = example(doc, "ExecutionRequest")["Input"]["Media"]["Video"]
    services.dataplane.objects.put_bytes(media["S3Bucket"], media["S3Key"], MP4_BYTES)
    execution = check("post", "/api/workflow/execution", "ExecutionRequest")
    assert execution["Status"] == "Queued"
    # Not waiting: the documented body is read and refused with the engine's own message.
    resumed = client.put(f"/api/workflow/execution/{execution['Id']}", json=example(doc, "ResumeRequest"))
    assert resumed.status_code == 400
    assert "is not 'Waiting'" in resumed.json()["Message"]


def test_error_bodies_are_unchanged(client: TestClient) -> None:
    """The schemas document the bodies only: a bad body is still MIE's 400, never FastAPI's 422."""
    response = client.post("/api/workflow/operation", json={"Name": "x"})
    assert response.status_code == 400
    assert response.json() == {"Code": "BadRequestError", "Message": "BadRequestError: 'Type' is a required property"}
    response = client.post("/api/workflow/execution", json={"Input": {}})
    assert response.json() == {
        "Code": "BadRequestError",
        "Message": "BadRequestError: Key 'Name' is required: the name of the workflow to run",
    }
    # Extra keys stay allowed where MIE allows them, and a wrong type is the engine's message, not pydantic's.
    assert client.post("/api/workflow/stage", json={"Name": "s", "Operations": "nope"}).json()["Message"] == (
        "BadRequestError: 'Operations' is a required property and must be a non-empty list of names"
    )


def test_face_collection_examples_are_accepted(client: TestClient, doc: dict[str, Any]) -> None:
    """The collection calls that need no face model, each with its documented example."""
    base = "/api/service/rekognition"
    required = {p: r for _, p, _, r in BODIES}
    for call, name in [
        ("create_collection", "CollectionRequest"),
        ("describe_collection", "CollectionRequest"),
        ("list_collections", "ListCollectionsRequest"),
        ("list_faces", "ListFacesRequest"),
        ("delete_faces", "DeleteFacesRequest"),
        ("delete_collection", "CollectionRequest"),
    ]:
        body = example(doc, name)
        for key in sorted(required[f"{base}/{call}"]):
            refused = client.post(f"{base}/{call}", json={k: v for k, v in body.items() if k != key})
            assert refused.status_code == 400, (call, key, refused.text)
            assert set(refused.json()) == {"Code", "Message"}
        response = client.post(f"{base}/{call}", json=body)
        assert response.status_code == 200, (call, response.text)


def test_document_needs_no_key(services: Services) -> None:
    with TestClient(services.app()) as anonymous:
        response = anonymous.get("/api/openapi.json")
    assert response.status_code == 200
    assert "ExecutionRequest" in response.json()["components"]["schemas"]


SERVICE_CALLS: list[tuple[str, str, set[str]]] = [
    ("transcribe/create_vocabulary", "CreateVocabularyRequest", {"vocabulary_name", "language_code"}),
    ("transcribe/get_vocabulary", "VocabularyNameRequest", {"vocabulary_name"}),
    ("transcribe/download_vocabulary", "VocabularyNameRequest", {"vocabulary_name"}),
    ("transcribe/delete_vocabulary", "VocabularyNameRequest", {"vocabulary_name"}),
    ("translate/create_terminology", "CreateTerminologyRequest", {"terminology_name", "terminology_csv"}),
    ("translate/get_terminology", "TerminologyNameRequest", {"terminology_name"}),
    ("translate/download_terminology", "TerminologyNameRequest", {"terminology_name"}),
    ("translate/delete_terminology", "TerminologyNameRequest", {"terminology_name"}),
    # Named by Name or parallel_data_name: neither key alone is required.
    ("translate/create_parallel_data", "CreateParallelDataRequest", set()),
    ("translate/get_parallel_data", "ParallelDataNameRequest", set()),
    ("translate/download_parallel_data", "ParallelDataNameRequest", set()),
    ("translate/delete_parallel_data", "ParallelDataNameRequest", set()),
]


def test_service_examples_are_accepted(client: TestClient, doc: dict[str, Any]) -> None:
    """The vocabulary, terminology and parallel-data calls, in order, each with its documented example."""
    for call, name, required in SERVICE_CALLS:
        path = f"/api/service/{call}"
        assert doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{name}"
        }
        assert set(schema_of(doc, name).get("required", [])) == required
        body = example(doc, name)
        for key in sorted(required):
            refused = client.post(path, json={k: v for k, v in body.items() if k != key})
            assert refused.status_code == 400, (call, key, refused.text)
            assert set(refused.json()) == {"Code", "Message"}
        response = client.post(path, json=body)
        assert response.status_code == 200, (call, response.text)
    assert doc["paths"]["/api/service/transcribe/describe_language_model"]["post"]["requestBody"]


def test_subscription_and_job_examples_are_accepted(client: TestClient, doc: dict[str, Any]) -> None:
    subscription = client.post("/api/notifications", json=example(doc, "SubscriptionRequest"))
    assert subscription.status_code == 200, subscription.text
    assert subscription.json()["Kind"] == "webhook"
    # Exactly one of Url or Email: the engine's message, as before.
    refused = client.post("/api/notifications", json={"Events": ["execution"]})
    assert refused.json()["Message"] == (
        "BadRequestError: give exactly one of Url (a webhook) or Email (an e-mail address)"
    )
    job = client.post("/api/jobs", json=example(doc, "JobRequest"))
    assert job.status_code == 201, job.text
    client.post(f"/api/jobs/{job.json()['Job']['id']}/cancel")  # nothing to transcode in this test
