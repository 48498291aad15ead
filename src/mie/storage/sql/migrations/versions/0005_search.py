"""Media index and full-text search: tables of ``search_tables.py``, plus the FTS5 table (SQLite) or the GIN
index (PostgreSQL).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _name() -> sa.types.TypeEngine[str]:
    return sa.String(1024).with_variant(sa.String(1024, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "search_offsets",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_table(
        "media_items",
        sa.Column("asset_id", sa.String(64), primary_key=True),
        sa.Column("name", _name(), nullable=False),
        sa.Column("media_type", sa.String(16), nullable=True),
        sa.Column("listed", sa.Boolean, nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("ix_media_items_listed_name", "media_items", ["listed", "name", "asset_id"])
    op.create_index("ix_media_items_type_name", "media_items", ["media_type", "name", "asset_id"])
    op.create_table(
        "media_labels",
        sa.Column("asset_id", sa.String(64), primary_key=True),
        sa.Column("label", sa.String(1024), primary_key=True),
        sa.Column("name", _name(), nullable=False),
        sa.Column("media_type", sa.String(16), nullable=True),
    )
    op.create_index("ix_media_labels_label_name", "media_labels", ["label", "name", "asset_id"])
    op.create_table(
        "media_label_sources",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(255), nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.UniqueConstraint("asset_id", "operator", name="uq_media_label_sources"),
    )
    op.create_table(
        "search_segments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("start_ms", sa.Integer, nullable=True),
        sa.Column("end_ms", sa.Integer, nullable=True),
        sa.Column("media_type", sa.String(16), nullable=True),
        sa.Column("name", _name(), nullable=False),
        sa.Column("words", sa.Text, nullable=True),
    )
    op.create_index("ix_search_segments_asset_operator", "search_segments", ["asset_id", "operator"])
    op.create_table(
        "search_schedule",
        sa.Column("asset_id", sa.String(64), primary_key=True),
        sa.Column("due", sa.Float, nullable=False),
        sa.Column("media_type", sa.String(16), nullable=False),
    )
    op.create_index("ix_search_schedule_due", "search_schedule", ["due"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # External content: the text lives once, in search_segments; the store keeps the index in step.
        # The operator and media type are indexed as tokens too, so that filters are intersected inside FTS5.
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5(text, operator, media_type, content='search_segments', "
            "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
        )
    elif dialect == "postgresql":
        op.execute("CREATE INDEX search_fts_gin ON search_segments USING gin (to_tsvector('english'::regconfig, text))")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS search_fts_gin")
    op.drop_index("ix_search_schedule_due", table_name="search_schedule")
    op.drop_table("search_schedule")
    op.drop_index("ix_search_segments_asset_operator", table_name="search_segments")
    op.drop_table("search_segments")
    op.drop_table("media_label_sources")
    op.drop_index("ix_media_labels_label_name", table_name="media_labels")
    op.drop_table("media_labels")
    op.drop_index("ix_media_items_type_name", table_name="media_items")
    op.drop_index("ix_media_items_listed_name", table_name="media_items")
    op.drop_table("media_items")
    op.drop_table("search_offsets")
