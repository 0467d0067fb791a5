"""experiment sources: the Braze campaigns and Canvas steps an experiment runs in

Each assignment keeps the campaign or Canvas step its content call came from (existing ones: "", not
known); events from campaigns an experiment does not name are counted apart.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default: no table rebuild on SQLite, no rewrite on PostgreSQL.
    op.add_column(
        "assignments", sa.Column("source_id", sa.String(length=128), nullable=False, server_default="")
    )
    op.create_table(
        "experiment_sources",
        sa.Column("experiment_id", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_experiment_sources_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("experiment_id", "source_id", name=op.f("pk_experiment_sources")),
    )
    op.create_table(
        "other_source_events",
        sa.Column("experiment_id", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_other_source_events_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("experiment_id", "source_id", "kind", name=op.f("pk_other_source_events")),
    )


def downgrade() -> None:
    op.drop_table("other_source_events")
    op.drop_table("experiment_sources")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("source_id")
