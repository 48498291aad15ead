"""``mie config``'s listing: every effective setting, section by section, as TOML (the file the listing shows
would load back, secrets aside), each with where its value came from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from mie.config import SECRET_SETTINGS, Settings, env_name

_ORIGINS = {"default": "default", "file": "MIE_CONFIG_FILE", "override": "command line"}


def _toml(name: str, value: object) -> str:
    """``value`` as a TOML value (secrets masked: their first four characters only)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if value is None:
        return '""'
    text = str(value) if isinstance(value, (str, Path)) else repr(value)
    if name in SECRET_SETTINGS and text:
        text = text[:4] + "…"
    return json.dumps(text, ensure_ascii=False)


def render_settings(settings: Settings) -> Iterator[str]:
    """The lines of ``mie config``: ``[section]`` headers, then ``name = value  # origin``."""
    rows = list(settings.items())
    width = max(len(f"{name} = {_toml(name, value)}") for _, name, value in rows)
    section = ""
    for current, name, value in rows:
        if current != section:
            if section:
                yield ""
            yield f"[{current}]"
            section = current
        origin = settings.origin(name)
        where = f"env {env_name(name)}" if origin == "env" else _ORIGINS.get(origin, origin)
        yield f"{name} = {_toml(name, value)}".ljust(width) + f"  # {where}"
