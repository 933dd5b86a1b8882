"""recommendation votes (issue 8)

Revision ID: 0002
Revises: 0001

Reserved in order so that work landing in any order keeps one chain; empty until its issue fills it.
"""

import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
