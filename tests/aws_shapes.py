"""Validate a JSON document against the output shape of an AWS call, from the service models botocore ships.

>>> violations("rekognition", "DetectLabels", {"Labels": [{"Name": "Cat", "Confidence": "high"}]})
['Labels[0].Confidence: expected float, got str']

botocore's own ``ParamValidator`` is written for *inputs*: it accepts ``datetime`` objects and file-like blobs,
never checks enum values or a maximum, and reports paths in its own words. A strict client reading our stored
results trips over different things, so this walks the shape itself and is strict where such a client is:

* a member the shape does not have is an error (strict deserialisers reject unknown fields);
* every value has the shape's JSON type: ``integer``/``long`` an int (not a bool, not ``1.0``), ``float``/``double``
  a finite number, ``boolean`` a bool, ``string`` a str, ``timestamp`` epoch seconds or an ISO 8601 string,
  ``blob`` a base64 string, ``list``/``map``/``structure`` an array/object;
* a string with an ``enum`` holds one of its values;
* ``required`` members are present; ``min``/``max`` hold (length of a string, list or map; value of a number);
* a ``union`` structure has exactly one member set; a ``document`` member may hold any JSON.

A JSON ``null`` counts as an absent member, as botocore's JSON parser treats it. ``pattern`` is not checked (the
models' patterns are Java regular expressions, and no SDK checks them on responses).
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import datetime
from functools import cache
from typing import Any

from botocore.loaders import Loader
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StringShape, StructureShape

_LOADER = Loader()


@cache
def service_model(service: str) -> ServiceModel:
    """The botocore model of ``service`` (e.g. ``"rekognition"``), loaded once."""
    return ServiceModel(_LOADER.load_service_model(service, "service-2"), service_name=service)


def output_shape(service: str, operation: str) -> StructureShape:
    """The output shape of ``service``'s ``operation`` (e.g. ``("rekognition", "GetLabelDetection")``)."""
    model: OperationModel = service_model(service).operation_model(operation)
    shape = model.output_shape
    if not isinstance(shape, StructureShape):
        raise ValueError(f"{service}.{operation} has no output shape")
    return shape


def violations(service: str, operation: str, document: Any) -> list[str]:
    """Every way ``document`` differs from the output shape of ``service``'s ``operation`` (empty when valid)."""
    found: list[str] = []
    _check(output_shape(service, operation), document, "", found)
    return found


def assert_output_shape(service: str, operation: str, document: Any, what: str = "") -> None:
    """Fail (``AssertionError``) with every violation when ``document`` is not a valid ``operation`` output."""
    found = violations(service, operation, document)
    if found:
        name = f"{what}: " if what else ""
        listed = "\n  ".join(found[:50]) + (f"\n  ... and {len(found) - 50} more" if len(found) > 50 else "")
        raise AssertionError(f"{name}not a valid {service} {operation} output:\n  {listed}")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "object"}.get(
        type(value), type(value).__name__
    )


def _where(path: str) -> str:
    return path or "(document)"


def _check(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    kind = shape.type_name
    checker = _CHECKS.get(kind)
    if checker is None:
        found.append(f"{_where(path)}: shape type {kind!r} is not supported by this checker")
        return
    checker(shape, value, path, found)


def _expect(kind: str, value: Any, path: str, found: list[str]) -> None:
    found.append(f"{_where(path)}: expected {kind}, got {_type_name(value)}")


def _check_structure(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    assert isinstance(shape, StructureShape)
    if shape.metadata.get("document"):
        return  # a free-form JSON document
    if not isinstance(value, dict):
        _expect(f"structure {shape.name}", value, path, found)
        return
    members = shape.members
    prefix = f"{path}." if path else ""
    for key in value:
        if key not in members:
            found.append(f"{prefix}{key}: unknown member of {shape.name}")
    for key in shape.required_members:
        if value.get(key) is None:
            found.append(f"{prefix}{key}: required member of {shape.name} is missing")
    present = [key for key, member in value.items() if key in members and member is not None]
    if shape.metadata.get("union") and len(present) != 1:
        found.append(f"{_where(path)}: union {shape.name} must have exactly one member set, has {len(present)}")
    for key in present:
        _check(members[key], value[key], f"{prefix}{key}", found)


def _check_list(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    assert isinstance(shape, ListShape)
    if not isinstance(value, list):
        _expect("list", value, path, found)
        return
    _check_range(shape, len(value), path, found, "items")
    for index, item in enumerate(value):
        if item is None:
            found.append(f"{path}[{index}]: null item in a list")
            continue
        _check(shape.member, item, f"{path}[{index}]", found)


def _check_map(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    assert isinstance(shape, MapShape)
    if not isinstance(value, dict):
        _expect("map", value, path, found)
        return
    _check_range(shape, len(value), path, found, "entries")
    for key, item in value.items():
        _check(shape.key, key, f"{path}{{key {key!r}}}", found)
        if item is not None:
            _check(shape.value, item, f"{path}[{key!r}]", found)


def _check_string(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    if not isinstance(value, str):
        _expect("string", value, path, found)
        return
    enum = shape.enum if isinstance(shape, StringShape) else []
    if enum and value not in enum:
        found.append(f"{_where(path)}: {value!r} is not one of {shape.name}'s values {sorted(enum)}")
    _check_range(shape, len(value), path, found, "characters")


def _check_integer(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _expect(shape.type_name, value, path, found)
        return
    _check_range(shape, value, path, found, "")


def _check_float(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _expect(shape.type_name, value, path, found)
        return
    if not math.isfinite(value):
        found.append(f"{_where(path)}: {value} is not a finite number")
        return
    _check_range(shape, value, path, found, "")


def _check_boolean(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    if not isinstance(value, bool):
        _expect("boolean", value, path, found)


def _check_timestamp(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return  # epoch seconds, the JSON protocols' default
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            found.append(f"{_where(path)}: {value!r} is not an ISO 8601 timestamp")
        return
    _expect("timestamp", value, path, found)


def _check_blob(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    if not isinstance(value, str):
        _expect("blob (base64 string)", value, path, found)
        return
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        found.append(f"{_where(path)}: not valid base64")
        return
    _check_range(shape, len(value), path, found, "characters")


def _check_range(shape: Shape, amount: float, path: str, found: list[str], unit: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    what = f"{amount:g} {unit}".rstrip()
    if low is not None and amount < low:
        found.append(f"{_where(path)}: {what} is below the minimum {low:g} of {shape.name}")
    if high is not None and amount > high:
        found.append(f"{_where(path)}: {what} is above the maximum {high:g} of {shape.name}")


_CHECKS = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_float,
    "double": _check_float,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
    "blob": _check_blob,
}
