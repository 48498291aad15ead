"""Documents, vectors, facts and pending marks of the SQL search stores (both databases: plain tables and B-tree
indexes, no vector extension). Mixed into :class:`mie.storage.sql.search_store.SqlSearchStore`, whose ``apply``
calls the ``_facts_*``/``_mark``/``_forget_*`` hooks inside its transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from mie.storage.search import Fact, StoredSegment
from mie.storage.sql.db import Database
from mie.storage.sql.search_tables import (
    media_items,
    search_documents,
    search_facts,
    search_offsets,
    search_pending,
    search_segments,
)
from mie.storage.vectors import AssetFilter, Document, FactFilter, FactMoment, StoredDocument, VectorRow

#: Offset row whose value changes when every document is deleted at once (readers reload).
GENERATION = "search-vectors-generation"
MARKER = "marker"

_MARK = (
    update(search_pending)
    .where(search_pending.c.asset_id == bindparam("a"))
    .values(version=search_pending.c.version + 1)
)
_DELETE_FACTS = delete(search_facts).where(
    (search_facts.c.asset_id == bindparam("a")) & (search_facts.c.operator == bindparam("o"))
)


def _marker(asset_id: str) -> dict[str, Any]:
    return {
        "asset_id": asset_id,
        "kind": MARKER,
        "text": "",
        "start_ms": None,
        "end_ms": None,
        "operators": "[]",
        "lang": None,
        "vector": None,
    }


class DocumentsMixin:
    """The :class:`mie.storage.vectors.DocumentStore` half of the SQL search stores."""

    db: Database

    # Hooks of SqlSearchStore.apply (inside its transaction) ---------------------------------------------------

    def _mark(self, conn: Connection, asset_id: str) -> None:
        """The asset's documents must be rebuilt."""
        if not conn.execute(_MARK, {"a": asset_id}).rowcount:
            conn.execute(insert(search_pending).values(asset_id=asset_id, version=1))

    def _put_facts(self, conn: Connection, asset_id: str, operator: str, facts: Sequence[Fact]) -> None:
        conn.execute(_DELETE_FACTS, {"a": asset_id, "o": operator})
        if facts:
            conn.execute(
                insert(search_facts),
                [
                    {
                        "asset_id": asset_id,
                        "operator": operator,
                        "field": f.field,
                        "value": f.value.lower()[:1024],
                        "display": f.value[:1024],
                        "number": f.number,
                        "start_ms": f.start_ms,
                        "end_ms": f.end_ms,
                    }
                    for f in facts
                ],
            )

    def _drop_facts(self, conn: Connection, asset_id: str, operator: str) -> None:
        conn.execute(_DELETE_FACTS, {"a": asset_id, "o": operator})

    def _forget_asset(self, conn: Connection, asset_id: str) -> None:
        """Everything semantic about a deleted asset goes; a marker tells readers its vectors are gone."""
        conn.execute(delete(search_facts).where(search_facts.c.asset_id == asset_id))
        conn.execute(delete(search_pending).where(search_pending.c.asset_id == asset_id))
        self._replace(conn, asset_id, [])

    def _clear_documents(self, conn: Connection) -> None:
        for table in (search_documents, search_facts, search_pending):
            conn.execute(delete(table))
        generation = conn.execute(select(search_offsets.c.seq).where(search_offsets.c.consumer == GENERATION))
        current = generation.scalar()
        if current is None:
            conn.execute(insert(search_offsets).values(consumer=GENERATION, seq=1, updated=0.0))
        else:
            conn.execute(
                update(search_offsets).where(search_offsets.c.consumer == GENERATION).values(seq=int(current) + 1)
            )

    @staticmethod
    def _replace(conn: Connection, asset_id: str, rows: list[dict[str, Any]]) -> None:
        had = conn.execute(
            select(search_documents.c.id).where(search_documents.c.asset_id == asset_id).limit(1)
        ).first()
        conn.execute(delete(search_documents).where(search_documents.c.asset_id == asset_id))
        if rows:
            conn.execute(insert(search_documents), rows)
        elif had is not None:
            # Readers drop an asset's vectors when they see a newer row of it: this one says "none left".
            conn.execute(insert(search_documents), [_marker(asset_id)])

    # DocumentStore ----------------------------------------------------------------------------------------------

    def pending_assets(self, limit: int) -> list[tuple[str, int]]:
        """Assets whose documents must be rebuilt, with their mark's version."""
        with self.db.read() as conn:
            rows = conn.execute(select(search_pending).order_by(search_pending.c.asset_id).limit(limit)).all()
        return [(r.asset_id, int(r.version)) for r in rows]

    def asset_segments(self, asset_id: str) -> list[StoredSegment]:
        """Every indexed segment of the asset, in id order."""
        s = search_segments.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(s.id, s.operator, s.kind, s.text, s.start_ms, s.end_ms, s.lang, s.media_type)
                .where(s.asset_id == asset_id)
                .order_by(s.id)
            ).all()
        return [
            StoredSegment(r.id, r.operator, r.kind, r.text, r.start_ms, r.end_ms, r.lang, r.media_type) for r in rows
        ]

    def put_documents(self, asset_id: str, version: int, documents: Sequence[Document]) -> None:
        """Replace the asset's documents and clear its mark (unless marked again meanwhile)."""
        rows = [
            {
                "asset_id": asset_id,
                "kind": d.kind,
                "text": d.text,
                "start_ms": d.start_ms,
                "end_ms": d.end_ms,
                "operators": json.dumps(list(d.operators)),
                "lang": d.lang,
                "vector": d.vector,
            }
            for d in documents
        ]
        with self.db.write() as conn:
            exists = conn.execute(select(media_items.c.asset_id).where(media_items.c.asset_id == asset_id)).first()
            # An asset deleted while it was being embedded keeps no documents.
            self._replace(conn, asset_id, rows if exists is not None else [])
            conn.execute(
                delete(search_pending).where(
                    (search_pending.c.asset_id == asset_id) & (search_pending.c.version == version)
                )
            )

    def vector_generation(self) -> int:
        """Changes when every document was deleted at once."""
        with self.db.read() as conn:
            seq = conn.execute(select(search_offsets.c.seq).where(search_offsets.c.consumer == GENERATION)).scalar()
        return int(seq or 0)

    def vectors_after(self, after_id: int, limit: int) -> list[VectorRow]:
        """Document rows above ``after_id`` in id order (the primary key's range)."""
        d = search_documents.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(d.id, d.asset_id, d.vector, d.start_ms, d.end_ms, media_items.c.media_type)
                .select_from(search_documents.outerjoin(media_items, media_items.c.asset_id == d.asset_id))
                .where(d.id > after_id)
                .order_by(d.id)
                .limit(limit)
            ).all()
        return [_vector_row(r) for r in rows]

    def vectors_of(self, asset_id: str) -> list[VectorRow]:
        """The asset's current document rows (its index)."""
        d = search_documents.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(d.id, d.asset_id, d.vector, d.start_ms, d.end_ms, media_items.c.media_type)
                .select_from(search_documents.outerjoin(media_items, media_items.c.asset_id == d.asset_id))
                .where(d.asset_id == asset_id)
                .order_by(d.id)
            ).all()
        return [_vector_row(r) for r in rows]

    def documents(self, ids: Iterable[int]) -> dict[int, StoredDocument]:
        """The documents with these ids, with their asset's name and type."""
        wanted = [int(i) for i in ids]
        if not wanted:
            return {}
        d, m = search_documents.c, media_items.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    d.id, d.asset_id, d.kind, d.text, d.start_ms, d.end_ms, d.operators, d.lang, m.name, m.media_type
                )
                .select_from(search_documents.outerjoin(media_items, m.asset_id == d.asset_id))
                .where(d.id.in_(wanted))
            ).all()
        return {
            int(r.id): StoredDocument(
                int(r.id),
                r.asset_id,
                r.name or "",
                r.media_type,
                r.kind,
                r.text,
                r.start_ms,
                r.end_ms,
                tuple(json.loads(r.operators)),
                r.lang,
            )
            for r in rows
        }

    def filter_assets(self, condition: AssetFilter, limit: int) -> set[str]:
        """Assets meeting every condition: one index range per condition, intersected smallest first."""
        with self.db.read() as conn:
            sets: list[set[str]] = []
            for fact in condition.facts:
                statement = select(search_facts.c.asset_id).where(*_fact_conditions(fact)).distinct().limit(limit)
                sets.append({r.asset_id for r in conn.execute(statement)})
            items = _item_conditions(condition)
            if items:
                statement = select(media_items.c.asset_id).where(*items).limit(limit)
                sets.append({r.asset_id for r in conn.execute(statement)})
        if not sets:
            return set()
        sets.sort(key=len)
        found = sets[0]
        for other in sets[1:]:
            found = found & other
        return found

    def fact_moments(self, condition: AssetFilter, *, limit: int, offset: int = 0) -> list[FactMoment]:
        """Facts matching the first fact filter (best number first), in assets meeting the rest."""
        if not condition.facts:
            return []
        first, rest = (
            condition.facts[0],
            AssetFilter(condition.facts[1:], condition.media_type, condition.created_from, condition.created_to),
        )
        f, m = search_facts.c, media_items.c
        statement = (
            select(f.asset_id, f.operator, f.field, f.display, f.number, f.start_ms, f.end_ms, m.name, m.media_type)
            .select_from(search_facts.join(media_items, m.asset_id == f.asset_id))
            .where(*_fact_conditions(first), *_item_conditions(rest))
            .order_by(f.number.desc(), f.id)
        )
        allowed = None if not rest.facts else self.filter_assets(AssetFilter(rest.facts), 1_000_000)
        if allowed is not None:
            if not allowed:
                return []
            statement = statement.where(f.asset_id.in_(sorted(allowed)))
        with self.db.read() as conn:
            rows = conn.execute(statement.limit(limit).offset(offset)).all()
        return [
            FactMoment(r.asset_id, r.name, r.media_type, r.operator, r.field, r.display, r.number, r.start_ms, r.end_ms)
            for r in rows
        ]


def _vector_row(row: Any) -> VectorRow:
    vector = None if row.vector is None else bytes(row.vector)
    return VectorRow(int(row.id), row.asset_id, vector, row.start_ms, row.end_ms, row.media_type)


def _fact_conditions(fact: FactFilter) -> list[ColumnElement[bool]]:
    f = search_facts.c
    out: list[ColumnElement[bool]] = [f.field == fact.field]
    if fact.value is not None:
        out.append(f.value == fact.value.lower())
    if fact.low is not None:
        out.append(f.number > fact.low if fact.strict_low else f.number >= fact.low)
    if fact.high is not None:
        out.append(f.number < fact.high if fact.strict_high else f.number <= fact.high)
    return out


def _item_conditions(condition: AssetFilter) -> list[ColumnElement[bool]]:
    m = media_items.c
    out: list[ColumnElement[bool]] = []
    if condition.media_type is not None:
        out.append(m.media_type == condition.media_type)
    if condition.created_from is not None:
        out.append(m.created >= condition.created_from)
    if condition.created_to is not None:
        out.append(m.created < condition.created_to)
    return [and_(*out)] if out else []
