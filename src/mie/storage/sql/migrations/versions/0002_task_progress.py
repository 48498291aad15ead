"""Task progress, and an index for per-operation concurrency limits.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("progress", sa.Text, nullable=True))
    op.create_index("ix_tasks_operation_state", "tasks", ["operation", "state"])


def downgrade() -> None:
    op.drop_index("ix_tasks_operation_state", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("progress")
