"""The watch folder: every new, complete file in ``<watch>/inputs/`` becomes an asset and starts one transcode job
per settings file in ``<watch>/jobs/`` (or the bundled default job), and optionally a workflow on the asset.

* Complete files only: a file is taken once its size and mtime were the same on two scans and it has not changed
  for ``MIE_WATCH_SETTLE_SECONDS``. Hidden files (``.name``, as rsync and many copiers use while writing) and
  ``*.part``/``*.tmp``/``*.crdownload`` names are ignored until renamed.
* Names are used as given (spaces, unicode); sub-folders of ``inputs/`` are watched too.
* Never twice: each version of a file (path, size, mtime) gets one ``watch_files`` record, written before any work.
  A record left ``Processing`` by a crash is marked ``Error`` at start-up (touch the file to take it again).
* Failures are recorded on the file's record (``GET /api/watch``) and logged; a job that fails ends ERROR.

Polling (no inotify dependency): a scan every ``MIE_WATCH_INTERVAL`` seconds is cheap for folders of thousands of
files, and it also sees files that arrived while the server was down.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mie.background import CallbackLoop
from mie.dataplane.sniff import sniff_media_type
from mie.errors import MieError
from mie.jobs.config import JobsConfig
from mie.jobs.defaults import DEFAULT_NAME, default_job
from mie.jobs.spec import rewrite_destinations, set_input, split_request
from mie.storage.jobs import WatchStore
from mie.types import JSONDict

if TYPE_CHECKING:
    from mie.dataplane.service import DataPlane
    from mie.engine.executions import Executions
    from mie.jobs.service import JobService

log = logging.getLogger(__name__)

_PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", "~")
PROCESSING, SUBMITTED, ERROR = "Processing", "Submitted", "Error"


def fingerprint(path: str, size: int, mtime_ns: int) -> str:
    """The identity of one version of a file."""
    return hashlib.sha256(f"{path}\x00{size}\x00{mtime_ns}".encode()).hexdigest()


class WatchFolder:
    """Scans ``inputs/`` and submits work for new files (a :class:`~mie.types.Component`)."""

    def __init__(
        self,
        config: JobsConfig,
        jobs: JobService,
        dataplane: DataPlane,
        store: WatchStore,
        executions: Executions | None = None,
    ) -> None:
        self.config = config
        self.root = config.watch_dir
        self.inputs = self.root / "inputs"
        self.job_dir = self.root / "jobs"
        self.jobs = jobs
        self.dataplane = dataplane
        self.store = store
        self.executions = executions
        self._seen: dict[str, tuple[int, int]] = {}
        self._known: set[str] = set()
        self.loop = CallbackLoop("watch-folder", self._scan_step)

    def start(self) -> None:
        """Create the folders, close records a crash left open, start scanning."""
        self.inputs.mkdir(parents=True, exist_ok=True)
        self.job_dir.mkdir(parents=True, exist_ok=True)
        self._known = self.store.recover(
            PROCESSING, ERROR, "interrupted by a server stop; touch the file to process it again"
        )
        self.loop.start()
        log.info("watching %s for new media", self.inputs)

    def stop(self) -> None:
        """Stop scanning (a file being submitted finishes first)."""
        self.loop.stop()

    def _scan_step(self) -> float:
        # A timer, not a poll of something that could wake us: files arrive without telling (no inotify).
        try:
            self.scan()
        except Exception:
            log.exception("watch folder scan failed; retrying")
        return self.config.watch_interval

    # Scanning ----------------------------------------------------------------------------------------------------

    def _candidates(self) -> list[tuple[str, Path, os.stat_result]]:
        found = []
        for folder, dirs, names in os.walk(self.inputs):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.startswith(".") or name.endswith(_PARTIAL_SUFFIXES):
                    continue
                path = Path(folder) / name
                try:
                    st = path.stat()
                except OSError:  # removed meanwhile
                    continue
                if path.is_file():
                    found.append((path.relative_to(self.inputs).as_posix(), path, st))
        return found

    def scan(self) -> list[JSONDict]:
        """One pass: submit every file that is new and complete; the records made."""
        made = []
        now = time.time()
        current: dict[str, tuple[int, int]] = {}
        for rel, path, st in self._candidates():
            stat = (st.st_size, st.st_mtime_ns)
            current[rel] = stat
            if fingerprint(rel, *stat) in self._known:
                continue
            if self._seen.get(rel) != stat or now - st.st_mtime < self.config.watch_settle_seconds or st.st_size == 0:
                continue
            record = self.process(rel, path, stat)
            if record is not None:
                made.append(record)
        self._seen = current
        return made

    def process(self, rel: str, path: Path, stat: tuple[int, int]) -> JSONDict | None:
        """Take one complete file: record it, store it, create its asset, jobs and workflow execution."""
        size, mtime_ns = stat
        key = fingerprint(rel, size, mtime_ns)
        record_id = self.store.add(key, rel, size, mtime_ns, status=PROCESSING, created=time.time())
        if record_id is None:  # recorded already (another scan): never twice
            self._known.add(key)
            return None
        self._known.add(key)
        problems: list[str] = []
        asset_id: str | None = None
        execution_id: str | None = None
        job_ids: list[str] = []
        try:
            uri, asset_id, media_type = self._store(rel, path)
            job_ids = self._submit_jobs(rel, uri, asset_id, problems)
            if self.config.watch_workflow and asset_id is not None and media_type == "Video":
                try:
                    execution = self.executions.create(  # type: ignore[union-attr]
                        {"Name": self.config.watch_workflow, "Input": {"AssetId": asset_id}}
                    )
                    execution_id = str(execution["Id"])
                except MieError as exc:
                    problems.append(f"workflow {self.config.watch_workflow}: {exc.message}")
            elif self.config.watch_workflow:
                problems.append(f"workflow {self.config.watch_workflow} not started: {media_type}")
        except (MieError, OSError) as exc:
            problems.append(str(getattr(exc, "message", exc)))
        status = ERROR if problems else SUBMITTED
        message = "; ".join(problems) or None
        if problems:
            log.warning("watch folder: %s: %s", rel, message)
        else:
            log.info("watch folder: %s -> jobs %s", rel, ", ".join(job_ids))
        self.store.finish(
            record_id, status=status, asset_id=asset_id, execution_id=execution_id, job_ids=job_ids, message=message
        )
        return self.record(int(record_id))

    def _store(self, rel: str, path: Path) -> tuple[str, str | None, str]:
        """Copy the file into the object store and make it an asset when it is media; ``(uri, asset id, why)``."""
        bucket = self.dataplane.bucket
        key = f"watch/{uuid.uuid4()}/{rel}"
        with path.open("rb") as fh:
            head = fh.read(8192)
            fh.seek(0)
            self.dataplane.objects.put_stream(bucket, key, fh)
        media_type = sniff_media_type(head)
        if media_type is None:
            # Not recognisable media: the jobs still run and end ERROR with ffprobe's diagnosis.
            return f"s3://{bucket}/{key}", None, "the file is not recognisable media"
        asset = self.dataplane.create_asset(bucket, key, media_type)
        return f"s3://{asset['S3Bucket']}/{asset['S3Key']}", str(asset["AssetId"]), str(media_type)

    def _settings_files(self, problems: list[str]) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        if self.job_dir.is_dir():
            for path in sorted(self.job_dir.iterdir()):
                if path.name.startswith(".") or not path.is_file():
                    continue
                try:
                    found.append((f"jobs/{path.name}", json.loads(path.read_text(encoding="utf-8"))))
                except (OSError, UnicodeDecodeError, ValueError) as exc:
                    problems.append(f"jobs/{path.name}: not a JSON job settings file ({exc})")
        if not found and not problems:
            found.append((DEFAULT_NAME, default_job()))
        return found

    def _submit_jobs(self, rel: str, uri: str, asset_id: str | None, problems: list[str]) -> list[str]:
        stem = Path(rel).stem
        job_ids = []
        for name, body in self._settings_files(problems):
            try:
                request, settings = split_request(body)
                settings = set_input(settings, uri)
                settings = rewrite_destinations(settings, self.config.job_output_bucket, stem, Path(name).stem)
                meta = {
                    "assetID": asset_id or "",
                    "application": self.config.job_application,
                    "input": uri,
                    "settings": name,
                    "watchPath": f"inputs/{rel}",
                }
                doc = self.jobs.create({**request, "Settings": settings}, user_metadata=meta, asset_id=asset_id)
                job_ids.append(str(doc["id"]))
            except MieError as exc:
                problems.append(f"{name}: {exc.message}")
        return job_ids

    # Records -----------------------------------------------------------------------------------------------------

    def record(self, record_id: int) -> JSONDict:
        """One file's record."""
        return _record(self.store.get(record_id))

    def records(self, limit: int = 1000) -> list[JSONDict]:
        """The newest file records first."""
        return [_record(row) for row in self.store.newest(limit)]


def _record(row: JSONDict) -> JSONDict:
    return {
        "Path": f"inputs/{row['path']}",
        "Size": row["size"],
        "Status": row["status"],
        "Created": row["created"],
        "AssetId": row["asset_id"],
        "WorkflowExecutionId": row["execution_id"],
        "JobIds": row["job_ids"],
        "Message": row["message"],
    }
