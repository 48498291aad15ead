"""Check a JSON document against the output shape of a Rekognition call in botocore's service model."""

from __future__ import annotations

from typing import Any

import pytest


def _check(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        for key, item in value.items():
            if key not in shape.members:
                problems.append(f"{path}.{key}: not a member of {shape.name}")
            else:
                _check(shape.members[key], item, f"{path}.{key}", problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string")
        elif shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.enum}")
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{path}: expected a number")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: expected an integer")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean")
    elif kind == "timestamp" and (isinstance(value, bool) or not isinstance(value, int | float | str)):
        problems.append(f"{path}: expected a timestamp")


def problems(operation: str, document: Any) -> list[str]:
    """What in ``document`` does not fit the output of Rekognition ``operation`` (e.g. ``IndexFaces``)."""
    session = pytest.importorskip("botocore.session")
    model = session.get_session().get_service_model("rekognition")
    found: list[str] = []
    _check(model.operation_model(operation).output_shape, document, operation, found)
    return found
