"""speed: version stamps, hot-path indexes (issue 10)

Revision ID: 0005
Revises: 0004

Reserved in order so that work landing in any order keeps one chain; empty until its issue fills it.
The data_stamp table and the triggers that move it: any write to the roster's or the campaign's
tables, by any process or tool, bumps the stamp that in-memory copies are checked against.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# table -> the stamp its writes move
STAMPED = {"person": "roster", "unit": "roster", "liaison_group": "roster", "campaign": "campaign"}
_BUMP = "INSERT INTO data_stamp (name, version) VALUES ('{stamp}', 1) ON CONFLICT (name) DO UPDATE SET version = data_stamp.version + 1"


def upgrade() -> None:
    op.create_table(
        "data_stamp",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION kaohe_bump_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            + _BUMP.replace("'{stamp}'", "TG_ARGV[0]")
            + "; RETURN NULL; END $$"
        )
        for table, stamp in STAMPED.items():
            op.execute(
                f"CREATE TRIGGER {table}_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION kaohe_bump_stamp('{stamp}')"
            )
        return
    for table, stamp in STAMPED.items():  # SQLite has row triggers only; a bump is one small upsert
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_stamp_{event.lower()} AFTER {event} ON {table} "
                f"BEGIN {_BUMP.format(stamp=stamp)}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in STAMPED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp ON {table}")
        op.execute("DROP FUNCTION IF EXISTS kaohe_bump_stamp()")
    else:
        for table in STAMPED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp_{event}")
    op.drop_table("data_stamp")
