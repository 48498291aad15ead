"""Typed settings, read once from a TOML file and ``MIE_*`` environment variables, then passed down.

Nothing else in ``mie`` reads the environment for settings: the composition root builds one :class:`Settings`
(:func:`load_settings`) and hands each subsystem its section (or, for components that still read several sections,
the whole object, whose flat names such as ``settings.workers`` read the sections). docs/configuration.md lists
every setting; docs/mie.example.toml is a complete example file.
"""

from __future__ import annotations

from mie.config.checks import MIN_SECRET_LENGTH, validate
from mie.config.loader import NOT_SETTINGS, TEST_PREFIX, load_settings, setting_variables
from mie.config.sections import (
    FIELD_SECTION,
    SECRET_SETTINGS,
    SECTIONS,
    AuthSettings,
    DataPlaneSettings,
    EngineSettings,
    JobsSettings,
    NotificationSettings,
    OperatorSettings,
    SearchSettings,
    ServerSettings,
    SmtpSettings,
    StorageSettings,
    WatchSettings,
)
from mie.config.settings import Settings
from mie.config.values import FALSE_WORDS, TRUE_WORDS, env_name, parse_bool

__all__ = [
    "FALSE_WORDS",
    "FIELD_SECTION",
    "MIN_SECRET_LENGTH",
    "NOT_SETTINGS",
    "SECRET_SETTINGS",
    "SECTIONS",
    "TEST_PREFIX",
    "TRUE_WORDS",
    "AuthSettings",
    "DataPlaneSettings",
    "EngineSettings",
    "JobsSettings",
    "NotificationSettings",
    "OperatorSettings",
    "SearchSettings",
    "ServerSettings",
    "Settings",
    "SmtpSettings",
    "StorageSettings",
    "WatchSettings",
    "env_name",
    "load_settings",
    "parse_bool",
    "setting_variables",
    "validate",
]
