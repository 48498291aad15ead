"""Ingest: the watch folder (run by the jobs component, :class:`mie.jobs.component.JobsComponent`)."""

from __future__ import annotations

from mie.ingest.watch import WatchFolder

__all__ = ["WatchFolder"]
