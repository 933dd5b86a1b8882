"""what people ran into (issue 9): the nudge (催办) record and the simulator's conversation

Revision ID: 0006
Revises: 0005

Reserved in order so that work landing in any order keeps one chain.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nudge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("unit_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("day", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "unit_code", "day"),
    )
    op.create_table(
        "sim_turn",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("userid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("replies", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sim_turn", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sim_turn_userid"), ["userid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sim_turn", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_turn_userid"))
    op.drop_table("sim_turn")
    op.drop_table("nudge")
