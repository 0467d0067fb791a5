"""guardrails: each experiment's guardrail rule, and the breaches found with their figures

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("experiments", sa.Column("guardrails_json", sa.Text(), nullable=True))
    op.create_table(
        "guardrail_breaches",
        sa.Column("experiment_id", sa.String(length=32), nullable=False),
        sa.Column("variant_id", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("detected_at", sa.Double(), nullable=False),
        sa.Column("variant_sends", sa.BigInteger(), nullable=False),
        sa.Column("variant_events", sa.BigInteger(), nullable=False),
        sa.Column("control_sends", sa.BigInteger(), nullable=False),
        sa.Column("control_events", sa.BigInteger(), nullable=False),
        sa.Column("probability", sa.Double(), nullable=False),
        sa.Column("margin", sa.Double(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_guardrail_breaches_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("experiment_id", "variant_id", "metric", name=op.f("pk_guardrail_breaches")),
    )


def downgrade() -> None:
    op.drop_table("guardrail_breaches")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_column("guardrails_json")
