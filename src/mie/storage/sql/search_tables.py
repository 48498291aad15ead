"""Tables of the media index and the full-text index (migration ``0005`` creates them, ``0007`` adds the
semantic documents, facts and pending marks, and a ``lang`` column to segments).

They are defined on the shared :data:`mie.storage.sql.tables.metadata`, so importing this module adds them to it.

The full-text index itself is not a table SQLAlchemy can describe: on SQLite it is an FTS5 virtual table
``search_fts`` (external content: ``search_segments``) with its shadow tables ``search_fts_*``; on PostgreSQL a GIN
expression index ``search_fts_gin`` over ``to_tsvector('english', text)``. Every such object's name starts with
:data:`UNMAPPED_PREFIX`, so schema comparisons can leave them out (``include_name``).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, LargeBinary, String, Table, Text, UniqueConstraint

from mie.storage.sql.tables import metadata

#: Prefix of the schema objects kept by hand (FTS5 virtual table and shadow tables, the PostgreSQL GIN index).
UNMAPPED_PREFIX = "search_fts"
#: Text search configuration of PostgreSQL (stemming like SQLite's ``porter`` tokenizer).
PG_TS_CONFIG = "english"
#: FTS5 tokenizer: Porter stemming over Unicode words, accents folded.
FTS5_TOKENIZE = "porter unicode61 remove_diacritics 2"


def name_type() -> String:
    """Names compare byte-wise on both databases (SQLite's BINARY, PostgreSQL's "C"), so prefix ranges use the
    index and paging order is the same everywhere."""
    return String(1024).with_variant(String(1024, collation="C"), "postgresql")


search_offsets = Table(
    "search_offsets",
    metadata,
    # The change-log sequence number each indexing consumer has applied, written with what it applied.
    Column("consumer", String(64), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("updated", Float, nullable=False),
)

media_items = Table(
    "media_items",
    metadata,
    Column("asset_id", String(64), primary_key=True),
    # Base name of the uploaded object's key; several assets may share one (GET /api/media/{name}: the newest).
    Column("name", name_type(), nullable=False),
    # image | video | audio, or another lowercase MIE media type that /api/media does not list
    Column("media_type", String(16), nullable=True),
    # Whether /api/media lists it (media_type is image, video or audio): an equality, so listing walks the index.
    Column("listed", Boolean, nullable=False),
    # The labels as served: image labels in detector order, video labels deduplicated (JSON list).
    Column("labels", Text, nullable=False),
    Column("created", Float, nullable=False),
    Index("ix_media_items_listed_name", "listed", "name", "asset_id"),
    Index("ix_media_items_type_name", "media_type", "name", "asset_id"),
    Index("ix_media_items_created", "created"),
)

media_labels = Table(
    "media_labels",
    metadata,
    # One row per distinct label of an asset: the exact-label filter, ordered by name straight from the index.
    Column("asset_id", String(64), primary_key=True),
    Column("label", String(1024), primary_key=True),
    Column("name", name_type(), nullable=False),
    Column("media_type", String(16), nullable=True),
    Index("ix_media_labels_label_name", "label", "name", "asset_id"),
)

media_label_sources = Table(
    "media_label_sources",
    metadata,
    # Each operator's own label list for an asset (JSON), so that a re-run replaces only its contribution.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", String(64), nullable=False),
    Column("operator", String(255), nullable=False),
    Column("labels", Text, nullable=False),
    UniqueConstraint("asset_id", "operator", name="uq_media_label_sources"),
)

search_segments = Table(
    "search_segments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", String(64), nullable=False),
    Column("operator", String(255), nullable=False),
    # label | faces | text | transcript | caption | entity | keyphrase | translation | celebrity | moderation | ...
    Column("kind", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("start_ms", Integer, nullable=True),
    Column("end_ms", Integer, nullable=True),
    Column("media_type", String(16), nullable=True),
    Column("name", name_type(), nullable=False),
    # [[word, start_ms, end_ms], ...] of transcript segments (JSON), to point a hit at the spoken word.
    Column("words", Text, nullable=True),
    # Language of the text when the result tells it (captions, translations, transcripts).
    Column("lang", String(16), nullable=True),
    Index("ix_search_segments_asset_operator", "asset_id", "operator"),
)

search_schedule = Table(
    "search_schedule",
    metadata,
    # Default analyses to start when due, unless a workflow is started on the asset before.
    Column("asset_id", String(64), primary_key=True),
    Column("due", Float, nullable=False),
    Column("media_type", String(16), nullable=False),
    Index("ix_search_schedule_due", "due"),
)

search_documents = Table(
    "search_documents",
    metadata,
    # Time-ranged documents of an asset and their embeddings. Rows are only inserted (a replacement inserts the new
    # set, or a marker row with a NULL vector): readers follow the table by id. Old rows are deleted.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", String(64), nullable=False),
    # shot | image | transcript | asset | marker
    Column("kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("start_ms", Integer, nullable=True),
    Column("end_ms", Integer, nullable=True),
    Column("operators", Text, nullable=False),  # JSON list
    Column("lang", String(16), nullable=True),
    # float32 little-endian, normalised (384 values for MiniLM).
    Column("vector", LargeBinary, nullable=True),
    Index("ix_search_documents_asset", "asset_id"),
)

search_facts = Table(
    "search_facts",
    metadata,
    # What the query language filters on (label:Car confidence:>80, person:, text:, lang:, duration:).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", String(64), nullable=False),
    Column("operator", String(255), nullable=False),
    Column("field", String(16), nullable=False),
    Column("value", String(1024), nullable=False),  # lowercase
    Column("display", String(1024), nullable=False),
    Column("number", Float, nullable=True),
    Column("start_ms", Integer, nullable=True),
    Column("end_ms", Integer, nullable=True),
    Index("ix_search_facts_field_value_number", "field", "value", "number"),
    Index("ix_search_facts_field_number", "field", "number"),
    Index("ix_search_facts_asset_operator", "asset_id", "operator"),
)

search_pending = Table(
    "search_pending",
    metadata,
    # Assets whose documents must be rebuilt (marked with the change that made it so, in its transaction).
    Column("asset_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
)

SEARCH_TABLES = (
    search_offsets,
    media_items,
    media_labels,
    media_label_sources,
    search_segments,
    search_schedule,
    search_documents,
    search_facts,
    search_pending,
)
