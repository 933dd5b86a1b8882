"""A large roster written in bulk, for the reminder tests and benchmark: units, their clerks, liaison groups."""

from __future__ import annotations

from sqlalchemy import insert

from storage.db import Database
from storage.models import LiaisonGroup, Person, Unit

ORG_TYPES = ("党委", "总支", "支部")


def add_roster(db: Database, *, units: int, clerks_per_unit: int, groups: int = 1, prefix: str = "B") -> list[str]:
    """Add `units` units spread over `groups` new liaison groups, each with its clerks; returns the clerks' userids."""
    with db.write() as session:
        made = [LiaisonGroup(name=f"{prefix}联络组{g + 1}") for g in range(groups)]
        session.add_all(made)
        session.flush()
        unit_rows = [
            dict(
                code=f"{prefix}{i:05d}",
                name=f"{prefix}单位{i}机关支部",
                org_type=ORG_TYPES[i % 3],
                group_id=made[i % groups].id,
            )
            for i in range(units)
        ]
        people = [
            dict(
                userid=f"{u['code'].lower()}c{k}",
                name=f"填报员{u['code']}-{k}",
                role="clerk",
                unit_code=u["code"],
                group_id=None,
            )
            for u in unit_rows
            for k in range(clerks_per_unit)
        ]
        session.execute(insert(Unit), unit_rows)
        session.execute(insert(Person), people)
    return [p["userid"] for p in people]
