"""Semantic search: documents with their embeddings, facts for the query language, pending marks; a ``lang`` column
on segments and an index on the assets' creation time.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("search_segments", sa.Column("lang", sa.String(16), nullable=True))
    op.create_index("ix_media_items_created", "media_items", ["created"])
    op.create_table(
        "search_documents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("start_ms", sa.Integer, nullable=True),
        sa.Column("end_ms", sa.Integer, nullable=True),
        sa.Column("operators", sa.Text, nullable=False),
        sa.Column("lang", sa.String(16), nullable=True),
        sa.Column("vector", sa.LargeBinary, nullable=True),
    )
    op.create_index("ix_search_documents_asset", "search_documents", ["asset_id"])
    op.create_table(
        "search_facts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(255), nullable=False),
        sa.Column("field", sa.String(16), nullable=False),
        sa.Column("value", sa.String(1024), nullable=False),
        sa.Column("display", sa.String(1024), nullable=False),
        sa.Column("number", sa.Float, nullable=True),
        sa.Column("start_ms", sa.Integer, nullable=True),
        sa.Column("end_ms", sa.Integer, nullable=True),
    )
    op.create_index("ix_search_facts_field_value_number", "search_facts", ["field", "value", "number"])
    op.create_index("ix_search_facts_field_number", "search_facts", ["field", "number"])
    op.create_index("ix_search_facts_asset_operator", "search_facts", ["asset_id", "operator"])
    op.create_table(
        "search_pending",
        sa.Column("asset_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("search_pending")
    op.drop_index("ix_search_facts_asset_operator", table_name="search_facts")
    op.drop_index("ix_search_facts_field_number", table_name="search_facts")
    op.drop_index("ix_search_facts_field_value_number", table_name="search_facts")
    op.drop_table("search_facts")
    op.drop_index("ix_search_documents_asset", table_name="search_documents")
    op.drop_table("search_documents")
    op.drop_index("ix_media_items_created", table_name="media_items")
    with op.batch_alter_table("search_segments") as batch:
        batch.drop_column("lang")
