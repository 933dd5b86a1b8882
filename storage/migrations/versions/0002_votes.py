"""recommendation votes (issue 8): votes, their candidates and sealed ballots

Revision ID: 0002
Revises: 0001

Reserved in order so that work landing in any order keeps one chain.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _s(length: int | None = None):
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "vote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", _s(64), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("kind", _s(64), nullable=False),
        sa.Column("title", _s(64), nullable=False),
        sa.Column("max_choices", sa.Integer(), nullable=False),
        sa.Column("ballot_per", _s(16), nullable=False),
        sa.Column("status", _s(16), nullable=False),
        sa.Column("chat_id", _s(64), nullable=True),
        sa.Column("opened_by", _s(64), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", _s(64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("eligible", sa.Integer(), nullable=True),
        sa.Column("voted", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["group_id"], ["liaison_group.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("vote", schema=None) as batch_op:
        for column in ("campaign_id", "closes_at", "group_id", "status"):
            batch_op.create_index(batch_op.f(f"ix_vote_{column}"), [column], unique=False)
    op.create_table(
        "ballot",
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("voter_hash", _s(64), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.id"]),
        sa.PrimaryKeyConstraint("vote_id", "voter_hash"),
    )
    op.create_table(
        "vote_candidate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("label", _s(160), nullable=False),
        sa.Column("unit_code", _s(32), nullable=True),
        sa.Column("userid", _s(64), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("vote_id", "number"),
    )
    with op.batch_alter_table("vote_candidate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vote_candidate_vote_id"), ["vote_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vote_candidate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vote_candidate_vote_id"))
    op.drop_table("vote_candidate")
    op.drop_table("ballot")
    with op.batch_alter_table("vote", schema=None) as batch_op:
        for column in ("status", "group_id", "closes_at", "campaign_id"):
            batch_op.drop_index(batch_op.f(f"ix_vote_{column}"))
    op.drop_table("vote")
