"""``load_settings``: defaults, then a TOML file (``MIE_CONFIG_FILE``), then ``MIE_*`` variables, then the
command line's flags, checked once. Nothing else in ``mie`` reads the environment for settings."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from typing import Any

from mie.config.checks import validate
from mie.config.sections import FIELD_SECTION, FIELD_TYPES, SECTIONS
from mie.config.settings import ENV, FILE, OVERRIDE, Settings
from mie.config.values import coerce, env_name
from mie.errors import ConfigurationError

#: ``MIE_*`` variables that are not settings of the server, and who reads them: ``load_settings`` ignores them.
NOT_SETTINGS: dict[str, str] = {
    "MIE_CONFIG_FILE": "the TOML file load_settings reads",
    "MIE_URL": "the server the CLI and MediaInsightsEngineLambdaHelper talk to",
    "MIE_CHROMIUM": "the Chromium of the web UI tests",
    "MIE_UI_SCREENSHOTS": "the web UI tests, to write docs/images/",
}
#: Variables of the test suite and the scripts (``MIE_TEST_POSTGRES_URL``) start with this: ignored too.
TEST_PREFIX = "MIE_TEST_"


def setting_variables() -> list[str]:
    """The environment variable of every setting, section by section."""
    return [env_name(name) for name in FIELD_SECTION]


def _unknown(what: str, key: str, known: list[str]) -> ConfigurationError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    ignored = ", ".join([*NOT_SETTINGS, f"{TEST_PREFIX}*"])
    return ConfigurationError(
        f"unknown {what} {key}{hint}; the settings are: {', '.join(known)} ({ignored} are not settings: ignored)"
    )


def _read_file(path: str) -> dict[str, Any]:
    """The settings of the TOML file: flat keys at the top, or in the tables of their sections."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read MIE_CONFIG_FILE {path}: {exc}") from exc
    values: dict[str, Any] = {}
    names = list(FIELD_SECTION)
    for key, raw in data.items():
        name = key.lower().replace("-", "_")
        if name in SECTIONS and isinstance(raw, dict):
            for inner, value in raw.items():
                field_name = inner.lower().replace("-", "_")
                if FIELD_SECTION.get(field_name) != name:
                    where = f" (it belongs in [{FIELD_SECTION[field_name]}])" if field_name in FIELD_SECTION else ""
                    raise ConfigurationError(
                        f"unknown setting {inner!r} in [{name}] of {path}{where}; "
                        f"[{name}] takes {', '.join(n for n, s in FIELD_SECTION.items() if s == name)}"
                    )
                values[field_name] = coerce(field_name, value, FIELD_TYPES[field_name])
        elif name in FIELD_SECTION:
            values[name] = coerce(name, raw, FIELD_TYPES[name])
        else:
            raise _unknown(f"setting in {path}:", key, [*names, *(f"[{s}]" for s in SECTIONS)])
    return values


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build and check the settings: defaults, then the TOML file named by ``MIE_CONFIG_FILE``, then ``MIE_*``
    variables, then ``overrides`` (flat names; ``None`` is ignored, as the command line passes unset flags).

    A ``MIE_*`` variable that is no setting is an error listing the valid ones, except :data:`NOT_SETTINGS` and
    ``MIE_TEST_*``.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    config_file = env.get("MIE_CONFIG_FILE")
    if config_file:
        values.update(_read_file(config_file))
        origins.update(dict.fromkeys(values, FILE))
    by_variable = {env_name(name): name for name in FIELD_SECTION}
    for key, raw in env.items():
        if not key.startswith("MIE_") or key in NOT_SETTINGS or key.startswith(TEST_PREFIX):
            continue
        name = by_variable.get(key)
        if name is None:
            raise _unknown("environment variable", key, list(by_variable))
        values[name] = coerce(name, raw, FIELD_TYPES[name])
        origins[name] = ENV
    for name, raw in overrides.items():
        if raw is None:
            continue
        if name not in FIELD_SECTION:
            raise ConfigurationError(f"unknown setting {name!r}")
        values[name] = coerce(name, raw, FIELD_TYPES[name])
        origins[name] = OVERRIDE
    settings = Settings(**values, origins=origins)
    validate(settings)
    return settings
