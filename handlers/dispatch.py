"""The dispatcher every channel shares: dedupe, person lookup, per-person lock, state, route, outbox, one transaction."""

from __future__ import annotations

import dataclasses
import logging
import re
import threading

from handlers import features, forms, router  # noqa: F401  (features: registers every keyword)
from handlers.base import Inbound, Reply, Turn
from storage import core, dialogs, entries, outbox
from storage.clock import Clock
from storage.db import ON_LOOP, Database, HandOff
from storage.directory import Directory
from storage.render import render
from storage.secrecy import Keyring

log = logging.getLogger(__name__)
MAX_TEXT = 2000  # characters a person may send in one message; WeCom's own cap is 2048 bytes
# NUL cannot be stored in PostgreSQL text, and a lone surrogate cannot be written as UTF-8 at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_FORM_KIND = {flow: kind for kind, flow in forms.FLOW_OF.items()}


@dataclasses.dataclass(slots=True)
class _Ahead:
    """A batch's turn's claim and reads ahead, made with the batch's first statements (_claims_ahead)."""

    now: object  # the instant of the claim, and of everything the turn writes
    claimed: object  # what the claim returned (dialogs.claimed, stamp_of, state_of)
    ahead: list  # the statements read ahead, and what they returned
    read: list
    unit: tuple[str, str] | None  # the (campaign, unit) read ahead
    foreign: int  # core.foreign after the claims: a write not accounted for since means the stamp may have moved


class Dispatcher:
    def __init__(
        self, db: Database, clock: Clock, wakeup: threading.Event | None = None, *, keyring: Keyring | None = None
    ):
        self.db, self.clock, self.keyring = db, clock, keyring
        self.wakeup = wakeup  # set once a turn has committed outbox rows, so the sender looks at once
        self.directory = Directory()  # roster and campaign in memory, checked against their stamp each turn
        # the table each person's last turn here left them in (activity or score), so the next turn can read
        # that table and the unit's submission ahead, with its first statements (PostgreSQL: a round trip
        # less for an answer inside a form); only a guess, never trusted: see _ahead
        self._in_form: dict[str, str] = {}

    def dispatch(self, inbound: Inbound, passive_bytes: int | None = None) -> list[Reply]:
        """Handle one message; returns the reply to the sender. Others' messages go to the outbox in
        the same transaction, and so does what does not fit in `passive_bytes` (a channel's passive
        reply limit). A message key seen before returns the stored answer and does nothing."""
        with self.db.write() as session:
            mine, writes = self._turn(session, inbound, passive_bytes)
            core.run_all(session, writes)
            queued = session.info.get(outbox.ENQUEUED, False)
        if queued and self.wakeup is not None:  # only now: the rows are committed
            self.wakeup.set()
        return mine

    def dispatch_many(self, work: list[tuple[Inbound, int | None]]) -> list[list[Reply] | Exception]:
        """Handle messages waiting together in one transaction, one after another in the order given
        (one commit for all: SQLite's commit and BEGIN IMMEDIATE are most of a short turn's cost).
        Each turn starts as a fresh session would (no objects or per-turn reads left by the one before).
        Nothing is answered before the commit; if anything fails, everything is rolled back and each
        message is handled alone, so one message's failure is only its own (its exception, in its place)."""
        if len(work) == 1:
            return [self._alone(*work[0])]
        try:
            with self.db.write() as session:
                locks = self.db.locking_people(session, [inbound.userid for inbound, _ in work])  # one order everywhere
                answers, queued = self._together(session, work, locks)
        except Exception:
            log.warning("%d messages handled together failed; handling each alone", len(work), exc_info=True)
            return [self._alone(inbound, passive_bytes) for inbound, passive_bytes in work]
        if queued and self.wakeup is not None:
            self.wakeup.set()
        return answers

    def dispatch_on_loop(self, work: list[tuple[Inbound, int | None]]) -> list[list[Reply]]:
        """dispatch_many's one transaction, for the event loop's thread: it never waits and never runs long.
        HandOff (nothing kept) when the write lock is held, a turn says it is heavy, or anything fails:
        the caller then hands the same messages to dispatch_many on a thread, which waits, and handles a
        failure message by message."""
        try:
            if self.db.is_sqlite:
                with self.db.write_nowait() as session:  # the one write lock stands for every person's
                    session.info[ON_LOOP] = True
                    answers, queued = self._together(session, work)
            else:  # PostgreSQL, in a greenlet (bot/lane.py): its waits for the server are the loop's
                with self.db.write_awaiting() as session:
                    session.info[ON_LOOP] = True
                    session.info[core.SPECULATE] = True  # a guess that fails hands the batch off, as below
                    # the people's locks go first in the first turn's round trip, before anything of theirs is read
                    locks = self.db.locking_people(session, [inbound.userid for inbound, _ in work])
                    answers, queued = self._together(session, work, locks)
        except HandOff:
            raise
        except Exception as exc:
            raise HandOff(f"failed on the event loop: {exc!r}") from exc
        if queued and self.wakeup is not None:
            self.wakeup.set()
        return answers

    def _together(
        self, session, work: list[tuple[Inbound, int | None]], first: list[tuple] = ()
    ) -> tuple[list[list[Reply]], bool]:
        """The turns one after another in one transaction, each as if in a fresh session (`first` runs before
        the first turn's first reads, in their round trip); and whether any queued outbox rows (the sender
        is woken after the commit)."""
        answers, writes = [], list(first)
        guessing = session.info.get(core.SPECULATE, False)
        ahead = self._claims_ahead(session, work, writes) if guessing else {}
        if ahead:
            writes = []  # the locks went first in the claims' round trip
        for i, (inbound, passive_bytes) in enumerate(work):  # each turn's closing writes go with what is sent next
            mine, writes = self._turn(session, inbound, passive_bytes, locked=True, before=writes, pre=ahead.get(i))
            answers.append(mine)
            if guessing:  # a flush of the turn's ORM rows (end_turn) goes after its writes, a guess among them
                core.collect_closing(session, writes)
                core.end_turn(session)
                writes = core.closing(session)
            else:
                core.end_turn(session)
        # on the loop on PostgreSQL, the COMMIT goes with the last closing writes (a guess among them that
        # finds nothing fails the transaction first); nothing runs in the transaction after them
        core.run_all(session, writes, commit=guessing)
        return answers, session.info.get(outbox.ENQUEUED, False)

    def _alone(self, inbound: Inbound, passive_bytes: int | None) -> list[Reply] | Exception:
        try:
            return self.dispatch(inbound, passive_bytes)
        except Exception as exc:  # the caller's to raise: a batch hands every message its own outcome
            return exc

    def _claims_ahead(self, session, work: list[tuple[Inbound, int | None]], locks: list[tuple]) -> dict[int, _Ahead]:
        """PostgreSQL on the loop: the batch's claims (each with the stamp and its sender's state) and what
        each reads ahead, all in one round trip after the people's locks, for every turn whose sender no turn
        before it in the batch has: nothing a turn before it writes and accounts for (its own sender's
        state, its own key, its own unit's entries), nor a write to a table no claim reads (audit rows,
        outbox rows), changes what such a claim read. Any other write, or one to the unit read ahead, is
        checked for at the turn (_claimed_ahead).
        By position in the batch."""
        people, plan, statements = set(), [], list(locks)
        for i, (inbound, _) in enumerate(work):
            if inbound.userid in people:  # it must see what her turn before wrote: it claims in its own turn
                continue
            people.add(inbound.userid)
            now = self.clock.now()
            ahead, unit = self._ahead(session, inbound.userid)
            plan.append((i, now, len(statements), ahead, unit))
            statements += [dialogs.claiming(session, inbound.msg_key, inbound.userid, now), *ahead]
        rows = core.run_all(session, statements)  # one pipeline: claims always go on the wire, aheads only so
        foreign = core.foreign(session)
        return {
            i: _Ahead(now, rows[at], ahead, rows[at + 1 : at + 1 + len(ahead)], unit, foreign)
            for i, now, at, ahead, unit in plan
        }

    def _turn(
        self,
        session,
        inbound: Inbound,
        passive_bytes: int | None,
        locked: bool = False,
        before: list = (),
        pre: _Ahead | None = None,
    ) -> tuple[list[Reply], list[tuple]]:
        """The sender's replies, and the turn's closing writes (its state, its stored answer), which the
        caller runs before anything else reads them: at once, or with the next turn's first statements.
        `before`: the previous turns', run first, in the same round trip as this turn's first reads.
        `pre`: its claim and reads ahead, made with the batch's (_claims_ahead)."""
        text = _UNSTORABLE.sub("", inbound.text)
        if text != inbound.text:
            inbound = dataclasses.replace(inbound, text=text)
        if pre is not None:
            claimed, now = self._claimed_ahead(session, inbound, before, pre)
        else:
            now = self.clock.now()  # one instant for everything the turn writes
            if not locked:  # before anything of the person is read: first in the round trip of the first reads
                before = [*self.db.locking_people(session, [inbound.userid]), *before]
            # the key with the roster's stamp and the person's state in one statement (on PostgreSQL in one
            # round trip with what is read ahead); the reads come after the claim (and the writes before them)
            ahead, _unit = self._ahead(session, inbound.userid)
            first = [*before, dialogs.claiming(session, inbound.msg_key, inbound.userid, now), *ahead]
            claimed, *read = core.run_all(session, first)[len(before) :]
            core.read_ahead(session, ahead, read)
            core.collect_closing(session)
        if not dialogs.claimed(claimed):
            answered = dialogs.answered(session=session, key=inbound.msg_key)
            return [Reply.from_dict(r, self.keyring) for r in answered], core.closing(session)
        replies, writes = self._handle(session, inbound, dialogs.stamp_of(claimed), claimed, now)
        mine, overflow = _fit(_merge([r for r in replies if r.to is None and r.chat_id is None]), passive_bytes)
        later = [Reply(text, to=[inbound.userid]) for text in overflow]
        queued = later + [r for r in replies if r.to is not None or r.chat_id is not None]
        self._enqueue(session, inbound, queued, now)  # its ORM statements: what the turn kept goes first
        writes = core.closing(session) + writes  # the audit rows, before the state and the stored answer
        writes.append(dialogs.answering(session, inbound.msg_key, [r.stored(self.keyring) for r in mine]))
        return mine, writes

    def _handle(self, session, inbound: Inbound, stamp, state_rows, now) -> tuple[list[Reply], list[tuple]]:
        """The replies, and the writes of the turn's end still to run (the state's, when it has one)."""
        view = self.directory.view(stamp)
        person = view.person(session, inbound.userid)
        if person is None:
            log.info("message from %r, who is not on the roster", inbound.userid)
            return [Reply(render("not_on_roster.txt"))], []
        if not person.active:
            log.info("message from %r, deactivated by a roster import", inbound.userid)
            return [Reply(render("deactivated.txt", name=person.name))], []
        if len(inbound.text) > MAX_TEXT:
            return [Reply(render("too_long.txt", limit=MAX_TEXT))], []
        turn = Turn(
            session=session,
            inbound=inbound,
            person=person,
            campaign=view.campaign(session),
            unit=view.unit(session, person.unit_code) if person.unit_code else None,
            state=dialogs.state_of(person.userid, state_rows),
            now=now,
            keyring=self.keyring,
            roster=view,
        )
        router.route(turn)
        kind = _FORM_KIND.get(turn.state.flow)
        if kind is None:
            self._in_form.pop(person.userid, None)
        else:
            self._in_form[person.userid] = kind
        return turn.replies, [dialogs.saving_state(session, turn.state, turn.now)]

    def _claimed_ahead(self, session, inbound: Inbound, before: list, pre: _Ahead) -> tuple:
        """A turn's claim made ahead with the batch's, and its reads ahead served if they still hold: the
        writes before it kept first in whatever the turn sends. After a write not accounted for (any of
        the batch's turns may have moved the stamp), the claim's row is read again; what was read ahead
        is dropped then, or when this transaction has written the unit's entries since."""
        core.collect_closing(session, before)
        claimed = pre.claimed
        if core.foreign(session) != pre.foreign:
            if dialogs.claimed(claimed):
                claimed = core.run(session, *dialogs.reading_claimed(session, inbound.msg_key, inbound.userid))
        elif pre.ahead and pre.unit not in entries.written(session):
            core.read_ahead(session, pre.ahead, pre.read)
        return claimed, pre.now

    def _ahead(self, session, userid: str) -> tuple[list[tuple], tuple[str, str] | None]:
        """What an answer inside the form the person was last left in reads first (the unit's table and its
        submission), to run with the turn's first statements: PostgreSQL only, where a statement more in a
        round trip costs less than a round trip. The unit and campaign are the in-memory view's, unchecked:
        if the guess is wrong (another worker moved them on, the stamp moved), the turn's own reads ask
        for other statements or parameters, find nothing read ahead for them and send them as usual."""
        kind = self._in_form.get(userid)
        if kind is None or self.db.is_sqlite:
            return [], None
        found = self.directory.unit_of(userid)
        if found is None:
            return [], None
        campaign_id, unit_code = found
        ahead = [entries.reading_unit_with_submission(session, kind, campaign_id, unit_code)]  # as a step reads it
        # a statement SQLAlchemy must run itself (table 2's float points) would take the pipeline apart
        return (ahead, found) if core.pipelines(session, ahead) else ([], None)

    def _enqueue(self, session, inbound: Inbound, replies: list[Reply], now) -> None:
        for i, reply in enumerate(replies):
            outbox.enqueue(
                session=session,
                key=f"{inbound.msg_key}#{i}",
                content=reply.text,
                recipients=reply.to,
                chat_id=reply.chat_id,
                msgtype=reply.msgtype,
                source="reply",
                now=now,
            )


def _fit(replies: list[Reply], limit: int | None) -> tuple[list[Reply], list[str]]:
    """Split the sender's reply at line breaks into pieces of at most `limit` UTF-8 bytes: the first is
    the passive answer, the rest go through the outbox in order."""
    if not replies or limit is None or replies[0].msgtype != "text" or len(replies[0].text.encode()) <= limit:
        return replies, []
    pieces, current = [], ""
    for line in replies[0].text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) > limit and current:
            pieces.append(current)
            candidate = line
        while len(candidate.encode()) > limit:  # one line longer than the limit: cut it on a character
            cut = candidate.encode()[:limit].decode("utf-8", "ignore")
            pieces.append(cut)
            candidate = candidate[len(cut) :]
        current = candidate
    pieces.append(current)
    return [Reply(pieces[0]), *replies[1:]], pieces[1:]


def _merge(replies: list[Reply]) -> list[Reply]:
    """The sender gets one text message (WeCom's passive reply carries one, a phone shows one bubble);
    a card goes after it as it is."""
    texts = [r for r in replies if r.msgtype == "text"]
    merged = [Reply("\n\n".join(r.text for r in texts), private=any(r.private for r in texts))] if texts else []
    return merged + [r for r in replies if r.msgtype != "text"]
