"""what people ran into (issue 9)

Revision ID: 0006
Revises: 0005

Reserved in order so that work landing in any order keeps one chain; empty until its issue fills it.
"""

import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
