"""clean rewards: the tenant's bot-click rule, and the CTA link aliases of `cta_click` experiments

Existing tenants get `flag_or_reason`: a click with a `suspected_bot_click_reason` is a bot click.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("bot_clicks", sa.String(length=16), nullable=False, server_default="flag_or_reason")
        )
    op.create_table(
        "experiment_cta_links",
        sa.Column("experiment_id", sa.String(length=32), nullable=False),
        sa.Column("link_alias", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_experiment_cta_links_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("experiment_id", "link_alias", name=op.f("pk_experiment_cta_links")),
    )


def downgrade() -> None:
    op.drop_table("experiment_cta_links")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("bot_clicks")
