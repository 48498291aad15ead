"""The typed sections of the settings, one per subsystem. A field ``foo_bar`` is set by ``MIE_FOO_BAR``, by
``foo_bar`` at the top of the TOML file or in the section's table (``[engine]``), and ``Settings(foo_bar=...)``.

Field names are unique across sections (they are the flat names of the environment), so a component handed one
section reads the same attribute names as one handed the whole :class:`~mie.config.Settings`. docs/configuration.md
documents every field and docs/mie.example.toml lists every one (tests/unit/test_config.py checks both).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints


@dataclass(frozen=True)
class ServerSettings:
    """The HTTP server: where it listens, how it is reached, what it accepts."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: Public base URL used in signed upload/download URLs and in notification links; empty means "the URL the
    #: request came in on" (links: the address the server listens on).
    public_url: str = ""
    #: Log level of the server.
    log_level: str = "info"
    #: Origins allowed to call the API from a browser (CORS), comma-separated (``https://a.example,http://b:3000``)
    #: or ``*`` for any; empty (the default) sends no CORS headers, so only same-origin pages (the web UI) can.
    cors_origins: str = ""
    #: Largest JSON request body (bytes).
    max_body_bytes: int = 6 * 1024 * 1024

    @property
    def cors_origin_list(self) -> list[str]:
        """``cors_origins`` as a list (empty: no CORS)."""
        return [origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()]


@dataclass(frozen=True)
class AuthSettings:
    """Who may call the API: API keys, SigV4 key pairs and the failed-authentication brake."""

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


@dataclass(frozen=True)
class StorageSettings:
    """Where the database and the objects live."""

    data_dir: Path = Path("./mie-data")
    #: SQLAlchemy URL; empty means ``sqlite:///<data_dir>/mie.db``.
    database_url: str = ""

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'mie.db').resolve()}"

    @property
    def objects_dir(self) -> Path:
        """Root of the local object store: one sub-folder per bucket."""
        return self.data_dir / "objects"


@dataclass(frozen=True)
class DataPlaneSettings:
    """The data plane's bucket and its signed URLs."""

    #: Name of the data-plane bucket (a folder under ``<data_dir>/objects``).
    dataplane_bucket: str = "dataplane"
    #: Expiry of signed upload/download URLs (MIE: 3600 s).
    url_expiry_seconds: int = 3600
    #: Largest upload a signed form accepts (bytes; MIE: 5 GiB).
    max_upload_bytes: int = 5 * 1024**3


@dataclass(frozen=True)
class EngineSettings:
    """The scheduler and its workers: concurrency, time limits, retries, leases."""

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


@dataclass(frozen=True)
class OperatorSettings:
    """Which operators are loaded and where operators and webhooks may connect to."""

    #: Extra operator plugins to load besides the ``mie.operators`` entry points: comma-separated
    #: ``module:function`` registration functions importable on ``PYTHONPATH`` (handy before packaging one).
    plugins: str = ""
    #: Non-public targets webhooks and HTTP operators may reach anyway, comma-separated host names, IP addresses
    #: and CIDR networks (``127.0.0.1,10.0.0.0/8``); loopback, link-local (cloud metadata), private and other
    #: non-public addresses are refused otherwise (``mie.operators.outbound``).
    outbound_allow: str = ""


@dataclass(frozen=True)
class JobsSettings:
    """Transcode jobs (``/api/jobs``, MediaConvert-shaped) and the tools they run."""

    #: Transcode jobs running at once (each one ffmpeg process using every core).
    job_workers: int = 1
    #: Jobs and their events are kept this long after their last event (hours).
    job_retention_hours: float = 24.0
    #: Seconds between STATUS_UPDATE events when a job sets no StatusUpdateInterval.
    job_status_interval: float = 1.0
    #: How often a job interrupted by a server stop or crash is restarted before ERROR.
    job_max_restarts: int = 1
    #: Bucket of the watch folder's outputs (the sample's MediaBucket).
    job_output_bucket: str = "media"
    #: ``UserMetadata.application`` of watch-folder jobs (the sample's stack name).
    job_application: str = "mie-watchfolder"
    #: The tools (a name on PATH or a path).
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"


@dataclass(frozen=True)
class WatchSettings:
    """The watch folder: files dropped into ``inputs/`` become transcode jobs (and assets)."""

    #: The watch folder (``inputs/`` and ``jobs/`` inside); unset or empty: ``<data_dir>/watch``.
    watch_dir: Path | None = None
    #: Run the watch folder in ``mie serve``.
    watch_enabled: bool = True
    #: A workflow (e.g. ``CasVideoWorkflow``) started on each new file's asset; empty: none.
    watch_workflow: str = ""
    #: Seconds between two scans of ``inputs/``.
    watch_interval: float = 0.5
    #: A file is complete once its size and mtime stayed unchanged this long (seconds).
    watch_settle_seconds: float = 1.0


@dataclass(frozen=True)
class NotificationSettings:
    """Webhook and e-mail deliveries: attempts, backoff, time limit, sending threads."""

    #: Attempts per delivery (the first one included).
    notify_attempts: int = 5
    #: Seconds before the first retry; doubles after each failure, up to ``notify_backoff_max``.
    notify_backoff: float = 2.0
    notify_backoff_max: float = 300.0
    #: Seconds a webhook POST or an SMTP session may take.
    notify_timeout: float = 10.0
    #: Threads sending deliveries.
    notify_workers: int = 2


@dataclass(frozen=True)
class SmtpSettings:
    """The SMTP server of e-mail notifications (none: e-mail subscriptions are refused)."""

    #: SMTP server; empty: no e-mail.
    smtp_host: str = ""
    #: Its port; 0: 25, or 465 with ``smtp_ssl``.
    smtp_port: int = 0
    #: Sender address; empty: ``mie@<this host's name>``.
    smtp_from: str = ""
    #: Log in with this user and password (both or neither).
    smtp_user: str = ""
    smtp_password: str = ""
    #: Upgrade the connection with STARTTLS / connect with TLS from the start (SMTPS); not both.
    smtp_starttls: bool = False
    smtp_ssl: bool = False


@dataclass(frozen=True)
class SearchSettings:
    """The search index: automatic analysis of new media and semantic search."""

    #: Media types analysed automatically: ``on`` (all), ``off``, or a list like ``image,video``.
    auto_analyze: str = "on"
    #: Seconds after an asset's creation before it is analysed.
    auto_analyze_delay: float = 5.0
    #: Workflow per media type, e.g. ``image=MyImages,video=MyVideos`` (the others keep ``Cas*Workflow``).
    auto_analyze_workflows: str = ""
    #: Uploads under this key prefix become assets at once (and so are analysed); empty: none do.
    auto_analyze_upload_prefix: str = "media/"
    #: Embed the insights (MiniLM, the ``search`` extra) and rank searches by meaning too.
    search_semantic: bool = True


#: The sections by name, in the order ``mie config`` and the example file show them. The name is the attribute
#: of :class:`~mie.config.Settings` and the TOML table.
SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "auth": AuthSettings,
    "storage": StorageSettings,
    "dataplane": DataPlaneSettings,
    "engine": EngineSettings,
    "operators": OperatorSettings,
    "jobs": JobsSettings,
    "watch": WatchSettings,
    "notifications": NotificationSettings,
    "smtp": SmtpSettings,
    "search": SearchSettings,
}

#: Flat setting name -> the section holding it.
FIELD_SECTION: dict[str, str] = {f.name: section for section, cls in SECTIONS.items() for f in fields(cls)}
#: Flat setting name -> its type (resolved: the modules use postponed annotations).
FIELD_TYPES: dict[str, Any] = {
    name: hint for cls in SECTIONS.values() for name, hint in get_type_hints(cls).items() if name in FIELD_SECTION
}
#: Settings whose values are secrets: ``mie config`` masks them.
SECRET_SETTINGS = frozenset({"api_key", "api_keys_readonly", "sigv4_secret_access_key",
                             "sigv4_readonly_secret_access_key", "smtp_password"})  # fmt: skip

if len(FIELD_SECTION) != sum(len(fields(cls)) for cls in SECTIONS.values()):  # pragma: no cover - a coding error
    raise AssertionError("two settings sections define the same field name")
