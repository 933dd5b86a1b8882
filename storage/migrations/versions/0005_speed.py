"""speed: version stamps, hot-path indexes (issue 10)

Revision ID: 0005
Revises: 0004

Reserved in order so that work landing in any order keeps one chain; empty until its issue fills it.
"""

import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
