"""The audit trail made readable: who changed which item of which unit, from what to what, when (campaign zone)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage import audit, roster
from storage.campaign import Campaign
from storage.render import render

if TYPE_CHECKING:
    from sqlmodel import Session

MAX_LIMIT = 10_000


def audit_rows(*, session: Session, campaign: Campaign | None, unit_code: str | None = None, limit: int = 200) -> list:
    """The newest `limit` changes (of one unit, or city-wide), newest first, each in people's words."""
    entries = audit.trail(session=session, unit_code=unit_code, limit=max(1, min(limit, MAX_LIMIT)))
    # Only the people and units these rows name: a city of 4,000 units has 20,000 people to leave unread.
    actors, codes = {e.actor for e in entries}, {e.unit_code for e in entries if e.unit_code}
    names = roster.names(session=session, userids=actors)
    units = roster.unit_names(session=session, codes=codes)
    return [_row(e, campaign, names, units) for e in entries]


def _row(e, campaign: Campaign | None, names: dict, units: dict) -> dict:
    item = _item_name(campaign, e.entity, e.key)
    at = campaign.local(e.at) if campaign else e.at
    return {
        "id": e.id,
        "at": at.isoformat(timespec="seconds"),
        "at_text": f"{at:%Y-%m-%d %H:%M:%S}",
        "actor": e.actor,
        "actor_name": names.get(e.actor, e.actor),
        "unit_code": e.unit_code,
        "unit_name": units.get(e.unit_code, e.unit_code) if e.unit_code else None,
        "entity": e.entity,
        "key": e.key,
        "field": e.field,
        "what": render("audit_what.txt", entity=e.entity, item=item, field=e.field, key=e.key),
        "old": e.old,
        "new": e.new,
        "old_text": render("audit_value.txt", value=e.old, field=e.field),
        "new_text": render("audit_value.txt", value=e.new, field=e.field),
    }


def _item_name(campaign: Campaign | None, entity: str, key: str) -> str | None:
    """The table item's name from the campaign file; None for entities that name no item (a submission)."""
    if campaign is None:
        return key
    if entity == "activity":
        return next((a.name for a in campaign.activities if a.key == key), key)
    if entity in ("score", "reviewed"):
        return next((c.name for c in campaign.categories if c.key == key), key)
    return None
