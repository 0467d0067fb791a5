"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "install_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_install_settings")),
    )
    op.create_table(
        "seen_events",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("seen_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", name=op.f("pk_seen_events")),
    )
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("pseudonym_key", sa.String(length=64), nullable=False),
        sa.Column("id_transform", sa.String(length=16), server_default="none", nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "unattributed_events",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "source_id", "kind", name=op.f("pk_unattributed_events")),
    )
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("recipient_field", sa.String(length=32), nullable=False),
        sa.Column("sticky", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("winner", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.tenant_id"], name=op.f("fk_experiments_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_experiments")),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experiments_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("revoked_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.tenant_id"], name=op.f("fk_tokens_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_tokens")),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "allocations",
        sa.Column(
            "allocation_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("experiment_id", sa.String(length=32), nullable=False),
        sa.Column("computed_at", sa.Double(), nullable=False),
        sa.Column("weights_json", sa.Text(), nullable=False),
        sa.Column("p_best_json", sa.Text(), nullable=False),
        sa.Column("winner", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_allocations_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("allocation_id", name=op.f("pk_allocations")),
    )
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_allocations_experiment_time", ["experiment_id", "computed_at"], unique=False
        )

    op.create_table(
        "assignments",
        sa.Column(
            "assignment_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("experiment_id", sa.String(length=32), nullable=False),
        sa.Column("recipient_key", sa.String(length=64), nullable=False),
        sa.Column("dispatch_id", sa.String(length=128), nullable=False),
        sa.Column("variant_id", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", sa.Double(), nullable=False),
        sa.Column("cohort_s", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_assignments_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("assignment_id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("experiment_id", "recipient_key", "dispatch_id", name="uq_assignments_send"),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assignments_recipient_dispatch", ["recipient_key", "dispatch_id"], unique=False
        )

    op.create_table(
        "variants",
        sa.Column("experiment_id", sa.String(length=32), nullable=False),
        sa.Column("variant_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_control", sa.Boolean(), nullable=False),
        sa.Column("texts_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_variants_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("experiment_id", "variant_id", name=op.f("pk_variants")),
    )
    op.create_table(
        "engagements",
        sa.Column("assignment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.assignment_id"],
            name=op.f("fk_engagements_assignment_id_assignments"),
        ),
        sa.PrimaryKeyConstraint("assignment_id", "kind", name=op.f("pk_engagements")),
    )


def downgrade() -> None:
    op.drop_table("engagements")
    op.drop_table("variants")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_assignments_recipient_dispatch")

    op.drop_table("assignments")
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_allocations_experiment_time")

    op.drop_table("allocations")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_tenant_id"))

    op.drop_table("tokens")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiments_tenant_id"))

    op.drop_table("experiments")
    op.drop_table("unattributed_events")
    op.drop_table("tenants")
    op.drop_table("seen_events")
    op.drop_table("install_settings")
