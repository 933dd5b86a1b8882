"""The roster and the active campaign held in memory per process, checked against a version stamp each turn."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlmodel import Session

from storage import campaigns
from storage.campaign import Campaign
from storage.core import prepared, run
from storage.models import DataStamp, Person, Unit

_MISSING = object()
_PEOPLE, _UNITS = Person.__table__, Unit.__table__


class RosterView:
    """What one stamp of the roster and campaign says, filled lazily: people and units on first use.

    Objects handed out are detached copies built from plain rows, never instances of a session, so a
    handler that changes one cannot change another thread's view; a change written to the tables
    moves the stamp, and the next turn gets a fresh view."""

    def __init__(self, stamp: int):
        self.stamp = stamp
        self._people: dict[str, Person | None] = {}
        self._units: dict[str, Unit | None] = {}
        self._admins: list[Person] | None = None
        self._campaign = _MISSING

    def person(self, session: Session, userid: str) -> Person | None:
        if userid not in self._people:
            stmt = prepared(
                session, "person.one", lambda _: select(*_PEOPLE.c).where(_PEOPLE.c.userid == bindparam("u"))
            )
            row = run(session, stmt, {"u": userid}).first()
            self._people[userid] = Person(**row._asdict()) if row else None
        return self._people[userid]

    def unit(self, session: Session, code: str) -> Unit | None:
        if code not in self._units:
            stmt = prepared(session, "unit.one", lambda _: select(*_UNITS.c).where(_UNITS.c.code == bindparam("c")))
            row = run(session, stmt, {"c": code}).first()
            self._units[code] = Unit(**row._asdict()) if row else None
        return self._units[code]

    def admins(self, session: Session) -> list[Person]:
        if self._admins is None:
            query = select(*Person.__table__.c).where(Person.role == "admin", Person.active == True)  # noqa: E712
            query = query.order_by(Person.unit_code, Person.userid)
            self._admins = [Person(**row._mapping) for row in session.execute(query)]
        return list(self._admins)

    def campaign(self, session: Session) -> Campaign | None:
        if self._campaign is _MISSING:
            self._campaign = campaigns.active_campaign(session=session)
        return self._campaign


class Directory:
    """One per process (the dispatcher's): the current RosterView, replaced when the stamp has moved.

    The stamp is read inside the turn's transaction before anything it covers, so a view is never older
    than the stamp it was filled under; an import or campaign load in any process shows at the next turn."""

    def __init__(self):
        self._view: RosterView | None = None
        self.generation = 0  # how many views this has made: a new one means a roster or campaign reloaded

    def view(self, stamp: int) -> RosterView:
        """The view of `stamp` (the_stamp's value, read in this turn with its claim)."""
        view = self._view
        if view is None or view.stamp != stamp:
            view = self._view = RosterView(stamp)
            self.generation += 1
        return view

    def unit_of(self, userid: str) -> tuple[str, str] | None:
        """The active campaign's id and the person's unit code as the current view has them, if it has both:
        without a statement and without the stamp checked (a guess, for reading ahead)."""
        view = self._view
        if view is None:
            return None
        person, campaign = view._people.get(userid), view._campaign
        if person is None or not person.unit_code or campaign is _MISSING or campaign is None:
            return None
        return campaign.id, person.unit_code


def the_stamp():
    """The stamp as one number, a scalar subquery for any statement to return (the turn's claim does): the
    sum of data_stamp's versions. The triggers only ever add a row at 1 or raise a version by 1, so any write
    to the tables they watch makes it larger, and it never comes back to a value it had."""
    return select(func.coalesce(func.sum(DataStamp.version), 0)).scalar_subquery().label("stamp")
