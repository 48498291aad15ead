"""How a raw setting value (an environment string, a TOML value, a keyword argument) becomes a typed one.

One parser per type, so that every boolean, number and path is read the same way wherever it is set; every error
names the ``MIE_*`` variable, which is also the setting's name in the docs.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from mie.errors import ConfigurationError

#: Words read as true / false (case and surrounding blanks do not matter).
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def env_name(name: str) -> str:
    """The environment variable of setting ``name``: ``workers`` is ``MIE_WORKERS``."""
    return f"MIE_{name.upper()}"


def parse_bool(raw: object, name: str) -> bool:
    """``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off`` (any case); anything else is refused."""
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigurationError(f"{env_name(name)}={raw!r} is not a boolean: use true or false (1/0, yes/no, on/off)")


def _optional(target: Any) -> Any:
    """``X`` for ``X | None`` (None otherwise)."""
    if get_origin(target) in (Union, types.UnionType):
        args = [a for a in get_args(target) if a is not type(None)]
        if len(args) == 1 and len(get_args(target)) == 2:
            return args[0]
    return None


def coerce(name: str, raw: Any, target: Any) -> Any:
    """``raw`` as a value of type ``target`` (``str``, ``int``, ``float``, ``bool``, ``Path`` or ``Path | None``)."""
    inner = _optional(target)
    if inner is not None:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        return coerce(name, raw, inner)
    if target is bool:
        return parse_bool(raw, name)
    try:
        if isinstance(raw, bool) and target is not str:
            raise TypeError("a boolean is not a number")
        if target is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError("not a whole number")
            return int(raw.strip() if isinstance(raw, str) else raw)
        if target is float:
            return float(raw)
        if target is Path:
            return raw if isinstance(raw, Path) else Path(str(raw))
        if target is str:
            # A TOML array stands for the comma-separated list the environment variable takes.
            if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
                return ",".join(raw)
            if isinstance(raw, (dict, list)):
                raise TypeError("a table or array is not text")
            return str(raw)
    except (TypeError, ValueError) as exc:
        kind = getattr(target, "__name__", str(target))
        raise ConfigurationError(f"setting {env_name(name)}: cannot read {raw!r} as {kind}") from exc
    raise ConfigurationError(f"setting {env_name(name)} has a type ({target}) settings cannot hold")
