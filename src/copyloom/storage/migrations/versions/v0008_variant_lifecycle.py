"""variant lifecycle: variants added to and retired from running experiments, and the auto-retire rule

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_EXPERIMENT_COLUMNS: dict[str, sa.types.TypeEngine[Any]] = {
    "auto_retire_p_best_below": sa.Double(),
    "auto_retire_for_hours": sa.Double(),
    "auto_retire_min_sends": sa.Integer(),
}
_VARIANT_COLUMNS: dict[str, sa.types.TypeEngine[Any]] = {
    "added_at": sa.Double(),
    "retired_at": sa.Double(),
    "retired_by": sa.String(length=16),
}


def upgrade() -> None:
    # Nullable columns: a plain ADD COLUMN on both stores, no table rebuild.
    for name, kind in _EXPERIMENT_COLUMNS.items():
        op.add_column("experiments", sa.Column(name, kind, nullable=True))
    for name, kind in _VARIANT_COLUMNS.items():
        op.add_column("variants", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("variants", schema=None) as batch_op:
        for name in _VARIANT_COLUMNS:
            batch_op.drop_column(name)
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        for name in _EXPERIMENT_COLUMNS:
            batch_op.drop_column(name)
