"""Amazon Transcribe's custom vocabularies: parsed, validated and stored for the ``Transcribe*`` operators.

A vocabulary is Transcribe's table (or its list form), validated (a bad table is a 400 naming the line) and stored
as one JSON record in the data-plane bucket, which the operators read (:func:`load_entries`), beside the table it
serves for download. No database tables: the records are listed by their keys::

    service/transcribe/vocabularies/<Name>.json   + <Name>.tsv
    {"VocabularyName": "Products", "LanguageCode": "en-US", "VocabularyState": "READY",
     "LastModifiedTime": "2026-11-22T10:00:00+00:00", "Source": "s3://dataplane/vocab/products.tsv",
     "Entries": [{"Phrase": "Los-Angeles", "IPA": "", "SoundsLike": "", "DisplayAs": "Los Angeles"}, ...]}

A name is taken by a conditional create of its record (see :mod:`mie.resources.store`): safe with several servers.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlparse

from mie.errors import ConflictError, InvalidError, NotFoundError, OperatorError
from mie.resources.store import ResourceStore
from mie.types import JSONDict

#: Where vocabularies live in the data-plane bucket.
VOCABULARY_PREFIX = "service/transcribe/vocabularies/"
COLUMNS = ("Phrase", "IPA", "SoundsLike", "DisplayAs")
MAX_FILE_BYTES = 1_000_000
_NAME = re.compile(r"^[0-9A-Za-z._-]{1,200}\Z")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?\Z")
_PHRASE = re.compile(r"^[^\W\d_](?:[^\W\d_]|['.\-])*\Z")
_SOUNDS_LIKE = re.compile(r"^[^\W\d_]+(?:[- ][^\W\d_]+)*\Z")


def vocabulary_key(name: str) -> str:
    """The object key of the record of the vocabulary called ``name``."""
    return f"{VOCABULARY_PREFIX}{name}.json"


def table_key(name: str) -> str:
    """The object key of the vocabulary's table (what ``DownloadUri`` serves)."""
    return f"{VOCABULARY_PREFIX}{name}.tsv"


def check_name(name: str) -> str:
    """A vocabulary name as Transcribe allows it; else a 400."""
    if not _NAME.match(name):
        raise InvalidError(f"vocabulary_name {name!r} must be 1-200 letters, digits, '.', '_' or '-'")
    return name


def check_language(language: Any) -> str:
    """A language code such as ``en-US``; else a 400."""
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        raise InvalidError("Key 'language_code' is required: a language code such as 'en-US'")
    return language


# Parsing --------------------------------------------------------------------------------------------------------


def _bad(line: int, message: str) -> InvalidError:
    return InvalidError(f"vocabulary line {line}: {message}")


def _check_entry(line: int, entry: dict[str, str]) -> dict[str, str]:
    phrase = entry["Phrase"]
    if not phrase:
        raise _bad(line, "Phrase is empty")
    if any(ch.isspace() for ch in phrase):
        raise _bad(line, f"Phrase {phrase!r} contains spaces; join the words of a phrase with hyphens (Los-Angeles)")
    if len(phrase) > 256:
        raise _bad(line, "Phrase is longer than 256 characters")
    if not _PHRASE.match(phrase):
        raise _bad(
            line,
            f"Phrase {phrase!r} may contain only letters, apostrophes, hyphens and periods (spell numbers out)",
        )
    if entry["IPA"] and entry["SoundsLike"]:
        raise _bad(line, "a row may have IPA or SoundsLike, not both")
    if entry["SoundsLike"] and not _SOUNDS_LIKE.match(entry["SoundsLike"]):
        raise _bad(line, f"SoundsLike {entry['SoundsLike']!r} must be letters, with hyphens between syllables")
    if len(entry["DisplayAs"]) > 256:
        raise _bad(line, "DisplayAs is longer than 256 characters")
    return entry


def parse_vocabulary(text: str) -> list[dict[str, str]]:
    """Entries of a vocabulary file: Transcribe's table (a ``Phrase`` header, optionally ``IPA``, ``SoundsLike``,
    ``DisplayAs``; tab-separated, or comma-separated) or its list form (one phrase per line).
    :class:`InvalidError` names the first bad line."""
    lines = text.lstrip("\ufeff").splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise InvalidError("the vocabulary file is empty")
    header_line = lines[first]
    delimiter = "\t" if "\t" in header_line or "," not in header_line else ","
    header = [cell.strip() for cell in header_line.split(delimiter)]
    entries: list[dict[str, str]] = []
    if "Phrase" not in header and (len(header) > 1 or header[0] in COLUMNS):
        raise _bad(first + 1, f"the header must name the Phrase column (columns: {', '.join(COLUMNS)})")
    if "Phrase" in header:
        for name in header:
            if name not in COLUMNS:
                raise _bad(first + 1, f"unknown column {name!r} (columns: {', '.join(COLUMNS)})")
        if len(set(header)) != len(header):
            raise _bad(first + 1, "a column is named twice")
        for index in range(first + 1, len(lines)):
            raw = lines[index]
            if not raw.strip():
                continue
            cells = next(csv.reader([raw], delimiter=delimiter)) if delimiter == "," else raw.split("\t")
            if len(cells) > len(header):
                raise _bad(index + 1, f"{len(cells)} columns where the header has {len(header)}")
            values = dict.fromkeys(COLUMNS, "")
            values.update({name: cell.strip() for name, cell in zip(header, cells, strict=False)})
            entries.append(_check_entry(index + 1, values))
    else:
        for index in range(first, len(lines)):
            phrase = lines[index].strip()
            if phrase:
                if "\t" in phrase or "," in phrase:
                    raise _bad(index + 1, "a list vocabulary has one phrase per line (or start with a Phrase header)")
                entries.append(
                    _check_entry(index + 1, {"Phrase": phrase, "IPA": "", "SoundsLike": "", "DisplayAs": ""})
                )
    if not entries:
        raise InvalidError("the vocabulary has no phrases")
    return entries


def to_table(entries: list[dict[str, str]]) -> str:
    """The vocabulary as Transcribe's tab-separated table (what ``DownloadUri`` serves)."""
    rows = ["\t".join(COLUMNS)] + ["\t".join(entry.get(c, "") for c in COLUMNS) for entry in entries]
    return "\n".join(rows) + "\n"


def _s3_location(uri: Any) -> tuple[str, str]:
    """``s3://bucket/key`` or a path-style ``https://s3.<region>.amazonaws.com/bucket/key``."""
    if not isinstance(uri, str) or not uri:
        raise InvalidError("Key 's3uri' is required in 'create_vocabulary' input (or give 'phrases')")
    parsed = urlparse(uri)
    if parsed.scheme == "s3" and parsed.netloc and parsed.path.strip("/"):
        return parsed.netloc, unquote(parsed.path.lstrip("/"))
    if parsed.scheme in ("http", "https"):
        bucket, _, key = unquote(parsed.path.lstrip("/")).partition("/")
        if bucket and key:
            return bucket, key
    raise InvalidError(f"s3uri {uri!r} must look like s3://bucket/key")


def _summary(record: JSONDict) -> JSONDict:
    return {key: record[key] for key in ("VocabularyName", "LanguageCode", "VocabularyState", "LastModifiedTime")}


class Vocabularies:
    """Create, read, list and delete custom vocabularies."""

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def _source(self, phrases: Any, s3uri: Any) -> tuple[str, list[dict[str, str]]]:
        """``(Source, entries)`` of a create request: inline ``phrases``, or the table uploaded at ``s3uri``."""
        if phrases is not None and s3uri is None:
            if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
                raise InvalidError("phrases must be a list of strings")
            return "phrases", parse_vocabulary("\n".join(phrases))
        bucket, key = _s3_location(s3uri)
        try:
            if self.store.source_size(bucket, key) > MAX_FILE_BYTES:
                raise InvalidError(f"the vocabulary file is larger than {MAX_FILE_BYTES} bytes")
            raw = self.store.read_source(bucket, key)
        except NotFoundError as exc:
            raise InvalidError(f"the vocabulary file s3://{bucket}/{key} does not exist") from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidError(f"the vocabulary file is not UTF-8 text: {exc}") from exc
        return f"s3://{bucket}/{key}", parse_vocabulary(text)

    def create(self, name: str, language: str, *, phrases: Any = None, s3uri: Any = None) -> JSONDict:
        """Create vocabulary ``name`` from inline ``phrases`` (Transcribe's list form) or the table at ``s3uri``;
        its summary. 409 when the name is taken, also when another server creates it at the same time."""
        source, entries = self._source(phrases, s3uri)
        record: JSONDict = {
            "VocabularyName": name,
            "LanguageCode": language,
            "VocabularyState": "READY",
            "LastModifiedTime": datetime.now(UTC).isoformat(),
            "Source": source,
            "Entries": entries,
        }
        if not self.store.create_json(vocabulary_key(name), record):
            raise ConflictError(f"The requested vocabulary name {name!r} already exists")
        self.store.write(table_key(name), to_table(entries).encode())
        return _summary(record)

    def get(self, name: str) -> JSONDict:
        """The stored record; 404 when there is none."""
        try:
            record: JSONDict = self.store.read_json(vocabulary_key(name))
        except NotFoundError as exc:
            raise NotFoundError(f"The requested vocabulary {name!r} couldn't be found") from exc
        return record

    def describe(self, name: str) -> JSONDict:
        """The vocabulary's summary (name, language, state, time)."""
        return _summary(self.get(name))

    def rows(self, name: str) -> list[dict[str, str]]:
        """The vocabulary's rows, every column present."""
        return [{c: str(entry.get(c, "")) for c in COLUMNS} for entry in self.get(name).get("Entries", [])]

    def summaries(self) -> list[JSONDict]:
        """Every vocabulary's summary, by name."""
        found: dict[str, JSONDict] = {}
        for name in self.store.records(VOCABULARY_PREFIX):
            try:
                record = self.store.read_json(vocabulary_key(name))
            except (NotFoundError, ValueError):  # deleted meanwhile, or not one of ours
                continue
            if isinstance(record, dict) and "VocabularyName" in record:
                found[str(record["VocabularyName"])] = _summary(record)
        return [found[name] for name in sorted(found)]

    def delete(self, name: str) -> None:
        """Delete a vocabulary (its table first, see :mod:`mie.resources.store`); 404 when there is none."""
        self.store.delete(table_key(name))
        if not self.store.delete(vocabulary_key(name)):
            raise NotFoundError(f"The requested vocabulary {name!r} couldn't be found")


# The operators' side ------------------------------------------------------------------------------------------


def load_entries(read: Callable[[str], bytes], name: str) -> list[dict[str, Any]]:
    """The entries of vocabulary ``name``, read with ``read`` (an object of the data-plane bucket by key; raises
    ``NotFoundError`` when absent); an operator error when it does not exist or is not usable."""
    if not isinstance(name, str) or not name or "/" in name:
        raise OperatorError(f"VocabularyName {name!r} is not a valid vocabulary name")
    try:
        raw = read(vocabulary_key(name))
    except NotFoundError as exc:
        raise OperatorError(
            f"custom vocabulary {name!r} does not exist: create it with POST /api/service/transcribe/create_vocabulary"
        ) from exc
    try:
        record = json.loads(raw)
        entries = record["Entries"]
    except (ValueError, KeyError, TypeError) as exc:
        raise OperatorError(f"custom vocabulary {name!r} is damaged: {exc}") from exc
    if record.get("VocabularyState", "READY") != "READY":
        raise OperatorError(f"custom vocabulary {name!r} is {record.get('VocabularyState')}, not READY")
    return [entry for entry in entries if isinstance(entry, dict)]
