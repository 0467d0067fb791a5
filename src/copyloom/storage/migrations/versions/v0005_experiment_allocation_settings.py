"""experiment allocation settings: the floor, the control's holdout and the warm-up per experiment

Existing experiments keep the engine's defaults (a 1 % floor, no holdout, 100 sends per variant).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("floor", sa.Double(), nullable=False, server_default="0.01"))
        batch_op.add_column(sa.Column("control_holdout", sa.Double(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("min_sends_per_variant", sa.Integer(), nullable=False, server_default="100")
        )


def downgrade() -> None:
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_column("min_sends_per_variant")
        batch_op.drop_column("control_holdout")
        batch_op.drop_column("floor")
