"""Repository for the roster: liaison groups, units and people with their roles."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.models import LiaisonGroup, Person, Unit

ROLES = {"clerk", "liaison", "admin"}


def person(*, session: Session, userid: str) -> Person | None:
    return session.get(Person, userid)


def unit(*, session: Session, code: str) -> Unit | None:
    return session.get(Unit, code)


def group(*, session: Session, group_id: int) -> LiaisonGroup | None:
    return session.get(LiaisonGroup, group_id)


def group_by_name(*, session: Session, name: str) -> LiaisonGroup | None:
    return session.exec(select(LiaisonGroup).where(LiaisonGroup.name == name)).first()


def ensure_group(*, session: Session, name: str) -> tuple[LiaisonGroup, bool]:
    found = group_by_name(session=session, name=name)
    if found:
        return found, False
    created = LiaisonGroup(name=name)
    session.add(created)
    session.flush()
    return created, True


def groups(*, session: Session) -> list[LiaisonGroup]:
    return list(session.exec(select(LiaisonGroup).order_by(LiaisonGroup.id)))


def units(*, session: Session, group_id: int | None = None) -> list[Unit]:
    query = select(Unit).order_by(Unit.code)
    if group_id is not None:
        query = query.where(Unit.group_id == group_id)
    return list(session.exec(query))


# Every list of people is of the active ones: a person deactivated by a roster import gets no messages,
# no reminders and no copies; `person()` still finds them, so they are told why and their history stays.
_ACTIVE = Person.active == True  # noqa: E712


def people(*, session: Session, role: str | None = None, inactive: bool = False) -> list[Person]:
    query = select(Person).order_by(Person.role, Person.unit_code, Person.userid)
    if not inactive:
        query = query.where(_ACTIVE)
    if role:
        query = query.where(Person.role == role)
    return list(session.exec(query))


def clerks(*, session: Session, unit_code: str | None = None) -> list[Person]:
    query = select(Person).where(Person.role == "clerk", _ACTIVE).order_by(Person.unit_code, Person.userid)
    if unit_code:
        query = query.where(Person.unit_code == unit_code)
    return list(session.exec(query))


def liaison_officers(*, session: Session, group_id: int | None = None) -> list[Person]:
    query = select(Person).where(Person.role == "liaison", _ACTIVE).order_by(Person.userid)
    if group_id is not None:
        query = query.where(Person.group_id == group_id)
    return list(session.exec(query))


def admins(*, session: Session) -> list[Person]:
    return people(session=session, role="admin")


def deactivate_missing(*, session: Session, keep: set[str], now) -> list[Person]:
    """Deactivate every active person whose userid is not in `keep` (never delete: history stays); returns them."""
    gone = list(session.exec(select(Person).where(_ACTIVE, Person.userid.not_in(keep)).order_by(Person.userid)))
    for person in gone:
        person.active, person.deactivated_at = False, now
        session.add(person)
    return gone


def names(*, session: Session, userids) -> dict[str, str]:
    """userid -> name for just these people (a city has 20,000: read only those a page names)."""
    ids = set(userids)
    if not ids:
        return {}
    return dict(session.exec(select(Person.userid, Person.name).where(Person.userid.in_(ids))).all())


def unit_names(*, session: Session, codes) -> dict[str, str]:
    """unit code -> name for just these units."""
    wanted = set(codes)
    if not wanted:
        return {}
    return dict(session.exec(select(Unit.code, Unit.name).where(Unit.code.in_(wanted))).all())


def active_people(*, session: Session, role: str) -> list[tuple[str, str | None, int | None]]:
    """(userid, unit code, group id) of the active people of a role, as plain columns, by userid.
    A person deactivated by a roster import is left out (no reminders)."""
    query = select(Person.userid, Person.unit_code, Person.group_id).where(
        Person.role == role,
        Person.active == True,  # noqa: E712
    )
    return list(session.exec(query.order_by(Person.userid)))
