"""The tables: roster, campaign, entries, dialog state, message keys, outbox, reminders, audit, scoring, files."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, LargeBinary, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware datetimes stored as UTC everywhere: SQLite keeps no offset, so one is never left to it."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every datetime must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect, coltype):
        """On SQLite, the stored text straight to an aware datetime with datetime.fromisoformat (SQLAlchemy's
        own parser is a regular expression: a fifth of the time it takes to read a unit's entries)."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value):
            if value is None:
                return None
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

        return process


def _ts(nullable: bool = False, index: bool = False) -> Column:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class CampaignRow(SQLModel, table=True):
    __tablename__ = "campaign"
    id: str = Field(primary_key=True, max_length=64)
    title: str
    source_path: str = ""
    source_text: str = Field(sa_column=Column(Text, nullable=False))
    source_hash: str = Field(max_length=64)
    active: bool = False
    loaded_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class LiaisonGroup(SQLModel, table=True):
    __tablename__ = "liaison_group"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    chat_id: str | None = Field(default=None, max_length=64)


class Unit(SQLModel, table=True):
    __tablename__ = "unit"
    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=128)
    org_type: str = Field(max_length=16)
    group_id: int = Field(foreign_key="liaison_group.id", index=True)


class Person(SQLModel, table=True):
    __tablename__ = "person"
    userid: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=64)
    role: str = Field(max_length=16, index=True)  # clerk | liaison | admin
    unit_code: str | None = Field(default=None, foreign_key="unit.code", index=True)
    group_id: int | None = Field(default=None, foreign_key="liaison_group.id", index=True)
    # A person left out of a later roster import is deactivated, never deleted: their history stays.
    active: bool = True
    deactivated_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class ActivityEntry(SQLModel, table=True):
    __tablename__ = "activity_entry"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_code", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64)
    unit_code: str = Field(max_length=32, index=True)
    key: str = Field(max_length=64)
    count: int | None = None
    note: str | None = None
    version: int = 1
    updated_by: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ScoreEntry(SQLModel, table=True):
    __tablename__ = "score_entry"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_code", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64)
    unit_code: str = Field(max_length=32, index=True)
    key: str = Field(max_length=64)
    points: float | None = None
    note: str | None = None
    version: int = 1
    updated_by: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Submission(SQLModel, table=True):
    __tablename__ = "submission"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_code"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64)
    unit_code: str = Field(max_length=32, index=True)
    submitted: bool = False
    submitted_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    submitted_by: str | None = Field(default=None, max_length=64)
    reopened_by: str | None = Field(default=None, max_length=64)
    reopened_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class DialogState(SQLModel, table=True):
    __tablename__ = "dialog_state"
    userid: str = Field(primary_key=True, max_length=64)
    flow: str | None = Field(default=None, max_length=32)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ProcessedMessage(SQLModel, table=True):
    __tablename__ = "processed_message"
    key: str = Field(primary_key=True, max_length=200)
    userid: str = Field(max_length=64)
    replies: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))


class Outbox(SQLModel, table=True):
    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)
    kind: str = Field(max_length=16)  # user | chat
    recipients: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    chat_id: str | None = Field(default=None, max_length=64)
    msgtype: str = Field(default="text", max_length=32)
    content: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(default="reply", max_length=32)
    # pending | sending (claimed, leased until next_attempt_at) | sent | failed (for good) | expired
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # reliability (issue 12): retried until expires_at; the sender holding the lease; recipients WeCom refused
    expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    claimed_by: str | None = Field(default=None, max_length=64)
    rejected: list | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class ReminderSend(SQLModel, table=True):
    __tablename__ = "reminder_send"
    __table_args__ = (UniqueConstraint("campaign_id", "reminder_key", "userid"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64)
    reminder_key: str = Field(max_length=64)
    userid: str = Field(max_length=64)
    outbox_id: int | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    error: str | None = Field(default=None, max_length=64)  # WeCom refused this person: invaliduser, ...


class Lease(SQLModel, table=True):
    __tablename__ = "lease"
    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)
    expires_at: datetime = Field(sa_column=_ts())


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))
    actor: str = Field(max_length=64)
    campaign_id: str | None = Field(default=None, max_length=64)
    unit_code: str | None = Field(default=None, max_length=32, index=True)
    entity: str = Field(max_length=32)
    key: str = Field(max_length=64)
    field: str = Field(max_length=32)
    old: str | None = None
    new: str | None = None


class ReminderRun(SQLModel, table=True):
    """One row per reminder acted on: fired (with how many people) or skipped (its phase had ended)."""

    __tablename__ = "reminder_run"
    __table_args__ = (UniqueConstraint("campaign_id", "reminder_key"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64)
    reminder_key: str = Field(max_length=64)
    status: str = Field(max_length=16)  # fired | skipped
    due_at: datetime = Field(sa_column=_ts())
    acted_at: datetime = Field(sa_column=_ts())
    recipients: int = 0
    holder: str | None = Field(default=None, max_length=128)


# --- recommendation votes (issue 8) ---


class Vote(SQLModel, table=True):
    """One democratic recommendation in one liaison group: draft (nominating), open, then closed."""

    __tablename__ = "vote"
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64, index=True)
    group_id: int = Field(foreign_key="liaison_group.id", index=True)
    kind: str = Field(max_length=64)  # the campaign's recommendation key
    title: str = Field(max_length=64)
    max_choices: int = 1
    ballot_per: str = Field(default="clerk", max_length=16)  # clerk | unit
    status: str = Field(default="draft", max_length=16, index=True)  # draft | open | closed
    chat_id: str | None = Field(default=None, max_length=64)
    opened_by: str | None = Field(default=None, max_length=64)
    opened_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    closes_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True, index=True))
    closed_by: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    eligible: int | None = None  # 应到, fixed at closing
    voted: int | None = None  # 实到, fixed at closing


class VoteCandidate(SQLModel, table=True):
    __tablename__ = "vote_candidate"
    __table_args__ = (UniqueConstraint("vote_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    vote_id: int = Field(foreign_key="vote.id", index=True)
    number: int
    label: str = Field(max_length=160)
    unit_code: str | None = Field(default=None, max_length=32)
    userid: str | None = Field(default=None, max_length=64)  # a nominee on the roster
    count: int | None = None  # set at closing; sealed until then


class Ballot(SQLModel, table=True):
    """A secret ballot: the voter only as a keyed hash, the choices sealed with the service's key; no
    serial id and no time, so neither order nor timing ties a row to a message."""

    __tablename__ = "ballot"  # the primary key (vote, voter hash) is what makes one ballot per voter
    vote_id: int = Field(foreign_key="vote.id", primary_key=True)
    voter_hash: str = Field(max_length=64, primary_key=True)
    sealed: str = Field(sa_column=Column(Text, nullable=False))


# ---- scoring, bonus items, grades and generated files (issue 11) ----


class RoutineScore(SQLModel, table=True):
    """A unit's routine (平时) score, imported from the online evaluation system's figures."""

    __tablename__ = "routine_score"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_code"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64)
    unit_code: str = Field(max_length=32, index=True)
    score: float
    source: str = Field(default="", max_length=200)
    updated_by: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class BonusItem(SQLModel, table=True):
    """A bonus item (加分项目) a clerk declares and an administrator approves or refuses, both with reasons."""

    __tablename__ = "bonus_item"
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64, index=True)
    unit_code: str = Field(max_length=32, index=True)
    title: str = Field(max_length=100)
    points: float
    reason: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending | approved | refused
    declared_by: str = Field(max_length=64)
    declared_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    decision_reason: str | None = None


class ReviewedScore(SQLModel, table=True):
    """An administrator's reviewed table-2 score for one category, in place of the self-score, with a reason."""

    __tablename__ = "reviewed_score"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_code", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64)
    unit_code: str = Field(max_length=32, index=True)
    key: str = Field(max_length=64)
    points: float
    reason: str = Field(sa_column=Column(Text, nullable=False))
    set_by: str = Field(max_length=64)
    set_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class GradeDecision(SQLModel, table=True):
    """The committee's grade for a unit where it differs from the proposed one, with a reason."""

    __tablename__ = "grade_decision"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_code"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64)
    unit_code: str = Field(max_length=32, index=True)
    grade: str = Field(max_length=32)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    decided_by: str = Field(max_length=64)
    decided_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class StoredFile(SQLModel, table=True):
    """A generated document kept for delivery: the outbox refers to it by id, never carries the bytes."""

    __tablename__ = "stored_file"
    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(unique=True, max_length=64)  # unguessable: the simulator's download link
    name: str = Field(max_length=200)
    media_type: str = Field(max_length=100)
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    owner: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))


# --- people (issue 9): a liaison officer's 催办, and the simulator's conversations ---


class Nudge(SQLModel, table=True):
    """A liaison officer's 催办 of one unit on one local day: the row is the claim, so a unit is nudged at
    most once a day however often 催办 is sent."""

    __tablename__ = "nudge"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_code", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64)
    unit_code: str = Field(max_length=32)
    day: str = Field(max_length=10)  # YYYY-MM-DD in the campaign's timezone
    by: str = Field(max_length=64)
    recipients: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class SimTurn(SQLModel, table=True):
    """One message typed in the web simulator and the bot's answer, so a reloaded page shows the chat."""

    __tablename__ = "sim_turn"
    id: int | None = Field(default=None, primary_key=True)
    userid: str = Field(max_length=64, index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    replies: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


# --- speed (issue 10): version stamps of what processes hold in memory --------------------------------


class DataStamp(SQLModel, table=True):
    """A counter per cached aggregate ("roster", "campaign"), moved by database triggers on every write
    to its tables (migration 0005), so each process sees with one cheap read whether its copy is current."""

    __tablename__ = "data_stamp"
    name: str = Field(primary_key=True, max_length=32)
    version: int = 0


# --- reliability (issue 12): which campaign file was loaded, so a restart never undoes a later choice ---


class CampaignLoad(SQLModel, table=True):
    __tablename__ = "campaign_load"
    id: int | None = Field(default=None, primary_key=True)
    path: str
    source_hash: str = Field(max_length=64)
    campaign_id: str = Field(max_length=64)
    how: str = Field(max_length=16)  # hand (kaohe campaign load) | start (KAOHE_CAMPAIGN) | watch | default
    loaded_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
