"""One work queue: the lease owner token of a claimed transcode job or notification delivery.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.drop_column("lease_owner")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lease_owner")
