"""``/api/service/transcribe/*``: MIE's custom-vocabulary routes, stored in the data-plane object store."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.library.speech.vocabulary import vocabulary_key
from tests.helpers import assert_error, upload

BASE = "/api/service/transcribe"
TABLE = (
    "Phrase\tIPA\tSoundsLike\tDisplayAs\n"
    "Kubernetes\t\tkoo-ber-net-eez\t\n"
    "Los-Angeles\t\t\tLos Angeles\n"
    "A.W.S.\t\t\tAWS\n"
)


def _create(
    client: TestClient, name: str, table: str, key: str | None = None, language: str = "en-US"
) -> httpx.Response:
    key = key or f"vocab/{name}.tsv"
    upload(client, key, table.encode())
    return client.post(
        f"{BASE}/create_vocabulary",
        json={"vocabulary_name": name, "language_code": language, "s3uri": f"s3://dataplane/{key}"},
    )


def test_vocabulary_lifecycle(client: TestClient, services: Services) -> None:
    created = _create(client, "Tech", TABLE)
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["VocabularyName"] == "Tech"
    assert body["LanguageCode"] == "en-US"
    assert body["VocabularyState"] == "READY"
    assert "T" in body["LastModifiedTime"]  # ISO time, as MIE converts boto3's datetime

    got = client.post(f"{BASE}/get_vocabulary", json={"vocabulary_name": "Tech"})
    assert got.status_code == 200, got.text
    assert got.json()["VocabularyName"] == "Tech"
    table = client.get(got.json()["DownloadUri"].replace("http://testserver", ""))
    assert table.status_code == 200
    assert table.text.splitlines()[0] == "Phrase\tIPA\tSoundsLike\tDisplayAs"
    assert "Los-Angeles\t\t\tLos Angeles" in table.text

    rows = client.post(f"{BASE}/download_vocabulary", json={"vocabulary_name": "Tech"}).json()["vocabulary"]
    assert rows[0] == {"Phrase": "Kubernetes", "IPA": "", "SoundsLike": "koo-ber-net-eez", "DisplayAs": ""}
    assert rows[2]["DisplayAs"] == "AWS"

    listed = client.get(f"{BASE}/list_vocabularies").json()["Vocabularies"]
    assert [v["VocabularyName"] for v in listed] == ["Tech"]
    assert set(listed[0]) == {"VocabularyName", "LanguageCode", "VocabularyState", "LastModifiedTime"}

    # The operators read the same object (mie.library.speech.vocabulary).
    stored = json.loads(services.dataplane.objects.get_bytes(services.dataplane.bucket, vocabulary_key("Tech")))
    assert [e["Phrase"] for e in stored["Entries"]] == ["Kubernetes", "Los-Angeles", "A.W.S."]

    assert_error(_create(client, "Tech", TABLE), 409, "already exists")
    deleted = client.post(f"{BASE}/delete_vocabulary", json={"vocabulary_name": "Tech"})
    assert deleted.status_code == 200, deleted.text
    assert_error(client.post(f"{BASE}/get_vocabulary", json={"vocabulary_name": "Tech"}), 404, "Tech")
    assert_error(client.post(f"{BASE}/delete_vocabulary", json={"vocabulary_name": "Tech"}), 404)
    assert client.get(f"{BASE}/list_vocabularies").json() == {"Vocabularies": []}
    assert not services.dataplane.objects.exists(services.dataplane.bucket, vocabulary_key("Tech"))


def test_list_csv_and_inline_forms(client: TestClient) -> None:
    listed = _create(client, "Plain", "Kubernetes\nGrafana\n\nQuorvane\n")
    assert listed.status_code == 200, listed.text
    csv_made = _create(client, "Commas", 'Phrase,DisplayAs\nLos-Angeles,"Los Angeles, CA"\n')
    assert csv_made.status_code == 200, csv_made.text
    inline = client.post(
        f"{BASE}/create_vocabulary",
        json={"vocabulary_name": "Inline", "language_code": "en-GB", "phrases": ["Zyntrexa", "Vexmoor"]},
    )
    assert inline.status_code == 200, inline.text
    rows = client.post(f"{BASE}/download_vocabulary", json={"vocabulary_name": "Commas"}).json()["vocabulary"]
    assert rows == [{"Phrase": "Los-Angeles", "IPA": "", "SoundsLike": "", "DisplayAs": "Los Angeles, CA"}]
    plain = client.post(f"{BASE}/download_vocabulary", json={"vocabulary_name": "Plain"}).json()["vocabulary"]
    assert [r["Phrase"] for r in plain] == ["Kubernetes", "Grafana", "Quorvane"]
    names = [v["VocabularyName"] for v in client.get(f"{BASE}//list_vocabularies").json()["Vocabularies"]]
    assert names == ["Commas", "Inline", "Plain"]


@pytest.mark.parametrize(
    ("table", "needles"),
    [
        ("Phrase\tDisplayAs\nKubernetes\t\nNew York\t\n", ["line 3", "hyphens"]),
        ("Phrase\tDisplayAs\nKubernetes\tK8s\textra\n", ["line 2", "3 columns"]),
        ("Phrase\tSpelling\nKubernetes\t\n", ["line 1", "Spelling"]),
        ("IPA\tDisplayAs\nk\tK\n", ["line 1", "Phrase"]),
        ("Phrase\tIPA\tSoundsLike\nTomato\tt ə m e t o\ttom-ay-toe\n", ["line 2", "not both"]),
        ("\n\nPhrase\nR2-D2\n", ["line 4", "spell numbers out"]),
        ("Phrase\tSoundsLike\nNguyen\twin 9\n", ["line 2", "SoundsLike"]),
        ("Kubernetes\nfoo\tbar\n", ["line 2", "one phrase per line"]),
        ("Phrase\tDisplayAs\n", ["no phrases"]),
        ("  \n", ["empty"]),
    ],
)
def test_bad_tables_are_400_naming_the_line(client: TestClient, table: str, needles: list[str]) -> None:
    assert_error(_create(client, "Bad", table), 400, *needles)
    assert client.get(f"{BASE}/list_vocabularies").json() == {"Vocabularies": []}


def test_bad_requests(client: TestClient) -> None:
    create = f"{BASE}/create_vocabulary"
    missing = {"vocabulary_name": "V", "language_code": "en-US", "s3uri": "s3://dataplane/nothing/here.tsv"}
    assert_error(client.post(create, json=missing), 400, "does not exist")
    assert_error(client.post(create, json={"language_code": "en-US", "s3uri": "s3://b/k"}), 400, "vocabulary_name")
    assert_error(client.post(create, json={"vocabulary_name": "V", "s3uri": "s3://b/k"}), 400, "language_code")
    assert_error(client.post(create, json={"vocabulary_name": "a/b", "language_code": "en-US"}), 400, "letters")
    assert_error(client.post(create, json={"vocabulary_name": "V", "language_code": "en-US"}), 400, "s3uri")
    bad_uri = {"vocabulary_name": "V", "language_code": "en-US", "s3uri": "ftp://x"}
    assert_error(client.post(create, json=bad_uri), 400, "s3://bucket/key")
    assert_error(client.post(create, json=[1, 2]), 400, "JSON object")
    assert_error(client.post(f"{BASE}/download_vocabulary", json={"vocabulary_name": "Nope"}), 404, "Nope")


def test_language_models_and_auth(client: TestClient, services: Services) -> None:
    assert client.get(f"{BASE}/list_language_models").json() == {"Models": []}
    assert_error(client.post(f"{BASE}/describe_language_model", json={"model_name": "M"}), 404, "ModelPath")
    with TestClient(services.app()) as anonymous:
        assert_error(anonymous.get(f"{BASE}/list_vocabularies"), 401)
    # Routes this engine does not serve still get the catch-all's 501.
    assert_error(client.post(f"{BASE}/update_vocabulary", json={}), 501)
