"""Face collections (Rekognition-style) and people across the library: tables of ``faces_tables.py``.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "face_collections",
        sa.Column("collection_id", sa.String(255), primary_key=True),
        sa.Column("face_model_version", sa.String(64), nullable=False),
        sa.Column("face_count", sa.Integer, nullable=False),
        sa.Column("generation", sa.String(32), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "faces",
        sa.Column("face_id", sa.String(36), primary_key=True),
        sa.Column("collection_id", sa.String(255), nullable=False),
        sa.Column("image_id", sa.String(36), nullable=False),
        sa.Column("external_image_id", sa.String(255), nullable=True),
        sa.Column("bounding_box", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("ix_faces_collection_face", "faces", ["collection_id", "face_id"])
    state = op.create_table(
        "people_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("generation", sa.String(32), nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "generation": "0"}])
    op.create_table(
        "people",
        sa.Column("person_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("centroid", sa.LargeBinary, nullable=False),
        sa.Column("face_count", sa.Integer, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_people_name", "people", ["name"])
    op.create_table(
        "asset_faces",
        sa.Column("face_id", sa.String(36), primary_key=True),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.Integer, nullable=True),
        sa.Column("bounding_box", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=False),
        sa.Column("person_id", sa.String(36), nullable=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("ix_asset_faces_asset", "asset_faces", ["asset_id", "source"])
    op.create_index("ix_asset_faces_person", "asset_faces", ["person_id", "asset_id"])


def downgrade() -> None:
    op.drop_table("asset_faces")
    op.drop_table("people")
    op.drop_table("people_state")
    op.drop_table("faces")
    op.drop_table("face_collections")
