"""Typed settings, read once from ``MIE_*`` environment variables (and an optional TOML file), then passed down.

Nothing else in ``mie`` reads the environment: the composition root builds a :class:`Settings` and hands it to
whatever needs it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mie.errors import ConfigurationError

#: Shortest accepted API key or SigV4 secret.
MIN_SECRET_LENGTH = 16
#: Settings whose values are secrets: ``mie config`` masks them.
SECRET_SETTINGS = frozenset({"api_key", "api_keys_readonly", "sigv4_secret_access_key",
                             "sigv4_readonly_secret_access_key"})  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """Every knob of the engine. Field ``foo_bar`` is read from ``MIE_FOO_BAR``."""

    data_dir: Path = Path("./mie-data")
    host: str = "127.0.0.1"
    port: int = 8080
    #: API key; when empty one is generated into ``<data_dir>/api-key`` on first start.
    api_key: str = ""
    #: Read-only API keys, comma-separated: they may GET and HEAD only (``api_key`` may do everything).
    api_keys_readonly: str = ""
    #: SigV4 key pairs (MIE's clients sign with AWS Signature Version 4): an admin pair and a read-only pair.
    sigv4_access_key_id: str = ""
    sigv4_secret_access_key: str = ""
    sigv4_readonly_access_key_id: str = ""
    sigv4_readonly_secret_access_key: str = ""
    #: Region and service a SigV4 credential must be scoped to (API Gateway's service name: ``execute-api``).
    sigv4_region: str = "us-east-1"
    sigv4_service: str = "execute-api"
    #: Largest difference between a signed request's ``x-amz-date`` and the server's clock (seconds).
    sigv4_max_skew_seconds: float = 300.0
    #: Failed authentications one client address may make in a burst, refilled over the window (seconds); beyond
    #: that it is answered 429. 0 turns the brake off.
    auth_failure_burst: int = 10
    auth_failure_window: float = 60.0
    #: SQLAlchemy URL; empty means ``sqlite:///<data_dir>/mie.db``.
    database_url: str = ""
    #: Name of the data-plane bucket (a folder under ``<data_dir>/objects``).
    dataplane_bucket: str = "dataplane"
    #: Public base URL used in signed upload/download URLs; empty means "the URL the request came in on".
    public_url: str = ""
    #: Embedded worker threads running operators.
    workers: int = 8
    #: Worker processes for operators declared ``isolation="process"`` (0: as many as CPUs).
    process_workers: int = 0
    #: Address space (MiB) each operator worker process may use (``RLIMIT_AS``); past it the task fails with a
    #: MemoryError instead of the machine running out of memory. 0: no limit.
    worker_memory_mb: int = 6144
    #: Seconds an operator call may take when its operation sets no ``TimeoutSeconds`` (MIE's Lambdas: 900).
    operator_timeout: float = 3600.0
    #: Default ``MaxConcurrentWorkflows`` until ``POST /api/system/configuration`` sets one (MIE: 5).
    max_concurrent_workflows: int = 5
    #: First delay before an async operator's monitor is called, and the cap of its backoff (seconds).
    monitor_interval: float = 10.0
    monitor_interval_max: float = 60.0
    #: Retries of an operator raising MasExecutionError or a retryable error (MIE: 2, after 2 s then 4 s).
    operator_retries: int = 2
    retry_interval: float = 2.0
    retry_backoff: float = 2.0
    #: How long a claimed task is leased to a worker before another may take it.
    task_lease_seconds: float = 60.0
    #: Expiry of signed upload/download URLs (MIE: 3600 s).
    url_expiry_seconds: int = 3600
    #: Largest JSON request body (bytes) and largest upload (bytes; MIE: 5 GiB).
    max_body_bytes: int = 6 * 1024 * 1024
    max_upload_bytes: int = 5 * 1024**3
    #: Log level of the server.
    log_level: str = "info"
    #: Extra operator plugins to load besides the ``mie.operators`` entry points: comma-separated
    #: ``module:function`` registration functions importable on ``PYTHONPATH`` (handy before packaging one).
    plugins: str = ""
    #: Origins allowed to call the API from a browser (CORS), comma-separated (``https://a.example,http://b:3000``)
    #: or ``*`` for any; empty (the default) sends no CORS headers, so only same-origin pages (the web UI) can.
    cors_origins: str = ""
    #: Non-public targets webhooks and HTTP operators may reach anyway, comma-separated host names, IP addresses
    #: and CIDR networks (``127.0.0.1,10.0.0.0/8``); loopback, link-local (cloud metadata), private and other
    #: non-public addresses are refused otherwise (``mie.operators.outbound``).
    outbound_allow: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'mie.db').resolve()}"

    @property
    def cors_origin_list(self) -> list[str]:
        """``cors_origins`` as a list (empty: no CORS)."""
        return [origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def objects_dir(self) -> Path:
        """Root of the local object store: one sub-folder per bucket."""
        return self.data_dir / "objects"

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some fields replaced (``None`` values are ignored)."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **clean)


def _coerce(name: str, raw: Any, target: Any) -> Any:
    try:
        if target is Path or target == "Path":
            return Path(str(raw))
        if target is int or target == "int":
            return int(raw)
        if target is float or target == "float":
            return float(raw)
        if target is str or target == "str":
            return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"setting {name}: cannot read {raw!r} as {target}") from exc
    raise ConfigurationError(f"setting {name} cannot be set from the environment")


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from a TOML file (``MIE_CONFIG_FILE``), then ``MIE_*`` variables, then ``overrides``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    settable = {f.name: f.type for f in fields(Settings) if f.name != "extra"}
    config_file = env.get("MIE_CONFIG_FILE")
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read MIE_CONFIG_FILE {config_file}: {exc}") from exc
        for key, raw in data.items():
            name = key.lower().replace("-", "_")
            if name not in settable:
                raise ConfigurationError(f"unknown setting {key!r} in {config_file}")
            values[name] = _coerce(name, raw, settable[name])
    extra: dict[str, str] = {}
    for key, raw in env.items():
        if not key.startswith("MIE_") or key == "MIE_CONFIG_FILE":
            continue
        name = key[4:].lower()
        if name in settable:
            values[name] = _coerce(key, raw, settable[name])
        else:
            extra[name] = raw
    for name, raw in overrides.items():
        if raw is not None:
            values[name] = _coerce(name, raw, settable[name])
    settings = Settings(**values, extra=extra)
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    if settings.workers < 1:
        raise ConfigurationError("MIE_WORKERS must be at least 1")
    if settings.process_workers < 0:
        raise ConfigurationError("MIE_PROCESS_WORKERS must be 0 (one per CPU) or more")
    if settings.worker_memory_mb != 0 and settings.worker_memory_mb < 512:
        raise ConfigurationError("MIE_WORKER_MEMORY_MB must be 0 (no limit) or at least 512 (MiB)")
    if settings.operator_timeout <= 0:
        raise ConfigurationError("MIE_OPERATOR_TIMEOUT must be a positive number of seconds")
    if settings.max_concurrent_workflows < 1:
        raise ConfigurationError("MIE_MAX_CONCURRENT_WORKFLOWS must be at least 1")
    if (
        not settings.dataplane_bucket
        or "/" in settings.dataplane_bucket
        or settings.dataplane_bucket
        in {
            ".",
            "..",
        }
    ):
        raise ConfigurationError(f"MIE_DATAPLANE_BUCKET {settings.dataplane_bucket!r} is not a bucket name")
    _validate_auth(settings)
    if settings.task_lease_seconds <= 0 or settings.monitor_interval < 0 or settings.retry_interval < 0:
        raise ConfigurationError("lease, monitor and retry intervals must be positive")


def _validate_auth(settings: Settings) -> None:
    """Refuse short keys and half-configured SigV4 pairs at start-up rather than serve with weak credentials."""
    if settings.api_key and len(settings.api_key) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"MIE_API_KEY is {len(settings.api_key)} characters long: use at least {MIN_SECRET_LENGTH} "
            "(or leave it unset to have a random key generated)"
        )
    readonly = [k.strip() for k in settings.api_keys_readonly.split(",") if k.strip()]
    if any(len(k) < MIN_SECRET_LENGTH for k in readonly):
        raise ConfigurationError(f"every key in MIE_API_KEYS_READONLY needs at least {MIN_SECRET_LENGTH} characters")
    if settings.api_key and settings.api_key in readonly:
        raise ConfigurationError("MIE_API_KEYS_READONLY must not contain MIE_API_KEY")
    pairs = (
        ("MIE_SIGV4", settings.sigv4_access_key_id, settings.sigv4_secret_access_key),
        ("MIE_SIGV4_READONLY", settings.sigv4_readonly_access_key_id, settings.sigv4_readonly_secret_access_key),
    )
    for prefix, key_id, secret in pairs:
        if bool(key_id) != bool(secret):
            raise ConfigurationError(f"set both {prefix}_ACCESS_KEY_ID and {prefix}_SECRET_ACCESS_KEY, or neither")
        if secret and len(secret) < MIN_SECRET_LENGTH:
            raise ConfigurationError(f"{prefix}_SECRET_ACCESS_KEY needs at least {MIN_SECRET_LENGTH} characters")
        if key_id and (not key_id.isascii() or not key_id.isalnum()):
            raise ConfigurationError(f"{prefix}_ACCESS_KEY_ID must be letters and digits, like AKIAIOSFODNN7EXAMPLE")
    if settings.sigv4_access_key_id and settings.sigv4_access_key_id == settings.sigv4_readonly_access_key_id:
        raise ConfigurationError("the admin and read-only SigV4 access key ids must differ")
    if not settings.sigv4_region or not settings.sigv4_service:
        raise ConfigurationError("MIE_SIGV4_REGION and MIE_SIGV4_SERVICE must not be empty")
    if settings.sigv4_max_skew_seconds <= 0:
        raise ConfigurationError("MIE_SIGV4_MAX_SKEW_SECONDS must be a positive number of seconds")
    if settings.auth_failure_burst < 0 or settings.auth_failure_window <= 0:
        raise ConfigurationError("MIE_AUTH_FAILURE_BURST must be 0 or more and MIE_AUTH_FAILURE_WINDOW positive")
