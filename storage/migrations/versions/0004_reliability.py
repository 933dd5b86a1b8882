"""reliability: people deactivation, outbox retries (issue 12)

Revision ID: 0004
Revises: 0003

Reserved in order so that work landing in any order keeps one chain; empty until its issue fills it.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _people_up()
    _campaign_loads_up()
    _outbox_up()


def downgrade() -> None:
    with op.batch_alter_table("reminder_send", schema=None) as batch_op:
        batch_op.drop_column("error")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("rejected")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("expires_at")
    op.drop_table("campaign_load")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("deactivated_at")
        batch_op.drop_column("active")


def _outbox_up() -> None:
    # outbox: retried until it stops being useful, leased to one sender, per-person refusals (faults)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("rejected", sa.JSON(), nullable=True))
    with op.batch_alter_table("reminder_send", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def _people_up() -> None:
    # person: deactivated (never deleted) when a new roster import leaves them out (edge)
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(sa.text("UPDATE person SET active = :yes").bindparams(yes=True))
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.alter_column("active", existing_type=sa.Boolean(), nullable=False)


def _campaign_loads_up() -> None:
    # campaign_load: which file with which content was loaded, so a restart never reloads one over a later choice (edge)
    op.create_table(
        "campaign_load",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("campaign_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("how", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
