"""reliability: people deactivation, outbox retries (issue 12)

Revision ID: 0004
Revises: 0003

Reserved in order so that work landing in any order keeps one chain; empty until its issue fills it.
"""

import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # outbox: retried until it stops being useful, leased to one sender, per-person refusals (faults)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("rejected", sa.JSON(), nullable=True))
    with op.batch_alter_table("reminder_send", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reminder_send", schema=None) as batch_op:
        batch_op.drop_column("error")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("rejected")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("expires_at")
