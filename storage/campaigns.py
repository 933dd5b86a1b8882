"""Repository for campaigns: store a checked campaign file and read back the active one."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from sqlmodel import Session, select

from storage.campaign import Campaign, load_campaign, parse_campaign
from storage.db import Database
from storage.models import CampaignLoad, CampaignRow, utcnow


def save_campaign(*, session: Session, campaign: Campaign, text: str, path: str = "") -> tuple[CampaignRow, bool]:
    """Store the campaign's text and make it the active one; returns the row and whether it changed."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    row = session.get(CampaignRow, campaign.id)
    changed = row is None or row.source_hash != digest or not row.active
    for other in session.exec(select(CampaignRow).where(CampaignRow.active == True, CampaignRow.id != campaign.id)):  # noqa: E712
        other.active = False
        session.add(other)
    if row is None:
        row = CampaignRow(id=campaign.id, title=campaign.campaign.title, source_text=text, source_hash=digest)
    row.title, row.source_text, row.source_hash = campaign.campaign.title, text, digest
    row.source_path, row.active = path, True
    if changed:
        row.loaded_at = utcnow()
    session.add(row)
    session.flush()
    return row, changed


def active_row(*, session: Session) -> CampaignRow | None:
    return session.exec(select(CampaignRow).where(CampaignRow.active == True)).first()  # noqa: E712


def active_campaign(*, session: Session) -> Campaign | None:
    row = active_row(session=session)
    return _parsed(row.source_hash, row.source_text) if row else None


@lru_cache(maxsize=8)
def _parsed(digest: str, text: str) -> Campaign:
    return parse_campaign(text, f"campaign {digest[:8]}")


def load_campaign_file(db: Database, path: str | Path, how: str = "hand") -> tuple[Campaign, bool]:
    """Check the file (CampaignError names file, key and reason) and make it the active campaign; the load
    is recorded with its content's digest (`how`: hand, start, watch or default)."""
    campaign = load_campaign(path)
    text = Path(path).read_text(encoding="utf-8")
    resolved = str(Path(path).resolve())
    with db.write() as session:
        row, changed = save_campaign(session=session, campaign=campaign, text=text, path=resolved)
        session.add(CampaignLoad(path=resolved, source_hash=row.source_hash, campaign_id=campaign.id, how=how))
    return campaign, changed


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_text(encoding="utf-8").encode()).hexdigest()


def loaded_before(*, session: Session, path: str | Path, digest: str) -> bool:
    """Whether this file, with this content, was ever loaded into this database (by hand or at a start)."""
    query = select(CampaignLoad.id).where(
        CampaignLoad.path == str(Path(path).resolve()), CampaignLoad.source_hash == digest
    )
    return session.exec(query).first() is not None
