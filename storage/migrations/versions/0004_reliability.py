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
    pass


def downgrade() -> None:
    pass
