"""The indexing consumer: follows the change log into the media index and the full-text index, and starts the
default analysis of media nobody started a workflow on.

**Offset.** The index changes of a batch of events and the offset after them are written in one transaction
(:meth:`SearchStore.apply`), so a restart resumes exactly after the last applied event: nothing is lost, nothing is
applied twice. Applying an event again would be harmless anyway (results replace, deletes delete).

**Following.** The indexer is the shared :class:`~mie.consumers.base.ChangeConsumer` in its transactional-offset
mode (``apply=``). Its thread sleeps in the change log's wait, which a committed change wakes at once, and
:meth:`SearchIndexer.stop` at once; the timeout (``idle_wait``, 0.5 s) only bounds how quickly events of other
processes (worker processes, other nodes) are seen, and is shortened to the next scheduled analysis. The embedding
thread is a :class:`~mie.background.CallbackLoop` woken after every applied batch.

**Auto-analysis** (``MIE_AUTO_ANALYZE``, default on). When an asset appears, its analysis is scheduled for
``MIE_AUTO_ANALYZE_DELAY`` seconds (default 5) after its creation. Any workflow execution announced on the asset
before then (``mie run``, ``POST /api/workflow/execution`` with ``Input.Media``, the watch folder with a workflow)
cancels it, and when it is due it is skipped if the asset has any execution at all. Otherwise the media type's
default workflow is started on it (``CasImageWorkflow``, ``CasVideoWorkflow``, ``CasAudioWorkflow``; see
``MIE_AUTO_ANALYZE_WORKFLOWS``). Starting goes through ``Executions.create``, which refuses a second active
execution on an asset, so a workflow started at the same moment by a client wins and nothing runs twice.
The schedule is stored with the offset, so a restart does not forget it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mie.background import CallbackLoop
from mie.config import FALSE_WORDS, TRUE_WORDS, SearchSettings
from mie.consumers.base import ChangeConsumer
from mie.consumers.embedding import Embedder, shared_embedder
from mie.consumers.media_index import asset_kind, media_name
from mie.consumers.search_documents import build_documents
from mie.consumers.search_extract import FILE_NAME_OPERATOR, extract, file_name_segment
from mie.consumers.search_vectors import Neighbour, VectorIndex
from mie.dataplane.changes import DATAPLANE, WORKFLOW_EXECUTION, ChangeLog
from mie.dataplane.service import DataPlane
from mie.engine.executions import Executions
from mie.errors import ConfigurationError, ConflictError, MieError, NotFoundError
from mie.storage.search import (
    MEDIA_KINDS,
    DropAsset,
    DropResult,
    IndexChange,
    IndexStats,
    PutAsset,
    PutResult,
    Schedule,
    Unschedule,
)
from mie.storage.vectors import Document, IndexStore
from mie.types import JSONDict

log = logging.getLogger(__name__)

#: The consumer's name in the offsets table.
CONSUMER = "search"
#: Offset row that is non-zero while a rebuild has not finished (a restart then rebuilds again).
REBUILD_MARKER = "search-rebuild"
#: Query embeddings kept (most recent first out when full).
QUERY_CACHE = 256
DEFAULT_WORKFLOWS = {"image": "CasImageWorkflow", "video": "CasVideoWorkflow", "audio": "CasAudioWorkflow"}


@dataclass(frozen=True)
class AutoAnalyze:
    """Which media types are analysed automatically, after how long, with which workflow."""

    kinds: frozenset[str] = frozenset(MEDIA_KINDS)
    delay: float = 5.0
    workflows: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_WORKFLOWS))
    #: Objects uploaded (``/dataplane/upload``) under this key prefix become assets at once, and so are analysed:
    #: the media-query sample's "drop a file into the media bucket". Empty: uploads stay plain objects.
    upload_prefix: str = "media/"

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> AutoAnalyze:
        """Read ``MIE_AUTO_ANALYZE`` (on/off, or a list like ``image,video``), ``MIE_AUTO_ANALYZE_DELAY``
        (seconds), ``MIE_AUTO_ANALYZE_WORKFLOWS`` (``image=Wf1,video=Wf2``) and ``MIE_AUTO_ANALYZE_UPLOAD_PREFIX``
        from the ``search`` section of the settings."""
        raw = settings.auto_analyze.strip().lower()
        if raw in TRUE_WORDS:
            kinds = frozenset(MEDIA_KINDS)
        elif raw in FALSE_WORDS or not raw:
            kinds = frozenset()
        else:
            kinds = frozenset(k.strip() for k in raw.split(",") if k.strip())
            unknown = kinds - set(MEDIA_KINDS)
            if unknown:
                raise ConfigurationError(
                    f"MIE_AUTO_ANALYZE: {', '.join(sorted(unknown))} is not one of on, off, image, video, audio"
                )
        delay = settings.auto_analyze_delay
        workflows = dict(DEFAULT_WORKFLOWS)
        for pair in settings.auto_analyze_workflows.split(","):
            if not pair.strip():
                continue
            kind, sep, name = pair.partition("=")
            if not sep or kind.strip().lower() not in MEDIA_KINDS or not name.strip():
                raise ConfigurationError(f"MIE_AUTO_ANALYZE_WORKFLOWS: {pair!r} is not like 'image=CasImageWorkflow'")
            workflows[kind.strip().lower()] = name.strip()
        prefix = settings.auto_analyze_upload_prefix.strip().lstrip("/")
        return cls(kinds=kinds, delay=delay, workflows=workflows, upload_prefix=prefix)

    def takes_upload(self, key: str) -> bool:
        """Whether an object uploaded under ``key`` becomes an asset to analyse."""
        return bool(self.kinds) and bool(self.upload_prefix) and key.startswith(self.upload_prefix)


class SearchIndexer:
    """The change-stream consumer behind ``/api/media`` and ``/api/search`` (a :class:`mie.types.Component`)."""

    def __init__(
        self,
        store: IndexStore,
        changes: ChangeLog,
        dataplane: DataPlane,
        executions: Executions | None = None,
        auto: AutoAnalyze | None = None,
        *,
        idle_wait: float = 0.5,
        batch: int = 200,
        embedder: Embedder | None = None,
    ) -> None:
        self.store = store
        self.changes = changes
        self.dataplane = dataplane
        self.executions = executions
        self.auto = auto if auto is not None else AutoAnalyze(kinds=frozenset())
        self.idle_wait = idle_wait
        self.batch = batch
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self.consumer = ChangeConsumer(
            CONSUMER,
            changes,
            _IndexOffsets(store),
            apply=self._apply_batch,
            batch_size=batch,
            idle_timeout=idle_wait,
            wait_limit=self._due_in,
            after_batch=self._run_due,
            prepare=self._finish_rebuild,
            # A database that fails now may work in a moment: retry each second rather than spin or wait long.
            max_backoff=1.0,
        )
        #: ``None``: semantic search is off (``MIE_SEARCH_SEMANTIC=off``).
        self.embedder = embedder
        self.vectors = VectorIndex(periodic_reload=store.backend == "postgresql")
        self._embed_lock = threading.Lock()
        self._embedding = CallbackLoop(
            "search-embedder", self._embed_step, before_loop=self._embed_prepare, max_backoff=1.0, stop_timeout=30.0
        )
        self._query_vectors: dict[str, Any] = {}
        self._refreshed = 0.0
        self._cache_lock = threading.Lock()

    @classmethod
    def create(
        cls,
        settings: SearchSettings,
        store: IndexStore,
        changes: ChangeLog,
        dataplane: DataPlane,
        executions: Executions | None,
    ) -> SearchIndexer:
        """The indexer as the server runs it: auto-analysis and semantic search (``MIE_SEARCH_SEMANTIC``) as the
        ``search`` section of the settings says."""
        embedder = shared_embedder() if settings.search_semantic else None
        return cls(store, changes, dataplane, executions, AutoAnalyze.from_settings(settings), embedder=embedder)

    # Component -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Resume after the stored offset (finishing an interrupted rebuild first) in a daemon thread."""
        if self.consumer.running:
            return
        self._stop.clear()
        self.consumer.start()
        if self.embedder is not None:
            self.embedder.start()
            self._embedding.start()

    def stop(self) -> None:
        """Stop after the batch in progress, at once when idle (idempotent)."""
        self._stop.set()
        self.consumer.stop(self.idle_wait + 10)
        self._embedding.stop()

    def _finish_rebuild(self) -> None:
        if self.store.offset(REBUILD_MARKER):
            log.warning("an index rebuild was interrupted; rebuilding again")
            self.rebuild()

    def _run_due(self) -> None:
        self.run_due()

    def _due_in(self) -> float | None:
        due = self.store.next_due() if self.auto.kinds else None
        return None if due is None else due - time.time()

    # Following the change log ----------------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """The last change-log sequence number applied."""
        return self.consumer.offset

    def catch_up(self) -> int:
        """Apply every event committed so far, now, in this thread; returns the offset."""
        self.consumer.drain()
        return self.consumer.offset

    def _apply_batch(self, events: Sequence[JSONDict], last: int) -> None:
        """The consumer's ``apply``: the index changes of ``events`` and the offset ``last``, in one transaction."""
        with self._lock:
            # A rebuild may have moved the offset on since these were read.
            events = [e for e in events if int(e["seq"]) > self.consumer.offset]
            if not events:
                return
            changes: list[IndexChange] = []
            for event in events:
                try:
                    changes.extend(self._changes_for(event))
                except MieError as exc:
                    log.warning("search indexer: skipped event %s: %s", event.get("seq"), exc)
            self.store.apply(CONSUMER, changes, last)
        self._embedding.wake()

    def _changes_for(self, event: JSONDict) -> list[IndexChange]:
        asset_id = event.get("AssetId")
        payload = event.get("payload") or {}
        if not isinstance(asset_id, str) or not isinstance(payload, dict):
            return []
        if event.get("source") == WORKFLOW_EXECUTION:
            # Someone analyses this asset: the automatic analysis is not needed.
            return [Unschedule(asset_id)]
        if event.get("source") != DATAPLANE:
            return []
        action, operator = payload.get("Action"), payload.get("Operator")
        if action == "INSERT":
            created = _created(payload.get("Created"), event.get("created"))
            return self._asset_changes(asset_id, payload, created, True)
        if action == "MODIFY" and isinstance(operator, str):
            result = self._read_result(asset_id, operator)
            if result is None:
                return []
            found = extract(result, operator)
            return [PutResult(asset_id, operator, found.segments, found.labels, found.facts)]
        if action == "REMOVE":
            return [DropResult(asset_id, operator)] if isinstance(operator, str) else [DropAsset(asset_id)]
        return []

    def _asset_changes(self, asset_id: str, asset: Mapping[str, Any], created: float, new: bool) -> list[IndexChange]:
        key = asset.get("S3Key")
        name = media_name(key) if isinstance(key, str) else asset_id
        kind = asset_kind(self.dataplane, asset.get("S3Bucket"), key, asset.get("MediaType"))
        changes: list[IndexChange] = [
            PutAsset(asset_id, name, kind, created),
            PutResult(asset_id, FILE_NAME_OPERATOR, (file_name_segment(name),)),
        ]
        if new and kind in self.auto.kinds and self.executions is not None:
            changes.append(Schedule(asset_id, created + self.auto.delay, kind))
        return changes

    def _read_result(self, asset_id: str, operator: str) -> list[Any] | None:
        """Every page of an operator's newest result, through the data plane's metadata API."""
        try:
            first = self.dataplane.get_operator_metadata(asset_id, operator)
            pages = [first.get("results")]
            cursor = first.get("cursor")
            while cursor:
                following = self.dataplane.get_operator_metadata(asset_id, operator, cursor)
                pages.append(following.get("results"))
                cursor = following.get("cursor")
        except NotFoundError:
            return None  # deleted since: its REMOVE event follows
        return pages

    # Semantic documents --------------------------------------------------------------------------------------------

    def _embed_prepare(self) -> None:
        assert self.embedder is not None
        self.embedder.start()
        # Load the stored vectors now (seconds at 100,000 assets), not in the first query.
        try:
            self._load_vectors()
        except Exception:
            log.exception("search indexer: loading the vectors failed; retrying")

    def _embed_step(self) -> float | None:
        """Embed what is pending once the model is ready; then sleep until woken (an applied batch) or a second."""
        assert self.embedder is not None
        if self.embedder.ready:
            self.embed_pending()
        return max(self.idle_wait, 1.0)

    def _load_vectors(self) -> None:
        self.vectors.refresh(self.store)
        self.vectors.prepare()

    def embed_pending(self, *, wait: float | None = None) -> int:
        """Build, embed and store the documents of every asset marked pending, then bring the in-memory vectors up
        to date; returns how many assets were embedded. ``wait``: seconds to wait for the model (tests)."""
        if self.embedder is None:
            return 0
        if wait is not None:
            self.embedder.wait(wait)
        if not self.embedder.ready:
            return 0
        done = 0
        with self._embed_lock:
            while not self._stop.is_set() or wait is not None:
                pending = self.store.pending_assets(50)
                if not pending:
                    break
                for asset_id, version in pending:
                    drafts = build_documents(self.store.asset_segments(asset_id))
                    vectors = self.embedder.encode([d.text for d in drafts])
                    documents = [
                        Document(d.kind, d.text, d.start_ms, d.end_ms, d.operators, d.lang, v.tobytes())
                        for d, v in zip(drafts, vectors, strict=True)
                    ]
                    self.store.put_documents(asset_id, version, documents)
                    done += 1
            self.vectors.refresh(self.store)
            self.vectors.prepare()
        return done

    def semantic(
        self,
        text: str,
        k: int,
        *,
        assets: set[str] | None = None,
        media_type: str | None = None,
        min_score: float = -1.0,
    ) -> list[Neighbour]:
        """The ``k`` documents nearest to ``text`` (among ``assets``); empty when the model is not ready."""
        if self.embedder is None or not self.embedder.ready:
            return []
        query = self._query_vectors.get(text)
        if query is None:
            query = self.embedder.encode([text])[0]
            # Paging and repeated searches embed the same text: keep the last few (an embedding is most of the
            # cost of a semantic query).
            with self._cache_lock:
                if len(self._query_vectors) >= QUERY_CACHE:
                    self._query_vectors.pop(next(iter(self._query_vectors)))
                self._query_vectors[text] = query
        # The embedding thread refreshes after every batch it stores; queries look for rows stored by other
        # processes (other nodes) at most once a second.
        if time.monotonic() - self._refreshed > 1.0:
            self.vectors.refresh(self.store)
            self._refreshed = time.monotonic()
        return self.vectors.search(query, k, assets=assets, media_type=media_type, min_score=min_score)

    def semantic_state(self) -> str:
        """``off``, ``loading``, ``ready`` or the reason it is unavailable."""
        if self.embedder is None:
            return "off"
        if self.embedder.ready:
            return "ready"
        return self.embedder.error or "loading"

    # Automatic analysis ----------------------------------------------------------------------------------------

    def run_due(self, now: float | None = None) -> list[str]:
        """Start the analyses that are due; returns the ids of the executions started."""
        if not self.auto.kinds or self.executions is None:
            return []
        started: list[str] = []
        with self._lock:
            for scheduled in self.store.due(time.time() if now is None else now):
                execution_id = self._analyse(scheduled)
                if execution_id is not None:
                    started.append(execution_id)
                self.store.apply(CONSUMER, [Unschedule(scheduled.asset_id)], None)
        return started

    def _analyse(self, scheduled: Schedule) -> str | None:
        assert self.executions is not None
        asset_id, kind = scheduled.asset_id, scheduled.media_type
        workflow = self.auto.workflows.get(kind)
        if workflow is None or kind not in self.auto.kinds:
            return None
        try:
            asset = self.dataplane.get_asset(asset_id)
            if self.executions.by_asset(asset_id):
                return None
            record = self.executions.create(
                {
                    "Name": workflow,
                    "Input": {
                        "AssetId": asset_id,
                        "Media": {kind.capitalize(): {"S3Bucket": asset["s3_bucket"], "S3Key": asset["s3_key"]}},
                    },
                }
            )
        except ConflictError:
            return None  # a client started one meanwhile
        except NotFoundError as exc:
            log.warning("automatic analysis of asset %s skipped: %s", asset_id, exc)
            return None
        except MieError as exc:
            log.warning("automatic analysis of asset %s failed to start: %s", asset_id, exc)
            return None
        log.info("started %s on asset %s (%s uploaded without a workflow)", workflow, asset_id, kind)
        return str(record["Id"])

    # Rebuild ---------------------------------------------------------------------------------------------------

    def rebuild(self) -> IndexStats:
        """Rebuild both indexes from the data plane's assets and their newest results.

        The offset becomes the change log's head at the start; events committed during the rebuild are applied
        afterwards (applying them again is harmless). A marker makes a restart finish an interrupted rebuild.
        """
        with self._lock:
            head = self.changes.last_seq()
            self.store.apply(REBUILD_MARKER, [], head or 1)
            self.store.reset(CONSUMER, head)
            self.consumer.seek(head)
            ids, _ = self.dataplane.list_assets()
            pending: list[IndexChange] = []
            for asset_id in ids:
                try:
                    pending.extend(self._asset_snapshot(asset_id))
                except NotFoundError:
                    continue  # deleted meanwhile
                if len(pending) >= self.batch:
                    self.store.apply(CONSUMER, pending, None)
                    pending = []
            self.store.apply(CONSUMER, pending, None)
            self.store.apply(REBUILD_MARKER, [], 0)
            return self.store.stats(CONSUMER)

    def _asset_snapshot(self, asset_id: str) -> list[IndexChange]:
        response = self.dataplane.get_metadata(asset_id)
        asset = response["results"]
        changes = self._asset_changes(asset_id, asset, _created(asset.get("Created")), False)
        results: dict[str, list[Any]] = {}
        cursor = response.get("cursor")
        while cursor:
            page = self.dataplane.get_metadata(asset_id, cursor)
            results.setdefault(str(page.get("operator")), []).append(page.get("results"))
            cursor = page.get("cursor")
        for operator, pages in results.items():
            found = extract(pages, operator)
            changes.append(PutResult(asset_id, operator, found.segments, found.labels, found.facts))
        return changes

    def stats(self) -> IndexStats:
        """What the index holds and how far it has read."""
        return self.store.stats(CONSUMER)


class _IndexOffsets:
    """The consumer's :class:`~mie.consumers.base.OffsetStore` view of the index's own offsets (loaded at start;
    the index stores them itself, in the transaction of its changes)."""

    def __init__(self, store: IndexStore) -> None:
        self._store = store

    def load(self, name: str) -> int | None:
        return self._store.offset(name)

    def save(self, name: str, seq: int) -> None:
        self._store.apply(name, [], seq)


def _created(*values: Any) -> float:
    """The first of ``values`` that reads as an epoch (MIE's ``Created`` is one as a string), else now."""
    for value in values:
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return time.time()
