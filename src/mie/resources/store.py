"""Where service resources live: JSON records and their files in the data-plane bucket.

A resource is one JSON *record* object (``<prefix><Name>.json``) plus the file it was made from. The record is the
resource: creating it is a conditional create (:meth:`ObjectStore.put_bytes_if_absent`, S3's ``If-None-Match``),
so that of several servers creating the same name at once exactly one succeeds, with no lock held anywhere; the
file is written after the record (readers fall back to the record's entries when it is not there yet) and
deleted before it (so a deletion never removes the file of a resource created again meanwhile).
"""

from __future__ import annotations

import json
from typing import Any

from mie.storage.objects import ObjectStore


class ResourceStore:
    """The objects of the service resources: records and files under one bucket, and uploaded sources."""

    def __init__(self, objects: ObjectStore, bucket: str) -> None:
        self._objects = objects
        #: The bucket holding the records and files (the data plane's).
        self.bucket = bucket

    def read(self, key: str) -> bytes:
        """An object of the bucket; ``NotFoundError`` when absent."""
        return self._objects.get_bytes(self.bucket, key)

    def read_json(self, key: str) -> Any:
        """A record; ``NotFoundError`` when absent, ``ValueError`` when not JSON."""
        return json.loads(self.read(key))

    def write(self, key: str, data: bytes) -> None:
        """Write (or overwrite) an object of the bucket."""
        self._objects.put_bytes(self.bucket, key, data)

    def create_json(self, key: str, record: Any) -> bool:
        """Create a record unless one exists: whether this call created it (atomic, see the module docstring)."""
        return self._objects.put_bytes_if_absent(self.bucket, key, dump(record))

    def exists(self, key: str) -> bool:
        """Whether the object exists."""
        return self._objects.exists(self.bucket, key)

    def delete(self, key: str) -> bool:
        """Delete an object; whether it existed."""
        return self._objects.delete(self.bucket, key)

    def records(self, prefix: str) -> list[str]:
        """The names of the records directly under ``prefix`` (``<prefix><Name>.json``; ``_``-names are not ours)."""
        names = []
        for key in self._objects.list_keys(self.bucket, prefix):
            rest = key[len(prefix) :]
            if "/" not in rest and rest.endswith(".json") and not rest.startswith("_"):
                names.append(rest[: -len(".json")])
        return sorted(names)

    def source_size(self, bucket: str, key: str) -> int:
        """The size of an uploaded source file in any bucket; ``NotFoundError`` when absent."""
        return self._objects.size(bucket, key)

    def read_source(self, bucket: str, key: str) -> bytes:
        """An uploaded source file (``s3://bucket/key`` of a create request); ``NotFoundError`` when absent."""
        return self._objects.get_bytes(bucket, key)


def dump(record: Any) -> bytes:
    """A record as stored (UTF-8 JSON, non-ASCII kept as is)."""
    return json.dumps(record, ensure_ascii=False).encode()
