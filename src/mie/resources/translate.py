"""Amazon Translate's terminologies and parallel data, stored for the ``Translate`` operators.

Each is one JSON record in the data-plane bucket (read by the operators, :mod:`mie.resources.glossaries`) and the
uploaded file as it came (for ``download_*`` and signed URLs)::

    service/translate/terminologies/<Name>.json   + <Name>.csv
    service/translate/parallel-data/<Name>.json   + <Name>.csv | <Name>.tsv
    {"Name": ..., "Kind": "terminology" | "parallel-data", "Languages": ["en", "es"],
     "Entries": [["cat", "minino"], ...], "Properties": {...AWS properties...}, "DataKey": "<original file>"}

A terminology is created or overwritten (``MergeStrategy=OVERWRITE``); parallel data is created once, by a
conditional create of its record (see :mod:`mie.resources.store`).
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Literal

from mie.errors import ConflictError, InvalidError, NotFoundError
from mie.resources.store import ResourceStore, dump
from mie.resources.tables import parse_table, table_text
from mie.types import JSONDict

Kind = Literal["terminology", "parallel-data"]
PREFIXES: dict[str, str] = {
    "terminology": "service/translate/terminologies/",
    "parallel-data": "service/translate/parallel-data/",
}
LABELS: dict[str, str] = {"terminology": "terminology", "parallel-data": "parallel data"}
# AWS Translate's resource-name rule; it also keeps names safe as object keys.
_NAME = re.compile(r"^([A-Za-z0-9-]_?)+\Z")


def record_key(kind: Kind, name: str) -> str:
    """The key of a resource's JSON record."""
    return f"{PREFIXES[kind]}{name}.json"


def check_name(name: str) -> str:
    """A resource name as AWS Translate allows it (letters, digits, ``-`` and single ``_``); else a 400."""
    if len(name) > 256 or not _NAME.match(name):
        raise InvalidError(f"{name!r} is not a valid name: use letters, digits, '-' and single '_' (at most 256)")
    return name


def _arn(kind: Kind, name: str) -> str:
    return f"arn:mie:translate:local:{kind.replace('-', '')}/{name}" + ("/LATEST" if kind == "terminology" else "")


def _now() -> str:
    return datetime.now(UTC).isoformat()


class TranslateResources:
    """Create, read, list and delete terminologies and parallel data."""

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def get(self, kind: Kind, name: str) -> JSONDict:
        """The stored record; 404 when there is none."""
        try:
            doc: JSONDict = self.store.read_json(record_key(kind, name))
        except NotFoundError as exc:
            raise NotFoundError(f"The {LABELS[kind]} {name!r} does not exist") from exc
        return doc

    def exists(self, kind: Kind, name: str) -> bool:
        """Whether the resource exists."""
        return self.store.exists(record_key(kind, name))

    def names(self, kind: Kind) -> list[str]:
        """Every stored name, sorted."""
        return self.store.records(PREFIXES[kind])

    def properties(self, kind: Kind) -> list[JSONDict]:
        """Every resource's AWS properties, by name."""
        found = []
        for name in self.names(kind):
            try:
                found.append(self.get(kind, name)["Properties"])
            except NotFoundError:  # deleted meanwhile
                continue
        return found

    def text(self, kind: Kind, name: str) -> str:
        """The resource's file as uploaded (rebuilt from the record when the file is gone or not written yet)."""
        doc = self.get(kind, name)
        try:
            return self.store.read(str(doc["DataKey"])).decode("utf-8")
        except NotFoundError:
            fmt = "CSV" if kind == "terminology" else str(doc["Properties"]["ParallelDataConfig"]["Format"])
            return table_text(doc["Languages"], doc["Entries"], fmt)

    def delete(self, kind: Kind, name: str) -> None:
        """Remove the resource (its file first, see :mod:`mie.resources.store`); 404 when there is none."""
        doc = self.get(kind, name)
        self.store.delete(str(doc["DataKey"]))
        if not self.store.delete(record_key(kind, name)):
            raise NotFoundError(f"The {LABELS[kind]} {name!r} does not exist")

    def create_terminology(self, name: str, data: str, description: str) -> JSONDict:
        """Create or overwrite a terminology from its CSV text; its properties."""
        header, rows = parse_table(data, fmt="CSV", what="terminology_csv")
        now = _now()
        created = now
        with contextlib.suppress(NotFoundError):  # an overwrite keeps the creation time
            created = self.get("terminology", name)["Properties"]["CreatedAt"]
        properties: JSONDict = {
            "Name": name,
            "Description": description,
            "Arn": _arn("terminology", name),
            "SourceLanguageCode": header[0],
            "TargetLanguageCodes": header[1:],
            "SizeBytes": len(data.encode()),
            "TermCount": len(rows),
            "CreatedAt": created,
            "LastUpdatedAt": now,
            "Directionality": "UNI",
            "SkippedTermCount": 0,
            "Format": "CSV",
        }
        data_key = f"{PREFIXES['terminology']}{name}.csv"
        doc = _record("terminology", name, header=header, rows=rows, properties=properties, data_key=data_key)
        # Overwrite: the record, then the file (readers rebuild a missing file from the record).
        self.store.write(record_key("terminology", name), dump(doc))
        self.store.write(data_key, data.encode())
        return properties

    def parallel_data_source(self, inline: str | None, uri: object) -> tuple[str, str]:
        """``(text, S3Uri)`` of the parallel data of a create request: inline text, or the uploaded file."""
        if inline:
            return inline, ""
        if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
            raise InvalidError(
                "Missing required input: 'ParallelDataConfig.S3Uri' (s3://bucket/key) or 'parallel_data_csv'"
            )
        bucket, _, key = uri[5:].partition("/")
        try:
            raw = self.store.read_source(bucket, key)
        except NotFoundError as exc:
            raise InvalidError(f"ParallelDataConfig.S3Uri {uri} does not exist: upload the file first") from exc
        try:
            return raw.decode("utf-8"), uri
        except UnicodeDecodeError as exc:
            raise InvalidError(f"ParallelDataConfig.S3Uri {uri} is not UTF-8 text") from exc

    def check_new_parallel_data(self, name: str) -> None:
        """409 when parallel data ``name`` exists (checked before its file is read; creation checks again)."""
        if self.exists("parallel-data", name):
            raise ConflictError(f"The parallel data {name!r} already exists: delete it first")

    def create_parallel_data(self, name: str, data: str, *, fmt: str, uri: str, description: str) -> JSONDict:
        """Create parallel data (two language columns) from its CSV/TSV text; its properties. 409 when the name
        is taken, also when another server creates it at the same time."""
        header, rows = parse_table(data, fmt=fmt, what="parallel data", columns=2)
        now = _now()
        data_key = f"{PREFIXES['parallel-data']}{name}.{fmt.lower()}"
        properties: JSONDict = {
            "Name": name,
            "Arn": _arn("parallel-data", name),
            "Description": description,
            "Status": "ACTIVE",
            "SourceLanguageCode": header[0],
            "TargetLanguageCodes": header[1:],
            "ParallelDataConfig": {"S3Uri": uri or f"s3://{self.store.bucket}/{data_key}", "Format": fmt},
            "ImportedDataSize": len(data.encode()),
            "ImportedRecordCount": len(rows),
            "FailedRecordCount": 0,
            "SkippedRecordCount": 0,
            "CreatedAt": now,
            "LastUpdatedAt": now,
        }
        doc = _record("parallel-data", name, header=header, rows=rows, properties=properties, data_key=data_key)
        if not self.store.create_json(record_key("parallel-data", name), doc):
            raise ConflictError(f"The parallel data {name!r} already exists: delete it first")
        self.store.write(data_key, data.encode())
        return properties


def _record(
    kind: Kind, name: str, *, header: list[str], rows: list[list[str]], properties: JSONDict, data_key: str
) -> JSONDict:
    return {
        "Name": name,
        "Kind": kind,
        "Languages": header,
        "Entries": rows,
        "Properties": properties,
        "DataKey": data_key,
    }
