"""segments: an experiment's context fields, each assignment's segment and propensity, per-segment weights

`experiments.context_json` holds the declared context fields (NULL: not segmented); `assignments.segment` the
recipient's segment ("" for an experiment without context, and for every row made before); `propensity` the
probability with which the stored variant was chosen (NULL for rows made before it was recorded);
`allocations.segments_json` the learner's weights, P(best) and winner per segment (NULL: not segmented).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("context_json", sa.Text(), nullable=True))
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segment", sa.String(length=255), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("propensity", sa.Double(), nullable=True))
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segments_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_column("segments_json")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("propensity")
        batch_op.drop_column("segment")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_column("context_json")
