"""The forms engine: one runner asks a list of questions (steps as data), with 上一步, 跳过, 帮助 and confirmation."""

from __future__ import annotations

from handlers import sentences, tables
from handlers.base import Turn
from handlers.errors import InputError
from handlers.parsing import parse_answer, parse_sentence
from handlers.words import BACK, HELP, SKIP, YES, normalise_command
from storage import entries, roster
from storage.render import fmt_number

MISSES_BEFORE_HINT = 3
FLOW_OF = {"activity": "activities", "score": "scores"}


def start(turn: Turn, kind: str) -> None:
    """Begin (or pick up) a table: at the first question still empty, or the first when all are filled."""
    qs = tables.questions(turn.campaign, kind, turn.unit.org_type)
    if _locked(turn, tables.lock_and_read(turn, qs)):
        return
    have = tables.current(turn, kind)
    empty = [i for i, q in enumerate(qs) if _value(have.get(q.key)) is None]
    turn.say("form_intro.txt", kind=kind, total=len(qs), empty=len(empty), unit=turn.unit)
    _ask(turn, kind, qs, empty[0] if empty else 0)


def step(turn: Turn, kind: str) -> None:
    """One answer inside the form (the table's questions looked up once, then handed along)."""
    qs = tables.questions(turn.campaign, kind, turn.unit.org_type)
    if _locked(turn, tables.lock_and_read(turn, qs, min(turn.state.data.get("i", 0), len(qs) - 1))):
        return turn.leave()
    data, word = turn.state.data, normalise_command(turn.text)
    pending = data.pop("pending", None)  # a question about one answer holds for the next message only
    if pending and word in YES:
        return _save(turn, kind, qs, pending["value"], pending["note"])
    if word in BACK:
        return _ask(turn, kind, qs, max(0, data["i"] - 1), note="已回到上一项。" if data["i"] else "已经是第一项。")
    if word in SKIP:
        return _advance(turn, kind, qs, "已跳过。")
    if word in HELP:
        turn.say("form_help.txt", kind=kind)
        return _ask(turn, kind, qs, data["i"])
    _answer(turn, kind, qs)


def _answer(turn: Turn, kind: str, qs: tuple[tables.Question, ...]) -> None:
    q = _question(turn, qs)
    try:
        value, note = parse_answer(turn.text, allow_half=q.allow_half)
    except InputError as exc:
        if _names_items(turn):
            return sentences.sentence(turn)  # "党委会6次，政治学习24次" mid-form: read back the whole sentence
        return _miss(turn, qs, exc.reason)
    try:
        tables.check(turn, q, value)
    except InputError as exc:
        return _miss(turn, qs, exc.reason)
    if tables.implausible(turn.campaign, q, value):
        turn.state.data["pending"] = {"value": value, "note": note}
        return turn.say("form_implausible.txt", q=q, value=value)
    _save(turn, kind, qs, value, note)


def _save(turn: Turn, kind: str, qs: tuple[tables.Question, ...], value, note) -> None:
    q, data = _question(turn, qs), turn.state.data
    try:
        entries.set_entry(
            session=turn.session,
            kind=kind,
            campaign_id=turn.campaign.id,
            unit_code=turn.unit.code,
            key=q.key,
            value=value,
            note=note,
            actor=turn.person.userid,
            seen_version=data.get("seen"),
            now=turn.now,
        )
    except entries.StaleEntry as stale:
        data.update(pending={"value": value, "note": note}, seen=stale.current.version)
        turn.say("form_stale.txt", q=q, entry=stale.current, value=value, who=_who(turn, stale.current.updated_by))
        return
    _advance(
        turn,
        kind,
        qs,
        f"已记录：{q.name} {fmt_number(value)} {q.unit_word}" + (f"（备注：{note}）" if note else "") + "。",
    )


def _advance(turn: Turn, kind: str, qs: tuple[tables.Question, ...], note: str) -> None:
    i = turn.state.data["i"] + 1
    if i < len(qs):
        return _ask(turn, kind, qs, i, note=note)
    turn.leave()
    have = tables.current(turn, kind)
    missing = [q for q in qs if _value(have.get(q.key)) is None]
    turn.say("form_done.txt", note=note, kind=kind, missing=missing)


def _ask(turn: Turn, kind: str, qs: tuple[tables.Question, ...], i: int, note: str | None = None) -> None:
    q = qs[i]
    entry = tables.entry(turn, kind, q.key)
    turn.enter(FLOW_OF[kind], i=i, misses=0, seen=entry.version if entry else None)
    turn.say_same(
        "form_question.txt",
        q=q,
        value=_value(entry),
        entry_note=entry.note if entry else None,
        index=i + 1,
        total=len(qs),
        note=note,
    )


def _miss(turn: Turn, qs: tuple[tables.Question, ...], reason: str) -> None:
    data = turn.state.data
    data["misses"] = data.get("misses", 0) + 1
    q = _question(turn, qs)
    entry = tables.entry(turn, q.kind, q.key)
    turn.say("form_retry.txt", reason=reason, q=q, value=_value(entry), hint=data["misses"] >= MISSES_BEFORE_HINT)


def _names_items(turn: Turn) -> bool:
    return bool(parse_sentence(turn.text, sentences.items(turn.campaign)).found)


def _question(turn: Turn, qs: tuple[tables.Question, ...]) -> tables.Question:
    # The campaign file may have changed under a paused form; stay inside the list it now has.
    turn.state.data["i"] = min(turn.state.data.get("i", 0), len(qs) - 1)
    return qs[turn.state.data["i"]]


def _value(entry):
    return None if entry is None else entry.value


def _locked(turn: Turn, reason: str | None) -> bool:
    if reason:
        turn.say("locked.txt", reason=reason)
    return bool(reason)


def _who(turn: Turn, userid: str) -> str:
    person = roster.person(session=turn.session, userid=userid)
    return person.name if person else userid
