"""Reading terminologies and parallel data stored by the ``/api/service/translate/*`` routes.

The routes (``mie.api.translate``) validate the uploaded CSV/TSV and store one JSON object per resource in the
data-plane bucket; operators read it here through ``ctx.dataplane.read_object``. The object is the contract between
the two (the layering keeps the API and the operator library from importing each other)::

    service/translate/terminologies/<Name>.json
    service/translate/parallel-data/<Name>.json
    {"Name": ..., "Kind": "terminology" | "parallel-data", "Languages": ["en", "es"],
     "Entries": [["cat", "minino"], ...], "Properties": {...AWS properties...}, "DataKey": "<original file>"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mie.errors import MieError, OperatorError

Kind = Literal["terminology", "parallel-data"]
PREFIXES: dict[str, str] = {
    "terminology": "service/translate/terminologies/",
    "parallel-data": "service/translate/parallel-data/",
}
_LABELS = {"terminology": "terminology", "parallel-data": "parallel data"}


class Objects(Protocol):
    """The part of the operator's data-plane client this module uses."""

    def read_object(self, bucket: str, key: str) -> bytes:
        """Read an object whole."""


@dataclass(frozen=True)
class Resource:
    """A stored terminology or parallel data set."""

    name: str
    kind: str
    languages: list[str]
    entries: list[list[str]]

    def column(self, code: str) -> int | None:
        """The column holding language ``code`` (exact code first, then the same base language)."""
        wanted = code.lower()
        codes = [c.lower() for c in self.languages]
        if wanted in codes:
            return codes.index(wanted)
        base = wanted.split("-")[0]
        for index, have in enumerate(codes):
            if have.split("-")[0] == base:
                return index
        return None

    def covers(self, source: str, target: str) -> bool:
        """Whether this resource translates ``source`` into ``target``."""
        return self.column(source) == 0 and self.column(target) not in (None, 0)

    def mapping(self, source: str, target: str) -> dict[str, str]:
        """Source text to target text, for the languages asked (empty when not covered)."""
        src, tgt = self.column(source), self.column(target)
        if src is None or tgt is None or src == tgt:
            return {}
        return {row[src]: row[tgt] for row in self.entries if len(row) > max(src, tgt) and row[src] and row[tgt]}


def requested(value: Any) -> list[tuple[str, list[str] | None]]:
    """The names in a ``TerminologyNames``/``ParallelDataNames`` setting, each with the target languages it is
    declared for (None: whatever the stored resource covers).

    Accepted as MIE's versions wrote it: a list of ``{"Name", "TargetLanguageCodes"}`` objects (v4+), a list of
    names, MIE 2.0's string ``'{"JsonList": [...]}'``, a JSON list in a string, or one name.
    """
    if value is None or value in ("", []):
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("{", "[")):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise OperatorError(f"cannot read the names setting {value!r}: {exc}") from exc
        else:
            return [(text, None)]
    if isinstance(value, dict) and "JsonList" in value:
        value = value["JsonList"]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise OperatorError(f"expected a list of names, not {type(value).__name__}")
    out: list[tuple[str, list[str] | None]] = []
    for item in value:
        if isinstance(item, str) and item.strip():
            out.append((item.strip(), None))
        elif isinstance(item, dict) and isinstance(item.get("Name"), str):
            targets = item.get("TargetLanguageCodes")
            out.append((item["Name"], [str(t) for t in targets] if isinstance(targets, list) else None))
        else:
            raise OperatorError(f"{item!r} is not a name or a {{'Name', 'TargetLanguageCodes'}} object")
    return out


def load(objects: Objects, bucket: str, kind: Kind, name: str) -> Resource:
    """The stored resource, or an operator error naming the route that creates it."""
    key = f"{PREFIXES[kind]}{name}.json"
    label = _LABELS[kind]
    try:
        raw = objects.read_object(bucket, key)
    except MieError as exc:
        create = "create_terminology" if kind == "terminology" else "create_parallel_data"
        raise OperatorError(
            f"there is no {label} named {name!r}: create it with POST /api/service/translate/{create}"
        ) from exc
    try:
        doc = json.loads(raw)
        languages = [str(code) for code in doc["Languages"]]
        entries = [[str(cell) for cell in row] for row in doc["Entries"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise OperatorError(f"the stored {label} {name!r} is damaged ({exc}); create it again") from exc
    return Resource(name=name, kind=kind, languages=languages, entries=entries)


def select(
    objects: Objects, bucket: str, kind: Kind, *, setting: Any, source: str, target: str
) -> tuple[list[Resource], list[str]]:
    """The resources named in ``setting`` that apply to ``source`` -> ``target``, and the names skipped (MIE skips
    a resource declared for other targets; a stored resource in other languages is skipped too)."""
    used: list[Resource] = []
    skipped: list[str] = []
    for name, targets in requested(setting):
        if targets is not None and not any(t.lower() == target.lower() for t in targets):
            skipped.append(name)
            continue
        resource = load(objects, bucket, kind, name)
        if resource.covers(source, target):
            used.append(resource)
        else:
            skipped.append(name)
    return used, skipped
