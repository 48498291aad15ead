"""docs/architecture.md is the map of the code: every top-level package and module under ``src/mie`` appears in it,
and every source file it names exists (a renamed or removed module must be reflected there)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
SRC = ROOT / "src" / "mie"


def _top_level() -> list[str]:
    names = []
    for path in sorted(SRC.iterdir()):
        if path.suffix == ".py" and path.stem != "__init__":
            names.append(path.name)
        elif (path / "__init__.py").is_file():
            names.append(f"{path.name}/")
    return names


def test_every_top_level_package_is_on_the_map() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in _top_level() if f"`{name}`" not in text]
    assert not missing, f"docs/architecture.md does not mention {missing}"


def test_every_source_file_the_map_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = set(
        re.findall(r"`((?:engine|api|storage|operators|dataplane|consumers|jobs|ingest|web|cli)/[\w/]+\.py)`", text)
    )
    missing = sorted(p for p in named if not (SRC / p).is_file())
    assert named, "the map names no source files"
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"
