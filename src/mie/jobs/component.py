"""The jobs component: the transcode job workers and the watch folder that feeds them, as one background component."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mie.config import Settings
from mie.ingest.watch import WatchFolder
from mie.jobs.config import JobsConfig
from mie.jobs.service import JobService
from mie.storage.jobs import JobStore, WatchStore

if TYPE_CHECKING:
    from mie.dataplane.service import DataPlane
    from mie.engine.executions import Executions

log = logging.getLogger(__name__)


class JobsComponent:
    """The job workers and (unless ``MIE_WATCH_ENABLED=false``) the watch folder, as one background component."""

    def __init__(self, jobs: JobService, watcher: WatchFolder | None) -> None:
        self.jobs = jobs
        self.watcher = watcher

    @classmethod
    def create(
        cls,
        settings: Settings,
        dataplane: DataPlane,
        executions: Executions | None,
        store: JobStore,
        watch_store: WatchStore,
    ) -> JobsComponent:
        """Wire the job service and the watch folder from the settings (``MIE_JOB_*``, ``MIE_WATCH_*``)."""
        config = JobsConfig.from_settings(settings)
        jobs = JobService(dataplane, store, config, settings.data_dir / "scratch" / "jobs")
        watcher = WatchFolder(config, jobs, dataplane, watch_store, executions) if config.watch_enabled else None
        return cls(jobs, watcher)

    def start(self) -> None:
        """Start the workers, then the watch folder."""
        self.jobs.start()
        if self.watcher is not None:
            self.watcher.start()

    def stop(self) -> None:
        """Stop the watch folder, then the workers (running jobs go back to the queue)."""
        if self.watcher is not None:
            self.watcher.stop()
        self.jobs.stop()
