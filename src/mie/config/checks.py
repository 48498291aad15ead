"""Start-up checks of the settings: a bad value stops the server with a message naming its variable, rather than
a component failing later (or, worse, serving with weak credentials)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mie.errors import ConfigurationError

if TYPE_CHECKING:
    from mie.config.settings import Settings

#: Shortest accepted API key or SigV4 secret.
MIN_SECRET_LENGTH = 16


def validate(settings: Settings) -> None:
    """Raise ConfigurationError on the first setting that cannot work."""
    _validate_engine(settings)
    _validate_storage(settings)
    _validate_auth(settings)
    _validate_jobs(settings)
    _validate_notifications(settings)
    if settings.search.auto_analyze_delay < 0:
        raise ConfigurationError("MIE_AUTO_ANALYZE_DELAY must not be negative")


def _validate_engine(settings: Settings) -> None:
    engine = settings.engine
    if engine.workers < 1:
        raise ConfigurationError("MIE_WORKERS must be at least 1")
    if engine.process_workers < 0:
        raise ConfigurationError("MIE_PROCESS_WORKERS must be 0 (one per CPU) or more")
    if engine.worker_memory_mb != 0 and engine.worker_memory_mb < 512:
        raise ConfigurationError("MIE_WORKER_MEMORY_MB must be 0 (no limit) or at least 512 (MiB)")
    if engine.operator_timeout <= 0:
        raise ConfigurationError("MIE_OPERATOR_TIMEOUT must be a positive number of seconds")
    if engine.max_concurrent_workflows < 1:
        raise ConfigurationError("MIE_MAX_CONCURRENT_WORKFLOWS must be at least 1")
    if engine.task_lease_seconds <= 0 or engine.monitor_interval < 0 or engine.retry_interval < 0:
        raise ConfigurationError("lease, monitor and retry intervals must be positive")


def _validate_storage(settings: Settings) -> None:
    bucket = settings.dataplane.dataplane_bucket
    if not bucket or "/" in bucket or bucket in {".", ".."}:
        raise ConfigurationError(f"MIE_DATAPLANE_BUCKET {bucket!r} is not a bucket name")


def _validate_auth(settings: Settings) -> None:
    """Refuse short keys and half-configured SigV4 pairs at start-up rather than serve with weak credentials."""
    auth = settings.auth
    if auth.api_key and len(auth.api_key) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"MIE_API_KEY is {len(auth.api_key)} characters long: use at least {MIN_SECRET_LENGTH} "
            "(or leave it unset to have a random key generated)"
        )
    readonly = [k.strip() for k in auth.api_keys_readonly.split(",") if k.strip()]
    if any(len(k) < MIN_SECRET_LENGTH for k in readonly):
        raise ConfigurationError(f"every key in MIE_API_KEYS_READONLY needs at least {MIN_SECRET_LENGTH} characters")
    if auth.api_key and auth.api_key in readonly:
        raise ConfigurationError("MIE_API_KEYS_READONLY must not contain MIE_API_KEY")
    pairs = (
        ("MIE_SIGV4", auth.sigv4_access_key_id, auth.sigv4_secret_access_key),
        ("MIE_SIGV4_READONLY", auth.sigv4_readonly_access_key_id, auth.sigv4_readonly_secret_access_key),
    )
    for prefix, key_id, secret in pairs:
        if bool(key_id) != bool(secret):
            raise ConfigurationError(f"set both {prefix}_ACCESS_KEY_ID and {prefix}_SECRET_ACCESS_KEY, or neither")
        if secret and len(secret) < MIN_SECRET_LENGTH:
            raise ConfigurationError(f"{prefix}_SECRET_ACCESS_KEY needs at least {MIN_SECRET_LENGTH} characters")
        if key_id and (not key_id.isascii() or not key_id.isalnum()):
            raise ConfigurationError(f"{prefix}_ACCESS_KEY_ID must be letters and digits, like AKIAIOSFODNN7EXAMPLE")
    if auth.sigv4_access_key_id and auth.sigv4_access_key_id == auth.sigv4_readonly_access_key_id:
        raise ConfigurationError("the admin and read-only SigV4 access key ids must differ")
    if not auth.sigv4_region or not auth.sigv4_service:
        raise ConfigurationError("MIE_SIGV4_REGION and MIE_SIGV4_SERVICE must not be empty")
    if auth.sigv4_max_skew_seconds <= 0:
        raise ConfigurationError("MIE_SIGV4_MAX_SKEW_SECONDS must be a positive number of seconds")
    if auth.auth_failure_burst < 0 or auth.auth_failure_window <= 0:
        raise ConfigurationError("MIE_AUTH_FAILURE_BURST must be 0 or more and MIE_AUTH_FAILURE_WINDOW positive")


def _validate_jobs(settings: Settings) -> None:
    jobs, watch = settings.jobs, settings.watch
    if jobs.job_workers < 1:
        raise ConfigurationError("MIE_JOB_WORKERS must be at least 1")
    if watch.watch_interval <= 0 or watch.watch_settle_seconds < 0 or jobs.job_status_interval <= 0:
        raise ConfigurationError("MIE_WATCH_INTERVAL and MIE_JOB_STATUS_INTERVAL must be positive")
    if jobs.job_retention_hours <= 0:
        raise ConfigurationError("MIE_JOB_RETENTION_HOURS must be positive")
    if jobs.job_max_restarts < 0:
        raise ConfigurationError("MIE_JOB_MAX_RESTARTS must be 0 or more")


def _at_least(name: str, value: float, minimum: float) -> None:
    if value < minimum:
        raise ConfigurationError(f"MIE_{name.upper()} must be at least {minimum:g} (got {value:g})")


def _validate_notifications(settings: Settings) -> None:
    notify, smtp = settings.notifications, settings.smtp
    _at_least("notify_attempts", notify.notify_attempts, 1)
    _at_least("notify_backoff", notify.notify_backoff, 0)
    _at_least("notify_backoff_max", notify.notify_backoff_max, 0)
    _at_least("notify_timeout", notify.notify_timeout, 0.1)
    _at_least("notify_workers", notify.notify_workers, 1)
    if not smtp.smtp_host.strip():
        return  # no e-mail: the other SMTP settings are not used
    if smtp.smtp_ssl and smtp.smtp_starttls:
        raise ConfigurationError("set MIE_SMTP_SSL or MIE_SMTP_STARTTLS, not both")
    if not 0 <= smtp.smtp_port <= 65535:
        raise ConfigurationError(f"MIE_SMTP_PORT={smtp.smtp_port} is not a TCP port (0: 25, or 465 with SSL)")
    if bool(smtp.smtp_user) != bool(smtp.smtp_password):
        raise ConfigurationError("set both MIE_SMTP_USER and MIE_SMTP_PASSWORD, or neither")
