"""Initial schema: catalog, executions, tasks, data plane, outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "system_configuration",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    for name in ("operations", "stages", "workflows"):
        op.create_table(
            name,
            sa.Column("name", sa.String(255), primary_key=True),
            sa.Column("doc", sa.Text, nullable=False),
        )
    op.create_table(
        "executions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("workflow_name", sa.String(255), nullable=False),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("current_stage", sa.String(255), nullable=False),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("queued_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index("ix_executions_status_queued", "executions", ["status", "queued_at"])
    op.create_index("ix_executions_asset", "executions", ["asset_id"])
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(255), nullable=False),
        sa.Column("branch", sa.Integer, nullable=False),
        sa.Column("operation", sa.String(255), nullable=False),
        sa.Column("op_type", sa.String(8), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("polls", sa.Integer, nullable=False),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("output", sa.Text, nullable=True),
    )
    op.create_index("ix_tasks_state_due", "tasks", ["state", "due_at"])
    op.create_index("ix_tasks_execution_stage", "tasks", ["execution_id", "stage"])
    op.create_table(
        "assets",
        sa.Column("asset_id", sa.String(64), primary_key=True),
        sa.Column("s3_bucket", sa.String(255), nullable=False),
        sa.Column("s3_key", sa.Text, nullable=False),
        sa.Column("media_type", sa.String(32), nullable=True),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("locked_by", sa.String(255), nullable=True),
        sa.Column("locked_at", sa.Integer, nullable=True),
    )
    op.create_table(
        "metadata_pointers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(255), nullable=False),
        sa.Column("workflow", sa.String(255), nullable=False),
        sa.Column("pointer", sa.Text, nullable=False),
    )
    op.create_index("ix_pointers_asset_operator", "metadata_pointers", ["asset_id", "operator"])
    op.create_table(
        "metadata_pages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(255), nullable=False),
        sa.Column("workflow", sa.String(255), nullable=False),
        sa.Column("page", sa.Text, nullable=False),
    )
    op.create_index("ix_pages_key", "metadata_pages", ["asset_id", "workflow", "operator"])
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("asset_id", sa.String(64), nullable=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "outbox",
        "metadata_pages",
        "metadata_pointers",
        "assets",
        "tasks",
        "executions",
        "workflows",
        "stages",
        "operations",
        "system_configuration",
    ):
        op.drop_table(name)
