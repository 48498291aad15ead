"""Operators in ``mie.library`` use the data plane only through the SDK's ``DataPlaneClient`` (issue 10).

``ctx.dataplane`` is typed as the protocol, so mypy already refuses most reaches into the concrete data plane;
this AST check also catches what typing lets through (attribute chains on an ``Any``, the engine-side
``ctx.runtime.dataplane``, a store named ``.db``/``.objects``/``.bucket`` on anything), failing on a new offender.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mie.operators.dataplane import DataPlaneClient

LIBRARY = Path(__file__).resolve().parents[2] / "src" / "mie" / "library"

#: The data plane's collaborators: no operator may name them, on the data plane or anything else.
FORBIDDEN = frozenset({"db", "objects", "bucket", "_db", "_objects", "_bucket"})
#: What an operator may use on ``<something>.dataplane`` (or a variable called ``dataplane``).
CLIENT = frozenset(name for name in vars(DataPlaneClient) if not name.startswith("_"))


def _is_dataplane(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "dataplane") or (
        isinstance(node, ast.Name) and node.id == "dataplane"
    )


def offences(source: str, path: str = "<string>") -> list[str]:
    """``path:line: what`` for every reach past the operator SDK's data-plane client in ``source``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, path)):
        if not isinstance(node, ast.Attribute):
            continue
        where = f"{path}:{node.lineno}"
        if node.attr in FORBIDDEN:
            found.append(f"{where}: .{node.attr} (a data-plane collaborator; use ctx.dataplane's methods)")
        elif _is_dataplane(node.value) and node.attr not in CLIENT:
            found.append(f"{where}: dataplane.{node.attr} is not part of DataPlaneClient")
        elif node.attr == "dataplane" and isinstance(node.value, ast.Attribute) and node.value.attr == "runtime":
            found.append(f"{where}: runtime.dataplane is the engine's side; operators use ctx.dataplane")
    return found


def test_the_client_protocol_is_what_the_check_allows() -> None:
    assert {"read_object", "put_object", "local_file", "media_path", "store_metadata", "default_bucket"} <= CLIENT
    assert not FORBIDDEN & CLIENT


def test_library_operators_use_only_the_data_plane_client() -> None:
    found: list[str] = []
    for file in sorted(LIBRARY.rglob("*.py")):
        found += offences(file.read_text(encoding="utf-8"), file.relative_to(LIBRARY.parents[1]).as_posix())
    assert not found, "operators reaching past DataPlaneClient:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("ctx.dataplane.objects.get_bytes('b', 'k')\n", ".objects"),
        ("bucket = ctx.dataplane.bucket\n", ".bucket"),
        ("dataplane = ctx.dataplane\nurl = dataplane.db.url\n", ".db"),
        ("ctx.dataplane._objects.exists('b', 'k')\n", "._objects"),
        ("ctx.dataplane.create_asset('b', 'k')\n", "dataplane.create_asset is not part of DataPlaneClient"),
        ("ctx.runtime.dataplane.checkout('a', 'me')\n", "runtime.dataplane"),
    ],
)
def test_the_check_catches_each_kind_of_reach(source: str, expected: str) -> None:
    found = offences(source)
    assert any(expected in f for f in found), found


def test_the_check_allows_the_client_and_unrelated_names() -> None:
    source = (
        "from .objects import COCO_NAMES\n"  # a module called objects is not the store
        "data = ctx.dataplane.read_object(ctx.dataplane.default_bucket, 'k')\n"
        "path = ctx.dataplane.local_file('b', 'k', ctx.scratch)\n"
        "self._store()\n"
    )
    assert offences(source) == []
