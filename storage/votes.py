"""Repository for recommendation votes: drafts, candidates, sealed ballots, closing, and results for others to read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from storage.models import Ballot, LiaisonGroup, Person, Unit, Vote, VoteCandidate
from storage.secrecy import Keyring


@dataclass(frozen=True)
class Voter:
    """Who casts one ballot: a clerk (key = userid) or a unit (key = "unit:CODE", any of its clerks)."""

    key: str
    name: str
    unit_code: str
    userids: tuple[str, ...]


@dataclass(frozen=True)
class CandidateCount:
    number: int
    label: str
    unit_code: str | None
    count: int


@dataclass(frozen=True)
class VoteResult:
    """A closed vote as the committee reads it: counts per candidate (most first), turnout; never who chose whom."""

    vote_id: int
    group: str
    kind: str
    title: str
    max_choices: int
    eligible: int
    voted: int
    closed_at: datetime
    candidates: list[CandidateCount] = field(default_factory=list)


def vote(*, session: Session, vote_id: int) -> Vote | None:
    return session.get(Vote, vote_id)


def votes(*, session: Session, campaign_id: str, group_id: int | None = None, status: str | None = None) -> list[Vote]:
    query = select(Vote).where(Vote.campaign_id == campaign_id).order_by(Vote.id)
    if group_id is not None:
        query = query.where(Vote.group_id == group_id)
    if status is not None:
        query = query.where(Vote.status == status)
    return list(session.exec(query))


def current(*, session: Session, campaign_id: str, group_id: int, kind: str) -> Vote | None:
    """The group's draft or open vote of this kind, if any."""
    query = select(Vote).where(
        Vote.campaign_id == campaign_id, Vote.group_id == group_id, Vote.kind == kind, Vote.status != "closed"
    )
    return session.exec(query.order_by(Vote.id.desc())).first()


def create(
    *, session: Session, campaign_id: str, group_id: int, kind: str, title: str, max_choices: int, ballot_per: str
) -> Vote:
    row = Vote(
        campaign_id=campaign_id,
        group_id=group_id,
        kind=kind,
        title=title,
        max_choices=max_choices,
        ballot_per=ballot_per,
        status="draft",
    )
    session.add(row)
    session.flush()
    return row


def candidates(*, session: Session, vote_id: int) -> list[VoteCandidate]:
    return list(
        session.exec(select(VoteCandidate).where(VoteCandidate.vote_id == vote_id).order_by(VoteCandidate.number))
    )


def add_candidate(
    *, session: Session, vote_id: int, label: str, unit_code: str | None = None, userid: str | None = None
) -> VoteCandidate:
    last = session.exec(select(func.max(VoteCandidate.number)).where(VoteCandidate.vote_id == vote_id)).one()
    row = VoteCandidate(vote_id=vote_id, number=(last or 0) + 1, label=label, unit_code=unit_code, userid=userid)
    session.add(row)
    session.flush()
    return row


def open_vote(
    *, session: Session, vote: Vote, by: str, now: datetime, closes_at: datetime, chat_id: str | None
) -> None:
    vote.status, vote.opened_by, vote.opened_at, vote.closes_at, vote.chat_id = "open", by, now, closes_at, chat_id
    session.add(vote)
    session.flush()


def eligible_voters(*, session: Session, group_id: int, ballot_per: str) -> list[Voter]:
    """From the roster, never the chat: every clerk of the group's units, or one voter per unit."""
    units = {u.code: u for u in session.exec(select(Unit).where(Unit.group_id == group_id).order_by(Unit.code))}
    clerks = session.exec(
        select(Person)
        .where(Person.role == "clerk", Person.unit_code.in_(list(units)))
        .order_by(Person.unit_code, Person.userid)
    )
    by_unit: dict[str, list[Person]] = {}
    for clerk in clerks:
        by_unit.setdefault(clerk.unit_code, []).append(clerk)
    if ballot_per == "unit":
        return [
            Voter(f"unit:{code}", units[code].name, code, tuple(p.userid for p in people))
            for code, people in by_unit.items()
        ]
    return [Voter(p.userid, p.name, p.unit_code, (p.userid,)) for people in by_unit.values() for p in people]


def voter_key(*, ballot_per: str, userid: str, unit_code: str | None) -> str:
    return f"unit:{unit_code}" if ballot_per == "unit" else userid


def has_ballot(*, session: Session, vote_id: int, voter_hash: str) -> bool:
    return session.get(Ballot, (vote_id, voter_hash)) is not None


def ballot_count(*, session: Session, vote_id: int) -> int:
    return session.exec(select(func.count()).select_from(Ballot).where(Ballot.vote_id == vote_id)).one()


def cast(*, session: Session, vote_id: int, voter_hash: str, sealed: str) -> None:
    """Insert the ballot or replace the voter's previous one: the key (vote, voter hash) keeps one per voter
    even when two clicks race past every other check."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(Ballot).values(vote_id=vote_id, voter_hash=voter_hash, sealed=sealed)
    statement = statement.on_conflict_do_update(index_elements=["vote_id", "voter_hash"], set_={"sealed": sealed})
    session.execute(statement)


def sealed_ballots(*, session: Session, vote_id: int) -> list[Ballot]:
    return list(session.exec(select(Ballot).where(Ballot.vote_id == vote_id)))


def not_voted(*, session: Session, vote: Vote, keyring: Keyring) -> list[Voter]:
    cast_hashes = {b.voter_hash for b in sealed_ballots(session=session, vote_id=vote.id)}
    voters = eligible_voters(session=session, group_id=vote.group_id, ballot_per=vote.ballot_per)
    return [v for v in voters if keyring.voter_hash(vote.id, v.key) not in cast_hashes]


def close(
    *, session: Session, vote_id: int, by: str, now: datetime, counts: dict[int, int], eligible: int, voted: int
) -> bool:
    """Close an open vote and keep its counts; False when it was not open (closed already: nothing changes)."""
    done = session.execute(
        update(Vote)
        .where(Vote.id == vote_id, Vote.status == "open")
        .values(status="closed", closed_by=by, closed_at=now, eligible=eligible, voted=voted)
    )
    if done.rowcount != 1:
        return False
    for candidate in candidates(session=session, vote_id=vote_id):
        candidate.count = counts.get(candidate.number, 0)
        session.add(candidate)
    session.flush()
    return True


def due_to_close(*, session: Session, now: datetime) -> list[int]:
    query = select(Vote.id).where(Vote.status == "open", Vote.closes_at <= now).order_by(Vote.id)
    return list(session.exec(query))


def closed_results(*, session: Session, campaign_id: str) -> list[VoteResult]:
    """Every closed vote of the campaign, by group and kind: counts per candidate, most first, then by number."""
    groups = {g.id: g.name for g in session.exec(select(LiaisonGroup))}
    results = []
    for row in votes(session=session, campaign_id=campaign_id, status="closed"):
        counted = [
            CandidateCount(c.number, c.label, c.unit_code, c.count or 0)
            for c in candidates(session=session, vote_id=row.id)
        ]
        counted.sort(key=lambda c: (-c.count, c.number))
        results.append(
            VoteResult(
                vote_id=row.id,
                group=groups.get(row.group_id, ""),
                kind=row.kind,
                title=row.title,
                max_choices=row.max_choices,
                eligible=row.eligible or 0,
                voted=row.voted or 0,
                closed_at=row.closed_at,
                candidates=counted,
            )
        )
    return results
