"""attribution covering index

The ingest joins each event to the assignments by (recipient key, dispatch) and needs the tenant and
experiment of every match: with both in the index, the lookup never reads the assignment row itself.

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assignments_attribution",
            ["recipient_key", "dispatch_id", "tenant_id", "experiment_id"],
            unique=False,
        )
        batch_op.drop_index("ix_assignments_recipient_dispatch")


def downgrade() -> None:
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assignments_recipient_dispatch", ["recipient_key", "dispatch_id"], unique=False
        )
        batch_op.drop_index("ix_assignments_attribution")
