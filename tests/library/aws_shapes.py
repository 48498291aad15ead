"""Check a stored result against the output shape of the AWS call it replaces, from botocore's service models.

botocore's own validator checks member names and types but not enum values; :func:`problems` checks those too,
since a strict client (a generated SDK, a typed front end) rejects an unknown enum value.
"""

from __future__ import annotations

from typing import Any

import pytest


def _enum_problems(value: Any, shape: Any, path: str) -> list[str]:
    found: list[str] = []
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                found += _enum_problems(value[name], member, f"{path}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            found += _enum_problems(item, shape.member, f"{path}[{index}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            found += _enum_problems(item, shape.value, f"{path}.{key}")
    elif shape.type_name == "string" and getattr(shape, "enum", None) and value not in shape.enum:
        found.append(f"{path}: {value!r} is not one of {shape.enum}")
    return found


def problems(result: Any, service: str, operation: str) -> list[str]:
    """Everything in ``result`` that the output shape of ``service``'s ``operation`` does not allow (the calling
    test is skipped when botocore is not installed)."""
    botocore_session = pytest.importorskip("botocore.session")
    validate = pytest.importorskip("botocore.validate")
    model = botocore_session.get_session().get_service_model(service)
    shape = model.operation_model(operation).output_shape
    report = validate.ParamValidator().validate(result, shape)
    found = [report.generate_report()] if report.has_errors() else []
    return found + _enum_problems(result, shape, operation)
