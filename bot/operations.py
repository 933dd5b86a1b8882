"""Operations the CLI and start-up share: load a campaign file, import the roster, prepare, set up the demo."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bot.demo import SAMPLE_ROSTER, demo_campaign_text, demo_reminder_lines
from bot.settings import Settings
from handlers.roster_import import DEFAULT_ORG_TYPES, ImportReport, import_roster
from storage import campaigns
from storage.campaign import load_campaign
from storage.campaigns import load_campaign_file
from storage.db import Database
from storage.models import utcnow


def import_roster_files(db: Database, units: str | Path, people: str | Path) -> list[ImportReport]:
    with db.read() as session:
        campaign = campaigns.active_campaign(session=session)
    org_types = tuple(campaign.campaign.org_types) if campaign else DEFAULT_ORG_TYPES
    with db.write() as session:
        return import_roster(session=session, units_path=units, people_path=people, org_types=org_types)


def import_routine_file(db: Database, path: str | Path, actor: str = "cli") -> ImportReport:
    """Routine scores from a file, all or nothing: a refused row means nothing is written."""
    from handlers.scoring import import_routine_scores, read_routine_file

    rows = read_routine_file(path)
    with db.write() as session:
        campaign = campaigns.active_campaign(session=session)
        if campaign is None:
            raise RuntimeError("没有进行中的考核：请先运行 `kaohe campaign load FILE`")
        return import_routine_scores(
            session=session, campaign=campaign, rows=rows, actor=actor, source=Path(path).name, now=utcnow()
        )


def schema_is_current(db: Database) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(str(db.url))).get_current_head()
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


def prepare(db: Database, settings: Settings) -> str:
    """Before serving: the schema must be current; then the campaign as `start_campaign` decides."""
    if not schema_is_current(db):
        raise RuntimeError("数据库结构不是最新的：请先运行 `kaohe db upgrade`")
    return start_campaign(db, settings)


def start_campaign(db: Database, settings: Settings) -> str:
    """A start never changes the active campaign unless the operator asked (README, "Which campaign is
    active"): the shipped default is loaded only into a database with no campaign; a file named by
    KAOHE_CAMPAIGN only when this database has never loaded it with this content (new, or edited since).
    Returns one line saying what was done."""
    path = settings.campaign_file
    if settings.campaign_explicit:
        load_campaign(path)  # a broken file named by KAOHE_CAMPAIGN stops the start (CampaignError), as ever
    with db.read() as session:
        active = campaigns.active_row(session=session)
        seen = settings.campaign_explicit and campaigns.loaded_before(
            session=session, path=path, digest=campaigns.file_digest(path)
        )
    if active is not None and (seen or not settings.campaign_explicit):
        return f"campaign: {active.id} stays active"
    campaign, _ = load_campaign_file(db, path, how="start" if settings.campaign_explicit else "default")
    return f"campaign: {campaign.id} loaded from {path}"


def setup_demo(db: Database, campaign_out: Path, now: datetime) -> list[str]:
    from storage.migrate import upgrade

    upgrade(db.url.render_as_string(hide_password=False))  # str(url) masks the password as ***
    campaign_out.parent.mkdir(parents=True, exist_ok=True)
    campaign_out.write_text(demo_campaign_text(now), encoding="utf-8")
    campaign, _ = load_campaign_file(db, campaign_out)
    reports = import_roster_files(db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    lines = [
        f"demo campaign: {campaign.campaign.title} ({campaign_out}), self-check "
        f"{campaign.phase('self_check').start} to {campaign.phase('self_check').end}"
    ]
    return lines + [line for report in reports for line in report.lines()] + demo_reminder_lines(campaign, now)


def missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite database file that does not exist yet; None for one that does, or a server."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return None if Path(parsed.database).exists() else parsed.database
