"""The jobs and watch-folder settings, read once from ``Settings.extra`` (``MIE_*`` variables config.py does not
know land there, lower-cased without the prefix)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mie.config import Settings
from mie.errors import ConfigurationError


@dataclass(frozen=True)
class JobsConfig:
    """Every knob of transcode jobs and the watch folder, with the variable that sets it."""

    #: ``MIE_WATCH_DIR``: the watch folder (``inputs/`` and ``jobs/`` inside); default ``<data-dir>/watch``.
    watch_dir: Path
    #: ``MIE_WATCH_ENABLED``: run the watch folder in ``mie serve`` (default true).
    watch_enabled: bool = True
    #: ``MIE_WATCH_WORKFLOW``: a workflow (e.g. ``CasVideoWorkflow``) started on each new file's asset; empty: none.
    watch_workflow: str = ""
    #: ``MIE_WATCH_INTERVAL``: seconds between two scans of ``inputs/``.
    watch_interval: float = 0.5
    #: ``MIE_WATCH_SETTLE_SECONDS``: a file is complete once its size and mtime stayed unchanged this long.
    watch_settle_seconds: float = 1.0
    #: ``MIE_JOB_WORKERS``: transcode jobs running at once (each one ffmpeg process using every core).
    job_workers: int = 1
    #: ``MIE_JOB_RETENTION_HOURS``: jobs and their events are kept this long after their last event (default 1 day).
    job_retention_hours: float = 24.0
    #: ``MIE_JOB_STATUS_INTERVAL``: seconds between STATUS_UPDATE events when a job sets no StatusUpdateInterval.
    job_status_interval: float = 1.0
    #: ``MIE_JOB_MAX_RESTARTS``: how often a job interrupted by a server stop or crash is restarted before ERROR.
    job_max_restarts: int = 1
    #: ``MIE_JOB_OUTPUT_BUCKET``: bucket of the watch folder's outputs (the sample's MediaBucket).
    job_output_bucket: str = "media"
    #: ``MIE_JOB_APPLICATION``: ``UserMetadata.application`` of watch-folder jobs (the sample's stack name).
    job_application: str = "mie-watchfolder"
    #: ``MIE_FFMPEG`` / ``MIE_FFPROBE``: the tools (a name on PATH or a path).
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"

    @property
    def retention_seconds(self) -> float:
        """Retention in seconds."""
        return self.job_retention_hours * 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> JobsConfig:
        """Read the ``MIE_*`` variables of jobs and the watch folder from ``settings.extra``."""
        extra: Mapping[str, str] = settings.extra
        watch_dir = Path(extra["watch_dir"]) if extra.get("watch_dir") else settings.data_dir / "watch"
        try:
            config = cls(
                watch_dir=watch_dir,
                watch_enabled=_bool(extra.get("watch_enabled", "true"), "MIE_WATCH_ENABLED"),
                watch_workflow=extra.get("watch_workflow", ""),
                watch_interval=float(extra.get("watch_interval", 0.5)),
                watch_settle_seconds=float(extra.get("watch_settle_seconds", 1.0)),
                job_workers=int(extra.get("job_workers", 1)),
                job_retention_hours=float(extra.get("job_retention_hours", 24.0)),
                job_status_interval=float(extra.get("job_status_interval", 1.0)),
                job_max_restarts=int(extra.get("job_max_restarts", 1)),
                job_output_bucket=extra.get("job_output_bucket", "media"),
                job_application=extra.get("job_application", "mie-watchfolder"),
                ffmpeg=extra.get("ffmpeg", "ffmpeg"),
                ffprobe=extra.get("ffprobe", "ffprobe"),
            )
        except ValueError as exc:
            raise ConfigurationError(f"a MIE_WATCH_* / MIE_JOB_* setting is not a number: {exc}") from exc
        if config.job_workers < 1:
            raise ConfigurationError("MIE_JOB_WORKERS must be at least 1")
        if config.watch_interval <= 0 or config.watch_settle_seconds < 0 or config.job_status_interval <= 0:
            raise ConfigurationError("MIE_WATCH_INTERVAL and MIE_JOB_STATUS_INTERVAL must be positive")
        if config.job_retention_hours <= 0:
            raise ConfigurationError("MIE_JOB_RETENTION_HOURS must be positive")
        return config


def _bool(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")
