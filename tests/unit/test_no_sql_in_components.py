"""SQL lives under ``storage/`` (DESIGN.md §2): the jobs, consumers and ingest packages reach their tables only through
store interfaces (``mie.storage.jobs``, ``mie.storage.workqueue``, ...), never SQLAlchemy or ``mie.storage.sql``."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGES = ("jobs", "consumers", "ingest")


def _sql_imports(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            module = node.module or ""
            names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "sqlalchemy" or name == "mie.storage.sql" or name.startswith("mie.storage.sql."):
                found.append((node.lineno, name))
                break
    return found


def test_the_checker_sees_sql_imports() -> None:
    assert _sql_imports("from sqlalchemy import select\n") == [(1, "sqlalchemy")]
    assert _sql_imports("import sqlalchemy.exc\n") == [(1, "sqlalchemy.exc")]
    assert _sql_imports("from mie.storage import sql\n") == [(1, "mie.storage.sql")]
    assert _sql_imports("x = 1\nfrom mie.storage.sql.db import Database\n") == [(2, "mie.storage.sql.db")]
    assert _sql_imports("from mie.storage.jobs import JobStore\n") == []


def test_jobs_consumers_and_ingest_import_no_sql() -> None:
    offenders = [
        f"{file.relative_to(SRC.parent).as_posix()}:{line}: {name}"
        for package in PACKAGES
        for file in sorted((SRC / "mie" / package).rglob("*.py"))
        for line, name in _sql_imports(file.read_text(encoding="utf-8"))
    ]
    assert not offenders, "SQL outside mie.storage (put it behind a store interface):\n" + "\n".join(offenders)
