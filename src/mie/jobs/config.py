"""The jobs and watch-folder configuration the job service and the watch folder run with: the ``jobs`` and
``watch`` sections of the settings (``MIE_JOB_*``, ``MIE_WATCH_*``, ``MIE_FFMPEG``/``MIE_FFPROBE``), checked by
:func:`mie.config.load_settings`, with the watch folder's default resolved."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mie.config import Settings


@dataclass(frozen=True)
class JobsConfig:
    """Every knob of transcode jobs and the watch folder (see ``JobsSettings`` and ``WatchSettings``)."""

    #: The watch folder (``inputs/`` and ``jobs/`` inside); ``MIE_WATCH_DIR``, default ``<data-dir>/watch``.
    watch_dir: Path
    watch_enabled: bool = True
    watch_workflow: str = ""
    watch_interval: float = 0.5
    watch_settle_seconds: float = 1.0
    job_workers: int = 1
    job_retention_hours: float = 24.0
    job_status_interval: float = 1.0
    job_max_restarts: int = 1
    job_output_bucket: str = "media"
    job_application: str = "mie-watchfolder"
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"

    @property
    def retention_seconds(self) -> float:
        """Retention in seconds."""
        return self.job_retention_hours * 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> JobsConfig:
        """The ``jobs`` and ``watch`` sections of ``settings`` (already checked when they were loaded)."""
        jobs, watch = settings.jobs, settings.watch
        return cls(
            watch_dir=settings.effective_watch_dir,
            watch_enabled=watch.watch_enabled,
            watch_workflow=watch.watch_workflow,
            watch_interval=watch.watch_interval,
            watch_settle_seconds=watch.watch_settle_seconds,
            job_workers=jobs.job_workers,
            job_retention_hours=jobs.job_retention_hours,
            job_status_interval=jobs.job_status_interval,
            job_max_restarts=jobs.job_max_restarts,
            job_output_bucket=jobs.job_output_bucket,
            job_application=jobs.job_application,
            ffmpeg=jobs.ffmpeg,
            ffprobe=jobs.ffprobe,
        )
