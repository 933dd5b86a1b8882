"""A free sentence naming several items (`党委会6次，政治学习二十四次`): read back, saved only on confirmation."""

from __future__ import annotations

from handlers import tables
from handlers.base import Turn
from handlers.errors import InputError
from handlers.guards import clerk_ready
from handlers.parsing import Item, parse_sentence
from handlers.router import answer_or_help, flow, free_text
from handlers.words import CONFIRM_TTL, NO, YES, normalise_command
from storage import entries, roster
from storage.campaign import Campaign


def items(campaign: Campaign) -> list[Item]:
    return [Item(a.key, a.name, "activity", tuple(a.aliases)) for a in campaign.activities] + [
        Item(c.key, c.name, "category", tuple(c.aliases)) for c in campaign.categories
    ]


@free_text("clerk")
@clerk_ready
def sentence(turn: Turn) -> None:
    result = parse_sentence(turn.text, items(turn.campaign))
    if not (result.found or result.ambiguous or result.errors):
        return answer_or_help(turn)
    reason = tables.lock_reason(turn)
    if reason:
        return turn.say("locked.txt", reason=reason)
    changes, problems = _checked(turn, result)
    problems += [f"「{frag}」：{why}" for frag, why in result.errors]
    ambiguous = [(frag, [_name(turn.campaign, k) for k in keys]) for frag, keys in result.ambiguous]
    same = [c for c in changes if _unchanged(c)]
    changes = [c for c in changes if not _unchanged(c)]
    if changes:
        turn.enter("confirm", changes=changes)
    else:
        turn.leave()
    turn.say(
        "readback.txt",
        changes=changes,
        same=same,
        problems=problems,
        ambiguous=ambiguous,
        unrecognised=result.unrecognised,
    )


def _unchanged(change: dict) -> bool:
    """The same value as saved, and no new note: nothing to save, and said so."""
    return change["old"] == change["value"] and change["note"] in (None, change["old_note"])


def _checked(turn: Turn, result) -> tuple[list[dict], list[str]]:
    """Each found item checked by the same rules as the forms; the good ones become pending changes."""
    changes, problems = [], []
    pending = {f.key: f.value for f in result.found if f.key in {a.key for a in turn.campaign.activities}}
    if pending:
        tables.current(turn, "activity")  # one read of the table serves every item's check and read-back
    for found in result.found:
        kind = "score" if found.key in {c.key for c in turn.campaign.categories} else "activity"
        why = tables.not_applicable(turn, found.key) if kind == "activity" else None
        q = tables.question(turn.campaign, kind, found.key, turn.unit.org_type)
        try:
            if why:
                raise InputError(why)
            tables.check(turn, q, found.value, pending)
        except InputError as exc:
            problems.append(f"「{found.fragment}」：{exc.reason}")
            continue
        entry = tables.current(turn, kind).get(found.key)
        changes.append(
            {
                "kind": kind,
                "key": found.key,
                "name": q.name,
                "value": found.value,
                "note": found.note,
                "unit_word": q.unit_word,
                "target": q.target,
                "old": None if entry is None else (entry.count if kind == "activity" else entry.points),
                "old_note": entry.note if entry else None,
                "implausible": tables.implausible(turn.campaign, q, found.value),
                "seen": entry.version if entry else None,
            }
        )
    return changes, problems


@flow("confirm", expires=CONFIRM_TTL)
@clerk_ready
def confirm(turn: Turn) -> None:
    word = normalise_command(turn.text)
    if word in NO:
        turn.leave()
        return turn.say("readback_dropped.txt")
    if word not in YES:
        if parse_sentence(turn.text, items(turn.campaign)).found:
            return sentence(turn)  # a corrected sentence replaces the read-back
        return turn.say("confirm_again.txt", what="保存")
    reason = tables.lock_reason(turn)
    if reason:
        turn.leave()
        return turn.say("locked.txt", reason=reason)
    _save_all(turn, turn.state.data["changes"])


def _save_all(turn: Turn, changes: list[dict]) -> None:
    saved, stale = [], []
    for c in changes:
        try:
            entries.set_entry(
                session=turn.session,
                kind=c["kind"],
                campaign_id=turn.campaign.id,
                unit_code=turn.unit.code,
                key=c["key"],
                value=c["value"],
                note=c["note"],
                actor=turn.person.userid,
                seen_version=c["seen"],
                now=turn.now,
            )
            saved.append(c)
        except entries.StaleEntry as exc:
            who = roster.person(session=turn.session, userid=exc.current.updated_by)
            stale.append(
                {
                    **c,
                    "current": exc.current.count if c["kind"] == "activity" else exc.current.points,
                    "who": who.name if who else exc.current.updated_by,
                    "seen": exc.current.version,
                }
            )
    if stale:
        turn.enter("confirm", changes=stale)
    else:
        turn.leave()
    turn.say("readback_saved.txt", saved=saved, stale=stale)


def _name(campaign: Campaign, key: str) -> str:
    found = [a.name for a in campaign.activities if a.key == key] + [
        c.name for c in campaign.categories if c.key == key
    ]
    return found[0] if found else key
