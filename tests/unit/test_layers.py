"""DESIGN.md §2: imports point down only, ``library`` uses only the operator SDK, and only the composition root
(``bootstrap.py``, plus the CLI) names concrete storage backends.

The rules are a small table checked by walking the AST of every module under ``src/mie`` (imports inside functions
and under ``if TYPE_CHECKING:`` included). Every violation is reported as ``file:line``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "mie"

_BELOW_TOP = (
    "engine", "dataplane", "consumers", "jobs", "ingest", "operators", "resources", "storage", "model", "config",
)  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """Which other layers a layer may import: ``only`` these, or anything ``not`` in ``forbidden``."""

    only: frozenset[str] | None = None
    forbidden: frozenset[str] = frozenset()

    def allows(self, layer: str) -> bool:
        if self.only is not None:
            return layer in self.only
        return layer not in self.forbidden

    def describe(self) -> str:
        if self.only is not None:
            return "only " + (", ".join(sorted(self.only)) or "nothing else in mie")
        return "not " + ", ".join(sorted(self.forbidden))


def only(*layers: str) -> Rule:
    return Rule(only=frozenset(layers))


def not_(*layers: str) -> Rule:
    return Rule(forbidden=frozenset(layers))


#: Layer (first name under ``mie``) -> the layers it may import. Every layer may import its own modules and the
#: root package ``mie`` (a leaf: version constants only). A new top-level module or folder must be added here.
RULES: dict[str, Rule] = {
    ROOT: only(),
    "types": only(),
    "errors": only("types"),
    "config": only("types", "errors"),
    # The one background-loop base (threads, wake, backoff, drain): a leaf every component layer may use.
    "background": only("types", "errors"),
    "model": only("types", "errors"),
    "storage": only("model", "types", "errors", "config"),
    "dataplane": only("storage", "model", "types", "errors", "config"),
    "operators": only("dataplane", "storage", "model", "types", "errors", "config"),
    # Service resources (terminologies, parallel data, vocabularies, language codes): below api and library.
    "resources": only("storage", "types", "errors"),
    "engine": not_("api", "web", "cli", "bootstrap", "library"),
    "consumers": not_("api", "web", "cli", "bootstrap", "library"),
    "jobs": not_("api", "web", "cli", "bootstrap", "library"),
    "ingest": not_("api", "web", "cli", "bootstrap", "library"),
    "library": only("operators", "resources", "types", "errors"),
    "web": only(*_BELOW_TOP, "types", "errors"),
    "api": only(*_BELOW_TOP, "web", "types", "errors"),
    # The CLI reaches the API only through the composition root.
    "cli": only(*_BELOW_TOP, "bootstrap", "types", "errors"),
    "bootstrap": not_(),
    # Runs one operator on a real data plane without a server (for operator authors): SDK level, and it builds
    # its own SQLite + folder backends (see KNOWN_DEVIATIONS).
    "testing": only("dataplane", "operators", "storage", "model", "types", "errors", "config"),
}

#: Concrete backends (module prefixes and symbols), and the layers that may name them.
CONCRETE = ("mie.storage.sql", "mie.storage.objects.LocalObjectStore")
CONCRETE_ALLOWED = frozenset({"bootstrap", "cli", "storage"})


@dataclass(frozen=True)
class Deviation:
    """A known breach of the rules, kept visible here until it is fixed (DESIGN.md §2 is not weakened)."""

    importer: str  # module prefix
    imported: str  # module/symbol prefix
    reason: str
    type_checking_only: bool = False


KNOWN_DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "mie.testing",
        "mie.storage",
        "a second, minimal composition root (SQLite + local folder) for running one operator; not in DESIGN.md §2",
    ),
)


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    importer: str
    imported: str
    rule: str
    type_checking: bool

    def __str__(self) -> str:
        where = " (under TYPE_CHECKING)" if self.type_checking else ""
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported}{where}: {self.rule}"


def _is_module(dotted: str) -> bool:
    base = SRC.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def layer_of(dotted: str) -> str:
    """The layer of a module or symbol path under ``mie``: its first name, or the root package."""
    parts = dotted.split(".")
    if len(parts) > 1 and (parts[1] in RULES or _is_module(f"{ROOT}.{parts[1]}")):
        return parts[1]
    return ROOT


def _concrete(dotted: str) -> bool:
    return any(dotted == c or dotted.startswith(c + ".") for c in CONCRETE)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _imports(module: str, is_package: bool, tree: ast.Module) -> Iterator[tuple[int, str, bool]]:
    """``(line, imported module or symbol path, under TYPE_CHECKING)`` for every ``mie`` reference that counts."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    bindings: dict[str, str] = {}  # local name -> module it is bound to (for attribute access)
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, guarded)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((node.lineno, alias.name, guarded))
                if alias.asname:
                    bindings[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    bindings[head] = head
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                symbol = f"{source}.{alias.name}"
                # a module by its name; a symbol by its module, unless the symbol is a concrete backend itself
                found.append(
                    (
                        node.lineno,
                        symbol if _is_module(symbol) or _concrete(symbol) > _concrete(source) else source,
                        guarded,
                    )
                )
                if _is_module(symbol):
                    bindings[alias.asname or alias.name] = symbol
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted is not None:
                head, _, rest = dotted.partition(".")
                if head in bindings and rest:
                    resolved = f"{bindings[head]}.{rest}"
                    if _concrete(resolved):
                        found.append((node.lineno, resolved, guarded))
                return  # the inner attributes of a chain are prefixes of this one
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    seen: set[tuple[int, str]] = set()
    for line, target, guarded in found:
        if (target == ROOT or target.startswith(ROOT + ".")) and (line, target) not in seen:
            seen.add((line, target))
            yield line, target, guarded


def check_source(module: str, source: str, *, path: str = "<string>", is_package: bool = False) -> list[Violation]:
    """Every rule the module ``module`` with text ``source`` breaks (known deviations included)."""
    importer_layer = module.split(".")[1] if "." in module else ROOT
    rule = RULES.get(importer_layer)
    found: list[Violation] = []
    for line, target, guarded in _imports(module, is_package, ast.parse(source, path)):
        if rule is None:
            msg = f"layer {importer_layer!r} is not in the table of tests/unit/test_layers.py"
            found.append(Violation(path, line, module, target, msg, guarded))
            continue
        target_layer = layer_of(target)
        if target_layer not in (importer_layer, ROOT) and not rule.allows(target_layer):
            msg = f"{importer_layer} may import {rule.describe()}, not {target_layer}"
            found.append(Violation(path, line, module, target, msg, guarded))
        if _concrete(target) and importer_layer not in CONCRETE_ALLOWED:
            msg = "only bootstrap.py (and the CLI) may name concrete backends " + ", ".join(CONCRETE)
            found.append(Violation(path, line, module, target, msg, guarded))
    return found


def _matches(deviation: Deviation, violation: Violation) -> bool:
    def under(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    return (
        under(violation.importer, deviation.importer)
        and under(violation.imported, deviation.imported)
        and (violation.type_checking or not deviation.type_checking_only)
    )


def unexplained(violations: list[Violation], deviations: tuple[Deviation, ...] = KNOWN_DEVIATIONS) -> list[Violation]:
    return [v for v in violations if not any(_matches(d, v) for d in deviations)]


def check_tree() -> list[Violation]:
    found: list[Violation] = []
    for file in sorted((SRC / ROOT).rglob("*.py")):
        rel = file.relative_to(SRC).with_suffix("")
        is_package = rel.name == "__init__"
        module = ".".join(rel.parent.parts if is_package else rel.parts)
        shown = file.relative_to(SRC.parent).as_posix()
        found += check_source(module, file.read_text(encoding="utf-8"), path=shown, is_package=is_package)
    return found


# --- the source tree -------------------------------------------------------------------------------------------


def test_src_mie_follows_the_layer_rules() -> None:
    violations = unexplained(check_tree())
    assert not violations, "layer violations (DESIGN.md §2):\n" + "\n".join(map(str, violations))


def test_known_deviations_still_occur() -> None:
    """A deviation that no longer happens must be deleted, so that it cannot come back unnoticed."""
    violations = check_tree()
    stale = [d for d in KNOWN_DEVIATIONS if not any(_matches(d, v) for v in violations)]
    assert not stale, f"fixed, remove from KNOWN_DEVIATIONS: {stale}"


def test_every_top_level_module_has_a_rule() -> None:
    names = {p.stem for p in (SRC / ROOT).iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert names - {"__init__"} <= set(RULES)


#: Packages outside ``storage/`` that still import SQLAlchemy themselves (DESIGN.md §2: SQL lives under
#: ``storage/``). This list only shrinks: a package that moves its SQL behind a store interface leaves it.
SQLALCHEMY_ALLOWED_OUTSIDE_STORAGE: frozenset[str] = frozenset()


def _sqlalchemy_importers() -> dict[str, list[str]]:
    """Modules outside ``mie.storage`` importing ``sqlalchemy`` (at run time or for type checking), by package."""
    found: dict[str, list[str]] = {}
    for file in sorted((SRC / ROOT).rglob("*.py")):
        rel = file.relative_to(SRC).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        if module == "mie.storage" or module.startswith("mie.storage."):
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            if any(name == "sqlalchemy" or name.startswith("sqlalchemy.") for name in names):
                package = ".".join(module.split(".")[:2])
                found.setdefault(package, []).append(f"{file.relative_to(SRC.parent).as_posix()}:{node.lineno}")
    return found


def test_sqlalchemy_is_imported_only_under_storage() -> None:
    importers = _sqlalchemy_importers()
    outside = {
        package: where for package, where in importers.items() if package not in SQLALCHEMY_ALLOWED_OUTSIDE_STORAGE
    }
    assert not outside, "SQLAlchemy outside mie.storage (move the SQL behind a store interface):\n" + "\n".join(
        line for where in outside.values() for line in where
    )


def test_the_sqlalchemy_allow_list_only_lists_packages_that_still_need_it() -> None:
    stale = SQLALCHEMY_ALLOWED_OUTSIDE_STORAGE - set(_sqlalchemy_importers())
    assert not stale, f"no longer imports SQLAlchemy, remove from SQLALCHEMY_ALLOWED_OUTSIDE_STORAGE: {sorted(stale)}"


def test_the_engine_names_no_sql_at_all() -> None:
    """The engine reaches its store only through mie.storage.engine (no SQLAlchemy, no mie.storage.sql)."""
    engine = [v for v in check_tree() if v.importer.startswith("mie.engine") and _concrete(v.imported)]
    assert not engine, engine
    assert "mie.engine" not in _sqlalchemy_importers()


# --- the checker itself ----------------------------------------------------------------------------------------


def _rules(violations: list[Violation]) -> list[tuple[int, str]]:
    return [(v.line, v.imported) for v in violations]


def test_checker_reports_an_upward_import_with_its_line() -> None:
    source = "from __future__ import annotations\n\nimport json\nfrom mie.engine.scheduler import Scheduler\n"
    found = check_source("mie.model.fake", source, path="src/mie/model/fake.py")
    assert _rules(found) == [(4, "mie.engine.scheduler")]
    assert str(found[0]).startswith("src/mie/model/fake.py:4: mie.model.fake imports mie.engine.scheduler")
    assert "model may import only errors, types, not engine" in str(found[0])


def test_checker_allows_downward_own_layer_and_root_imports() -> None:
    source = (
        "import mie\nfrom mie import API_VERSION\nfrom mie.types import JSONDict\nfrom mie.errors import MieError\n"
        "from mie.model import records\nfrom .records import new_id\n"
    )
    assert check_source("mie.model.fake", source) == []
    cli = "from mie.bootstrap import build\nfrom mie.storage.sql.db import Database\n"
    assert check_source("mie.cli.fake", cli) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        # relative imports are resolved: library -> engine
        ("mie.library.fake", "from ..engine import scheduler\n", "mie.engine.scheduler"),
        # imports inside functions count
        ("mie.library.fake", "def f():\n    from mie.dataplane.service import DataPlane\n", "mie.dataplane.service"),
        ("mie.errors", "from mie.config import Settings\n", "mie.config"),
        ("mie.storage.fake", "import mie.dataplane.service\n", "mie.dataplane.service"),
        ("mie.operators.fake", "from mie.engine import scheduler\n", "mie.engine.scheduler"),
        ("mie.engine.fake", "from mie.api.app import create_app\n", "mie.api.app"),
        ("mie.engine.fake", "from mie import bootstrap\n", "mie.bootstrap"),
        ("mie.api.fake", "from mie.cli.main import app\n", "mie.cli.main"),
        ("mie.cli.fake", "from mie.api.app import create_app\n", "mie.api.app"),
    ],
)
def test_checker_catches_each_kind_of_layer_violation(module: str, source: str, expected: str) -> None:
    found = check_source(module, source)
    assert expected in [v.imported for v in found], found


def test_checker_catches_concrete_backends_outside_bootstrap() -> None:
    source = (
        "import mie.storage.objects as o\n"
        "from mie.storage.objects import ObjectStore, check_key\n"  # the interface is fine
        "store = o.LocalObjectStore\n"
        "from mie.storage.objects import LocalObjectStore\n"
    )
    found = check_source("mie.engine.fake", source)
    assert _rules(found) == [(3, "mie.storage.objects.LocalObjectStore"), (4, "mie.storage.objects.LocalObjectStore")]
    assert check_source("mie.bootstrap", source) == []
    sql = check_source("mie.api.fake", "from mie.storage.sql import tables\n")
    assert _rules(sql) == [(1, "mie.storage.sql.tables")]


def test_type_checking_deviation_does_not_cover_run_time_imports() -> None:
    # The tree has no type-checking-only deviation left (the API's was removed): the checker is tested with one.
    deviations = (Deviation("mie.api", "mie.bootstrap", "for the test", type_checking_only=True),)
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mie.bootstrap import Services\n"
    found = check_source("mie.api.fake", guarded)
    assert [v.type_checking for v in found] == [True]
    assert unexplained(found, deviations) == []
    at_run_time = check_source("mie.api.fake", "from mie.bootstrap import Services\n")
    assert _rules(unexplained(at_run_time, deviations)) == [(1, "mie.bootstrap")]


def test_checker_flags_a_layer_missing_from_the_table() -> None:
    found = check_source("mie.newlayer.fake", "from mie.types import JSONDict\n")
    assert len(found) == 1
    assert "not in the table" in found[0].rule


def test_routers_and_pages_use_typed_components() -> None:
    """The API and the web UI get components through typed accessors (``services.search``, ``.jobs``,
    ``.notifications``), never by name from ``services.components`` and a downcast."""
    found = []
    for layer in ("api", "web"):
        for file in sorted((SRC / ROOT / layer).rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "components":
                    found.append(f"{file.relative_to(SRC.parent).as_posix()}:{node.lineno}")
    assert not found, found
