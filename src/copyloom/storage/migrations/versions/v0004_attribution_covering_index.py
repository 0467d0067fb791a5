"""ingest indexes: an attribution covering index; seen events without rowid on SQLite

The ingest joins each event to the assignments by (recipient key, dispatch) and needs the tenant and
experiment of every match: with both in the index, the lookup never reads the assignment row itself.
On SQLite, `seen_events` becomes a WITHOUT ROWID table: its primary key is the table, so an event id
is one B-tree insert instead of two (the row, then the key's index).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
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
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "seen_events", recreate="always", table_kwargs={"sqlite_with_rowid": False}
        ):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("seen_events", recreate="always"):
            pass
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assignments_recipient_dispatch", ["recipient_key", "dispatch_id"], unique=False
        )
        batch_op.drop_index("ix_assignments_attribution")
