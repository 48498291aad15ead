"""The search store on PostgreSQL: ``tsvector``/``tsquery`` full-text search over a GIN expression index."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from mie.storage.search import SearchQuery
from mie.storage.sql.search_store import HIGHLIGHT, SqlSearchStore, filters_sql
from mie.storage.sql.search_tables import PG_TS_CONFIG


class PostgresSearchStore(SqlSearchStore):
    """Full text with PostgreSQL ``tsvector``/``tsquery`` over a GIN expression index."""

    backend = "postgresql"

    def _search_rows(self, conn: Connection, query: SearchQuery, limit: int, offset: int) -> list[Any]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        parts = []
        for index, (term, prefix) in enumerate(query.terms):
            key = f"t{index}"
            if prefix:
                word = "".join(ch for ch in term if ch.isalnum())
                if not word:
                    continue
                params[key] = f"{word}:*"
                parts.append(f"to_tsquery('{PG_TS_CONFIG}', :{key})")
            else:
                params[key] = term
                function = "phraseto_tsquery" if " " in term.strip() else "plainto_tsquery"
                parts.append(f"{function}('{PG_TS_CONFIG}', :{key})")
        if not parts:
            return []
        # The expression must be the index's, to the letter, for the GIN index to serve the match.
        vector = f"to_tsvector('{PG_TS_CONFIG}'::regconfig, s.text)"
        sql = (
            "SELECT m.*, ts_headline('" + PG_TS_CONFIG + "', m.text, m.q, "
            f"'StartSel={HIGHLIGHT[0]}, StopSel={HIGHLIGHT[1]}, MaxWords=20, MinWords=6, MaxFragments=1, "
            "FragmentDelimiter=…') AS snippet FROM ("
            "SELECT s.id, s.asset_id, s.name, s.media_type, s.operator, s.kind, s.text, s.start_ms, s.end_ms, "
            f"s.words, s.lang, q.q, ts_rank_cd({vector}, q.q) AS score "
            f"FROM search_segments s, (SELECT {' && '.join(parts)} AS q) q "
            f"WHERE {vector} @@ q.q" + filters_sql(query, params) + " ORDER BY score DESC, s.id "
            "LIMIT :limit OFFSET :offset) m ORDER BY m.score DESC, m.id"
        )
        return list(conn.execute(text(sql), params).all())
