"""The one settings object: every section, plus read-only flat names (``settings.workers`` is
``settings.engine.workers``) so that code written against the flat settings of old keeps working."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from mie.config.sections import (
    FIELD_SECTION,
    FIELD_TYPES,
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
from mie.config.values import coerce
from mie.errors import ConfigurationError

T = TypeVar("T")

#: Where a value came from, as ``mie config`` shows it.
DEFAULT, FILE, ENV, OVERRIDE = "default", "file", "env", "override"


class _Flat(Generic[T]):
    """A read-only flat name for a section's field: on :class:`Settings`, ``workers`` reads ``engine.workers``."""

    def __init__(self) -> None:
        self.name = ""
        self.section = ""

    def __set_name__(self, owner: type, name: str) -> None:
        if name not in FIELD_SECTION:  # pragma: no cover - a coding error, caught at import
            raise AssertionError(f"{name} is not a field of any settings section")
        self.name, self.section = name, FIELD_SECTION[name]

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Flat[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> T | _Flat[T]:
        if obj is None:
            return self
        value: T = getattr(getattr(obj, self.section), self.name)
        return value


@dataclass(frozen=True, init=False)
class Settings:
    """Every knob of the server, in one typed section per subsystem (see :mod:`mie.config.sections`).

    ``Settings(workers=2, data_dir=path)`` takes flat names (each routed to its section) and whole sections
    (``Settings(engine=EngineSettings(workers=2))``); it does not check values: :func:`~mie.config.load_settings`
    and :meth:`with_overrides` do.
    """

    server: ServerSettings
    auth: AuthSettings
    storage: StorageSettings
    dataplane: DataPlaneSettings
    engine: EngineSettings
    operators: OperatorSettings
    jobs: JobsSettings
    watch: WatchSettings
    notifications: NotificationSettings
    smtp: SmtpSettings
    search: SearchSettings
    #: Flat setting name -> where its value came from (``default``, ``file``, ``env``, ``override``).
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __init__(self, *, origins: Mapping[str, str] | None = None, **values: Any) -> None:
        given: dict[str, Any] = {}
        flat: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            if key in SECTIONS:
                if not isinstance(value, SECTIONS[key]):
                    raise TypeError(f"Settings({key}=...) takes a {SECTIONS[key].__name__}")
                given[key] = value
            elif key in FIELD_SECTION:
                flat.setdefault(FIELD_SECTION[key], {})[key] = value
            else:
                raise TypeError(f"Settings() got an unexpected keyword argument {key!r}")
        for name, cls in SECTIONS.items():
            section = given.get(name) or cls()
            if name in flat:
                section = replace(section, **flat[name])
            object.__setattr__(self, name, section)
        object.__setattr__(self, "origins", dict(origins or {}))

    # Flat names, section by section (tests/unit/test_config.py checks every field has one, of its type).
    host = _Flat[str]()
    port = _Flat[int]()
    public_url = _Flat[str]()
    log_level = _Flat[str]()
    cors_origins = _Flat[str]()
    max_body_bytes = _Flat[int]()
    api_key = _Flat[str]()
    api_keys_readonly = _Flat[str]()
    sigv4_access_key_id = _Flat[str]()
    sigv4_secret_access_key = _Flat[str]()
    sigv4_readonly_access_key_id = _Flat[str]()
    sigv4_readonly_secret_access_key = _Flat[str]()
    sigv4_region = _Flat[str]()
    sigv4_service = _Flat[str]()
    sigv4_max_skew_seconds = _Flat[float]()
    auth_failure_burst = _Flat[int]()
    auth_failure_window = _Flat[float]()
    data_dir = _Flat[Path]()
    database_url = _Flat[str]()
    dataplane_bucket = _Flat[str]()
    url_expiry_seconds = _Flat[int]()
    max_upload_bytes = _Flat[int]()
    workers = _Flat[int]()
    process_workers = _Flat[int]()
    worker_memory_mb = _Flat[int]()
    operator_timeout = _Flat[float]()
    max_concurrent_workflows = _Flat[int]()
    monitor_interval = _Flat[float]()
    monitor_interval_max = _Flat[float]()
    operator_retries = _Flat[int]()
    retry_interval = _Flat[float]()
    retry_backoff = _Flat[float]()
    task_lease_seconds = _Flat[float]()
    plugins = _Flat[str]()
    outbound_allow = _Flat[str]()
    job_workers = _Flat[int]()
    job_retention_hours = _Flat[float]()
    job_status_interval = _Flat[float]()
    job_max_restarts = _Flat[int]()
    job_output_bucket = _Flat[str]()
    job_application = _Flat[str]()
    ffmpeg = _Flat[str]()
    ffprobe = _Flat[str]()
    watch_dir = _Flat[Path | None]()
    watch_enabled = _Flat[bool]()
    watch_workflow = _Flat[str]()
    watch_interval = _Flat[float]()
    watch_settle_seconds = _Flat[float]()
    notify_attempts = _Flat[int]()
    notify_backoff = _Flat[float]()
    notify_backoff_max = _Flat[float]()
    notify_timeout = _Flat[float]()
    notify_workers = _Flat[int]()
    smtp_host = _Flat[str]()
    smtp_port = _Flat[int]()
    smtp_from = _Flat[str]()
    smtp_user = _Flat[str]()
    smtp_password = _Flat[str]()
    smtp_starttls = _Flat[bool]()
    smtp_ssl = _Flat[bool]()
    auto_analyze = _Flat[str]()
    auto_analyze_delay = _Flat[float]()
    auto_analyze_workflows = _Flat[str]()
    auto_analyze_upload_prefix = _Flat[str]()
    search_semantic = _Flat[bool]()

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        return self.storage.effective_database_url

    @property
    def cors_origin_list(self) -> list[str]:
        """``cors_origins`` as a list (empty: no CORS)."""
        return self.server.cors_origin_list

    @property
    def objects_dir(self) -> Path:
        """Root of the local object store: one sub-folder per bucket."""
        return self.storage.objects_dir

    @property
    def effective_watch_dir(self) -> Path:
        """The watch folder, defaulting to ``<data_dir>/watch``."""
        return self.watch.watch_dir if self.watch.watch_dir is not None else self.storage.data_dir / "watch"

    def origin(self, name: str) -> str:
        """Where setting ``name``'s value came from (``default`` unless :attr:`origins` says otherwise)."""
        return self.origins.get(name, DEFAULT)

    def items(self) -> Iterator[tuple[str, str, Any]]:
        """Every setting as ``(section, name, value)``, section by section."""
        for section in SECTIONS:
            values = getattr(self, section)
            for f in fields(values):
                yield section, f.name, getattr(values, f.name)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A checked copy with some settings replaced, by flat name (``None`` values are ignored). Values are read
        as the environment's are (``with_overrides(watch_enabled="off")``); a bad one raises ConfigurationError."""
        from mie.config.checks import validate

        values: dict[str, Any] = {}
        for name, raw in overrides.items():
            if raw is None:
                continue
            if name not in FIELD_SECTION:
                raise ConfigurationError(f"unknown setting {name!r}")
            values[name] = coerce(name, raw, FIELD_TYPES[name])
        by_section: dict[str, dict[str, Any]] = {}
        for name, value in values.items():
            by_section.setdefault(FIELD_SECTION[name], {})[name] = value
        sections = {section: replace(getattr(self, section), **by_section.get(section, {})) for section in SECTIONS}
        settings = Settings(**sections, origins={**self.origins, **dict.fromkeys(values, OVERRIDE)})
        validate(settings)
        return settings
