"""The search store on SQL: SQLite FTS5 (embedded) and PostgreSQL full-text search (scaled out).

Both keep the media index and the segments in the tables of ``search_tables.py``; they differ only in the
full-text index. SQLite keeps an FTS5 table whose content is ``search_segments`` (so this class writes both in the
same transaction); PostgreSQL has a GIN index on ``to_tsvector('english', text)`` that it maintains itself.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, func, insert, select, text, true, tuple_, update
from sqlalchemy.sql.elements import ColumnElement

from mie.storage.search import (
    MEDIA_KINDS,
    DropAsset,
    DropResult,
    Hit,
    IndexChange,
    IndexStats,
    MediaItem,
    MediaQuery,
    PutAsset,
    PutResult,
    Schedule,
    SearchQuery,
    Segment,
    Unschedule,
)
from mie.storage.sql.db import Database, dumps, loads
from mie.storage.sql.search_tables import (
    media_items,
    media_label_sources,
    media_labels,
    search_offsets,
    search_schedule,
    search_segments,
)
from mie.storage.sql.search_vectors import DocumentsMixin

HIGHLIGHT = ("<mark>", "</mark>")
#: Full-text hits are ranked among at most this many matching segments, the most recently indexed.
RANK_WINDOW = 5000
_MAX_CHAR = "\U0010ffff"


def _asset(table: Any) -> ColumnElement[bool]:
    return table.c.asset_id == bindparam("a")  # type: ignore[no-any-return]


# Built once: the consumer runs these for every change, and building a statement costs more than running it.
_ITEM = select(media_items.c.name, media_items.c.media_type, media_items.c.listed).where(_asset(media_items))
_UPDATE_ITEM = (
    update(media_items)
    .where(_asset(media_items))
    .values(
        name=bindparam("v_name"),
        media_type=bindparam("v_type"),
        listed=bindparam("v_listed"),
        created=bindparam("v_created"),
    )
)
_INSERT_ITEM = insert(media_items)
_RENAME_SEGMENTS = (
    update(search_segments)
    .where(_asset(search_segments))
    .values(name=bindparam("v_name"), media_type=bindparam("v_type"))
)
_SOURCES = select(media_label_sources.c.labels).where(_asset(media_label_sources)).order_by(media_label_sources.c.id)
_SET_LABELS = update(media_items).where(_asset(media_items)).values(labels=bindparam("v_labels"))
_DELETE_LABELS = delete(media_labels).where(_asset(media_labels))
_INSERT_LABELS = insert(media_labels)
_ONE_SOURCE = _asset(media_label_sources) & (media_label_sources.c.operator == bindparam("o"))
_DELETE_SOURCE = delete(media_label_sources).where(_ONE_SOURCE)
_UPDATE_SOURCE = update(media_label_sources).where(_ONE_SOURCE).values(labels=bindparam("v_labels"))
_INSERT_SOURCE = insert(media_label_sources)
_INSERT_SEGMENTS = insert(search_segments)
_DELETE_ASSET_SEGMENTS = delete(search_segments).where(_asset(search_segments))
_DELETE_OPERATOR_SEGMENTS = delete(search_segments).where(
    _asset(search_segments) & (search_segments.c.operator == bindparam("o"))
)
_DELETE_ASSET_ROWS = tuple(
    delete(table).where(_asset(table)) for table in (media_labels, media_label_sources, media_items, search_schedule)
)
_SCHEDULE = insert(search_schedule)
_UNSCHEDULE = delete(search_schedule).where(_asset(search_schedule))
# The FTS5 table indexes the text, and the operator and media type as filter tokens (see SqliteSearchStore).
_FTS_COLUMNS = "text, operator, media_type"
_FTS_INDEX_SQL = (
    f"INSERT INTO search_fts(rowid, {_FTS_COLUMNS}) SELECT id, {_FTS_COLUMNS} FROM search_segments WHERE asset_id = :a"
)
_FTS_INDEX = text(_FTS_INDEX_SQL + " AND operator = :o")
_FTS_INDEX_ASSET = text(_FTS_INDEX_SQL)
# An external-content FTS5 table forgets a row only when told the exact values it indexed.
_FTS_FORGET = (
    f"INSERT INTO search_fts(search_fts, rowid, {_FTS_COLUMNS}) SELECT 'delete', id, {_FTS_COLUMNS} "
    "FROM search_segments "
)
_FTS_FORGET_ASSET = text(_FTS_FORGET + "WHERE asset_id = :a")
_FTS_FORGET_OPERATOR = text(_FTS_FORGET + "WHERE asset_id = :a AND operator = :o")


class SqlSearchStore(DocumentsMixin):
    """What both databases share: the media index, segments, facts, documents, offsets and schedule. Subclasses add
    full text."""

    backend = "sql"

    def __init__(self, db: Database) -> None:
        self.db = db

    # Offsets and the schedule --------------------------------------------------------------------------------

    def offset(self, consumer: str) -> int:
        """The change-log sequence number the consumer has applied (0: none)."""
        with self.db.read() as conn:
            seq = conn.execute(select(search_offsets.c.seq).where(search_offsets.c.consumer == consumer)).scalar()
        return int(seq or 0)

    def _set_offset(self, conn: Connection, consumer: str, offset: int) -> None:
        done = conn.execute(
            update(search_offsets).where(search_offsets.c.consumer == consumer).values(seq=offset, updated=time.time())
        )
        if not done.rowcount:
            conn.execute(insert(search_offsets).values(consumer=consumer, seq=offset, updated=time.time()))

    def due(self, now: float, limit: int = 100) -> list[Schedule]:
        """Scheduled analyses whose time has come, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(search_schedule).where(search_schedule.c.due <= now).order_by(search_schedule.c.due).limit(limit)
            ).all()
        return [Schedule(r.asset_id, r.due, r.media_type) for r in rows]

    def next_due(self) -> float | None:
        """When the earliest scheduled analysis is due."""
        with self.db.read() as conn:
            due = conn.execute(select(func.min(search_schedule.c.due))).scalar()
        return None if due is None else float(due)

    # Writing ---------------------------------------------------------------------------------------------------

    def apply(self, consumer: str, changes: Sequence[IndexChange], offset: int | None) -> None:
        """Apply ``changes`` in order and record ``offset``, in one transaction."""
        with self.db.write() as conn:
            for change in changes:
                if isinstance(change, PutAsset):
                    self._put_asset(conn, change)
                elif isinstance(change, PutResult):
                    self._put_result(conn, change)
                elif isinstance(change, DropResult):
                    self._drop_segments(conn, change.asset_id, change.operator)
                    conn.execute(_DELETE_SOURCE, {"a": change.asset_id, "o": change.operator})
                    self._merge_labels(conn, change.asset_id)
                    self._drop_facts(conn, change.asset_id, change.operator)
                    self._mark(conn, change.asset_id)
                elif isinstance(change, DropAsset):
                    self._drop_segments(conn, change.asset_id, None)
                    for statement in _DELETE_ASSET_ROWS:
                        conn.execute(statement, {"a": change.asset_id})
                    self._forget_asset(conn, change.asset_id)
                elif isinstance(change, Schedule):
                    conn.execute(_UNSCHEDULE, {"a": change.asset_id})
                    conn.execute(
                        _SCHEDULE, {"asset_id": change.asset_id, "due": change.due, "media_type": change.media_type}
                    )
                elif isinstance(change, Unschedule):
                    conn.execute(_UNSCHEDULE, {"a": change.asset_id})
            if offset is not None:
                self._set_offset(conn, consumer, offset)

    def reset(self, consumer: str, offset: int) -> None:
        """Empty both indexes (scheduled analyses stay) and set the consumer's offset."""
        with self.db.write() as conn:
            self._clear_fulltext(conn)
            self._clear_documents(conn)
            for table in (search_segments, media_labels, media_label_sources, media_items):
                conn.execute(delete(table))
            self._set_offset(conn, consumer, offset)

    def _put_asset(self, conn: Connection, change: PutAsset) -> None:
        values = {
            "v_name": change.name,
            "v_type": change.media_type,
            "v_listed": change.media_type in MEDIA_KINDS,
            "v_created": change.created,
        }
        if conn.execute(_UPDATE_ITEM, {"a": change.asset_id, **values}).rowcount:
            # Seen before (a replay): keep the copies of name and type in its segments and labels right (the
            # full-text index holds the type too: out before the change, in again after).
            self._unindex_segments(conn, change.asset_id, None)
            conn.execute(_RENAME_SEGMENTS, {"a": change.asset_id, "v_name": change.name, "v_type": change.media_type})
            self._reindex_asset(conn, change.asset_id)
            self._merge_labels(conn, change.asset_id)
        else:
            conn.execute(
                _INSERT_ITEM,
                {
                    "asset_id": change.asset_id,
                    "name": change.name,
                    "media_type": change.media_type,
                    "listed": values["v_listed"],
                    "created": change.created,
                    "labels": "[]",
                },
            )
            # New: it has labels only if results were indexed before it (never in change-log order).
            if conn.execute(_SOURCES, {"a": change.asset_id}).first() is not None:
                self._merge_labels(conn, change.asset_id)

    def _put_result(self, conn: Connection, change: PutResult) -> None:
        item = conn.execute(_ITEM, {"a": change.asset_id}).first()
        name, media_type = (item.name, item.media_type) if item is not None else ("", None)
        self._drop_segments(conn, change.asset_id, change.operator)
        if change.segments:
            conn.execute(
                _INSERT_SEGMENTS,
                [_segment_row(change.asset_id, change.operator, s, name, media_type) for s in change.segments],
            )
            self._index_segments(conn, change.asset_id, change.operator)
        self._put_facts(conn, change.asset_id, change.operator, change.facts)
        self._mark(conn, change.asset_id)
        keys = {"a": change.asset_id, "o": change.operator}
        if change.labels is None:
            if conn.execute(_DELETE_SOURCE, keys).rowcount:
                self._merge_labels(conn, change.asset_id)
            return
        labels = dumps(list(change.labels))
        # Updated in place, so the operator keeps its place in the merged order across re-runs.
        if not conn.execute(_UPDATE_SOURCE, {**keys, "v_labels": labels}).rowcount:
            conn.execute(_INSERT_SOURCE, {"asset_id": change.asset_id, "operator": change.operator, "labels": labels})
        self._merge_labels(conn, change.asset_id)

    def _merge_labels(self, conn: Connection, asset_id: str) -> None:
        """Recompute an asset's served labels (operators in the order they first stored labels, first occurrence
        of each label kept) and its rows in the exact-label index."""
        item = conn.execute(_ITEM, {"a": asset_id}).first()
        if item is None:
            return
        merged: dict[str, None] = {}
        for (labels,) in conn.execute(_SOURCES, {"a": asset_id}):
            for label in loads(labels):
                merged.setdefault(str(label), None)
        conn.execute(_SET_LABELS, {"a": asset_id, "v_labels": dumps(list(merged))})
        conn.execute(_DELETE_LABELS, {"a": asset_id})
        if merged and item.listed:
            conn.execute(
                _INSERT_LABELS,
                [
                    {"asset_id": asset_id, "label": lb, "name": item.name, "media_type": item.media_type}
                    for lb in merged
                ],
            )

    def _drop_segments(self, conn: Connection, asset_id: str, operator: str | None) -> None:
        self._unindex_segments(conn, asset_id, operator)
        if operator is None:
            conn.execute(_DELETE_ASSET_SEGMENTS, {"a": asset_id})
        else:
            conn.execute(_DELETE_OPERATOR_SEGMENTS, {"a": asset_id, "o": operator})

    # Full-text hooks (SQLite keeps its FTS5 table in step; PostgreSQL's index follows the table by itself).

    def _index_segments(self, conn: Connection, asset_id: str, operator: str) -> None:
        """Add the segments just inserted for ``(asset_id, operator)`` to the full-text index."""

    def _unindex_segments(self, conn: Connection, asset_id: str, operator: str | None) -> None:
        """Remove the segments about to be deleted from the full-text index."""

    def _reindex_asset(self, conn: Connection, asset_id: str) -> None:
        """Add every segment of the asset to the full-text index again (after :meth:`_unindex_segments`)."""

    def _clear_fulltext(self, conn: Connection) -> None:
        """Empty the full-text index (before every segment is deleted)."""

    # Media queries ---------------------------------------------------------------------------------------------

    def get_media(self, name: str) -> MediaItem | None:
        """The newest listed asset called ``name``."""
        with self.db.read() as conn:
            row = conn.execute(
                select(media_items)
                .where((media_items.c.listed == true()) & (media_items.c.name == name))
                .order_by(media_items.c.created.desc(), media_items.c.asset_id.desc())
                .limit(1)
            ).first()
        return None if row is None else _item(row)

    def media_select(self, query: MediaQuery, *, limit: int, after: tuple[str, str] | None = None) -> Select[Any]:
        """The statement behind :meth:`list_media`: one index range per query shape, rows already in
        ``(name, asset_id)`` order (tests ``EXPLAIN`` it). Selects ``media_items`` rows, or ``media_labels``
        asset ids when filtering by label."""
        table = media_labels if query.label is not None else media_items
        conditions: list[ColumnElement[bool]] = []
        if query.label is not None:
            conditions.append(media_labels.c.label == query.label)
            if query.media_type is not None:
                conditions.append(media_labels.c.media_type == query.media_type)
        elif query.media_type is not None:
            conditions.append(media_items.c.media_type == query.media_type)
            # Only listed types are ever asked for by the API; the condition keeps other ones out regardless.
            conditions.append(media_items.c.listed == true())
        else:
            conditions.append(media_items.c.listed == true())
        if query.startswith:
            prefix = query.startswith
            conditions += [
                table.c.name >= prefix,
                table.c.name < prefix + _MAX_CHAR,
                func.substr(table.c.name, 1, len(prefix)) == prefix,
            ]
        if after is not None:
            conditions.append(tuple_(table.c.name, table.c.asset_id) > tuple_(*after))
        columns = [media_items] if table is media_items else [media_labels.c.asset_id]
        return select(*columns).where(*conditions).order_by(table.c.name, table.c.asset_id).limit(limit)

    def list_media(
        self, query: MediaQuery, *, limit: int, after: tuple[str, str] | None = None
    ) -> tuple[list[MediaItem], tuple[str, str] | None]:
        """Listed assets matching ``query``, ordered by ``(name, asset_id)``; and the last key when there are more."""
        statement = self.media_select(query, limit=limit + 1, after=after)
        with self.db.read() as conn:
            if query.label is None:
                items = [_item(r) for r in conn.execute(statement).all()]
            else:
                ids = [r.asset_id for r in conn.execute(statement).all()]
                found = {
                    r.asset_id: _item(r)
                    for r in conn.execute(select(media_items).where(media_items.c.asset_id.in_(ids))).all()
                }
                items = [found[i] for i in ids if i in found]
        if len(items) > limit:
            items = items[:limit]
            return items, (items[-1].name, items[-1].asset_id)
        return items, None

    # Full text -------------------------------------------------------------------------------------------------

    def search(self, query: SearchQuery, *, limit: int, offset: int = 0) -> tuple[list[Hit], bool]:
        """Segments matching every term of ``query``, best first."""
        if not query.terms:
            return [], False
        with self.db.read() as conn:
            rows = self._search_rows(conn, query, limit + 1, offset)
        hits = [
            Hit(
                asset_id=r.asset_id,
                name=r.name,
                media_type=r.media_type,
                operator=r.operator,
                kind=r.kind,
                snippet=r.snippet,
                text=r.text,
                start_ms=r.start_ms,
                end_ms=r.end_ms,
                score=float(r.score),
                words=tuple((str(w), int(s), int(e)) for w, s, e in loads(r.words)) if r.words else (),
                lang=r.lang,
            )
            for r in rows[:limit]
        ]
        return hits, len(rows) > limit

    def _search_rows(self, conn: Connection, query: SearchQuery, limit: int, offset: int) -> list[Any]:
        raise NotImplementedError

    def stats(self, consumer: str) -> IndexStats:
        """Counts and offset."""
        with self.db.read() as conn:
            items = conn.execute(select(func.count()).select_from(media_items)).scalar_one()
            segments = conn.execute(select(func.count()).select_from(search_segments)).scalar_one()
            scheduled = conn.execute(select(func.count()).select_from(search_schedule)).scalar_one()
        return IndexStats(self.backend, self.offset(consumer), int(items), int(segments), int(scheduled))


def filters_sql(query: SearchQuery, params: dict[str, Any]) -> str:
    """SQL conditions (on segments ``s``) for the operator and media-type filters, adding their parameters."""
    sql = ""
    if query.operator is not None:
        sql += " AND s.operator = :operator"
        params["operator"] = query.operator
    if query.media_type is not None:
        sql += " AND s.media_type = :media_type"
        params["media_type"] = query.media_type
    return sql


class SqliteSearchStore(SqlSearchStore):
    """Full text with SQLite FTS5 (external content: the rows of ``search_segments``)."""

    backend = "sqlite-fts5"

    def _index_segments(self, conn: Connection, asset_id: str, operator: str) -> None:
        conn.execute(_FTS_INDEX, {"a": asset_id, "o": operator})

    def _reindex_asset(self, conn: Connection, asset_id: str) -> None:
        conn.execute(_FTS_INDEX_ASSET, {"a": asset_id})

    def _unindex_segments(self, conn: Connection, asset_id: str, operator: str | None) -> None:
        if operator is None:
            conn.execute(_FTS_FORGET_ASSET, {"a": asset_id})
        else:
            conn.execute(_FTS_FORGET_OPERATOR, {"a": asset_id, "o": operator})

    def _clear_fulltext(self, conn: Connection) -> None:
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES('delete-all')"))

    def _search_rows(self, conn: Connection, query: SearchQuery, limit: int, offset: int) -> list[Any]:
        # Everything selective happens inside FTS5 (filters are column tokens), and the segments table is only
        # read for the page. BM25 is computed for every match before the best can be picked: for a word in half
        # the index that is hundreds of thousands of rows. Walking matches newest first costs next to nothing, so
        # find the RANK_WINDOW-th newest and rank only the matches after it.
        match = fts5_query(query)
        if match is None:
            return []
        params: dict[str, Any] = {"q": match, "window": RANK_WINDOW}
        floor = conn.execute(_FTS_FLOOR, params).scalar()
        ranked = conn.execute(
            _FTS_RANK_AFTER if floor is not None else _FTS_RANK,
            {**params, "floor": floor, "limit": limit, "offset": offset},
        ).all()
        if not ranked:
            return []
        ids = [r.rowid for r in ranked]
        score = {r.rowid: r.score for r in ranked}
        rows = {
            r.id: r
            for r in conn.execute(
                text(
                    "SELECT s.id, s.asset_id, s.name, s.media_type, s.operator, s.kind, s.text, s.start_ms, "
                    f"s.end_ms, s.words, s.lang, snippet(search_fts, 0, '{HIGHLIGHT[0]}', '{HIGHLIGHT[1]}', '…', 16) "
                    "AS snippet FROM search_fts JOIN search_segments s ON s.id = search_fts.rowid "
                    "WHERE search_fts MATCH :q AND search_fts.rowid IN (" + ", ".join(str(int(i)) for i in ids) + ")"
                ),
                params,
            ).all()
        }
        out = []
        for rowid in ids:
            row = rows.get(rowid)
            # The tokens of an operator name may match a longer name: the exact filter is applied here.
            if row is None or (query.operator is not None and row.operator != query.operator):
                continue
            out.append(_Row(row, score[rowid]))
        return out


class _Row:
    """A segment row with its score (attribute access, like a SQLAlchemy row)."""

    def __init__(self, row: Any, score: float) -> None:
        self._row = row
        self.score = score

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


_BM25 = "bm25(search_fts, 1.0, 0.0, 0.0)"
_FTS_FLOOR = text("SELECT rowid FROM search_fts WHERE search_fts MATCH :q ORDER BY rowid DESC LIMIT 1 OFFSET :window")
_FTS_RANK_SQL = f"SELECT rowid, -{_BM25} AS score FROM search_fts WHERE search_fts MATCH :q"
_FTS_RANK_ORDER = f" ORDER BY {_BM25}, rowid LIMIT :limit OFFSET :offset"
_FTS_RANK = text(_FTS_RANK_SQL + _FTS_RANK_ORDER)
_FTS_RANK_AFTER = text(_FTS_RANK_SQL + " AND rowid > :floor" + _FTS_RANK_ORDER)


def fts5_query(query: SearchQuery) -> str | None:
    """The FTS5 MATCH expression: every term quoted (so no user text is read as FTS5 syntax) and searched in the
    text column, ANDed with the filters as tokens of their columns. ``None`` when a filter can match nothing."""
    parts = []
    for term, prefix in query.terms:
        parts.append('text : "' + term.replace('"', " ") + '"' + ("*" if prefix else ""))
    for column, value in (("operator", query.operator), ("media_type", query.media_type)):
        if value is not None:
            words = re.sub(r"[\W_]+", " ", value).strip()
            if not words:
                return None
            parts.append(f'{column} : "{words}"')
    return " AND ".join(parts)


def open_search_store(db: Database) -> SqlSearchStore:
    """The store for the database: FTS5 on SQLite, full-text search on PostgreSQL."""
    if db.is_sqlite:
        return SqliteSearchStore(db)
    from mie.storage.sql.search_store_pg import PostgresSearchStore

    return PostgresSearchStore(db)


def _segment_row(asset_id: str, operator: str, s: Segment, name: str, media_type: str | None) -> dict[str, Any]:
    return {
        "asset_id": asset_id,
        "operator": operator,
        "kind": s.kind,
        "text": s.text,
        "start_ms": s.start_ms,
        "end_ms": s.end_ms,
        "media_type": media_type,
        "name": name,
        "words": json.dumps([list(w) for w in s.words], separators=(",", ":")) if s.words else None,
        "lang": s.lang,
    }


def _item(row: Any) -> MediaItem:
    return MediaItem(asset_id=row.asset_id, name=row.name, media_type=row.media_type, labels=loads(row.labels))
