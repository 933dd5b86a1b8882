import itertools
import re
import threading
import time
from collections import Counter

import httpx
import pytest
from sqlmodel import func, select

from handlers import tables
from storage import campaigns
from storage.db import Database
from storage.models import ActivityEntry, AuditEntry, DialogState, Outbox, Unit
from tests.bulk_roster import add_roster
from tests.kaohe_process import KaoheServe, demo_env
from tests.wecom_client_side import envelope, open_reply, text_xml

CLERKS = 40
KILL_AFTER_ACKS = 150  # of about 560 answers in all: every clerk is mid-form
_ACK = re.compile(r"已记录：(\S+) (\d+) 次")
_ids = itertools.count(9100000000000000001)


class Clerk:
    """One clerk filling table 1 by callbacks; what the server acknowledged, and what it did not answer."""

    def __init__(self, userid: str, value: int, db: Database):
        self.userid, self.value, self.db = userid, value, db
        self.alive = lambda: True
        self.acked: list[tuple[str, int]] = []
        self.unanswered: tuple[int, str] | None = None
        self.started = self.done = False

    def say(self, client: httpx.Client, text: str, msg_id: int | None = None) -> str:
        msg_id = msg_id or next(_ids)
        params, body = envelope(text_xml(self.userid, text, msg_id))
        try:
            answer = client.post("/wecom/callback", params=params, content=body, timeout=20)
        except httpx.HTTPError:
            self.unanswered = (msg_id, text)  # WeCom would deliver it again: the same MsgId
            raise
        assert answer.status_code == 200, answer.text
        reply = open_reply(answer.text) if answer.text else self._late_reply(msg_id, text)
        self.unanswered = None
        self.started = True
        self.acked += [(name, int(v)) for name, v in _ACK.findall(reply)]
        self.done = self.done or "已问完" in reply
        return reply

    def _late_reply(self, msg_id: int, text: str) -> str:
        """A turn over the 5-second guard is answered empty and its reply goes by message/send (the outbox).
        If the server dies before that reply is committed, the clerk saw no answer: it counts as unanswered."""
        key = f"app:msg:{self.userid}:{msg_id}#late0"
        while True:
            with self.db.read() as session:
                row = session.exec(select(Outbox).where(Outbox.key == key)).first()
            if row is not None:
                return row.content
            if not self.alive():
                self.unanswered = (msg_id, text)
                raise httpx.ReadError("server gone before the late reply")
            time.sleep(0.1)

    def talk(self, base_url: str, acks: Counter) -> None:
        """Until the form is done or the server stops answering; an unanswered message is delivered again."""
        with httpx.Client(base_url=base_url) as client:
            try:
                if self.unanswered:
                    self.say(client, self.unanswered[1], self.unanswered[0])
                elif not self.started:
                    self.say(client, "填报")
                while not self.done:
                    self.say(client, str(self.value))
                    acks[self.userid] += 1
            except httpx.HTTPError:
                return


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, tmp_path):
    # on PostgreSQL the killed process's connections drop with their transactions open: the server rolls
    # them back, as SQLite's WAL does with an unfinished one
    env = demo_env(tmp_path, None if request.param == "sqlite" else request.getfixturevalue("pg_url"))
    db = Database(env["KAOHE_DATABASE_URL"])
    userids = add_roster(db, units=CLERKS, clerks_per_unit=1, prefix="K")
    servers: list[KaoheServe] = []

    def serve() -> KaoheServe:
        servers.append(KaoheServe(tmp_path, env, name=f"serve{len(servers)}", args=("--no-scheduler",)))
        return servers[-1]

    yield db, [Clerk(u, i % 5 + 1, db) for i, u in enumerate(userids)], serve
    for server in servers:
        server.kill() if server.process.poll() is None else None
    db.dispose()


def run_all(clerks, base_url) -> tuple[list[threading.Thread], Counter]:
    acks: Counter = Counter()
    threads = [threading.Thread(target=c.talk, args=(base_url, acks), daemon=True) for c in clerks]
    for t in threads:
        t.start()
    return threads, acks


def test_kill_9_mid_conversation_loses_no_acknowledged_answer_and_each_clerk_resumes_at_its_step(world):
    db, clerks, serve = world
    first = serve()
    for clerk in clerks:
        clerk.alive = lambda: first.process.poll() is None
    threads, acks = run_all(clerks, first.url)
    give_up = time.monotonic() + 120
    while sum(acks.values()) < KILL_AFTER_ACKS and time.monotonic() < give_up:
        time.sleep(0.02)
    first.kill()  # SIGKILL while 40 conversations have requests in flight
    for t in threads:
        t.join(60)
    assert sum(len(c.acked) for c in clerks) >= KILL_AFTER_ACKS and not any(c.done for c in clerks)
    assert sum(c.unanswered is not None for c in clerks) == CLERKS  # each one was cut off mid-conversation
    _every_acknowledged_answer_is_stored(db, clerks)

    second = serve()
    for clerk in clerks:
        clerk.alive = lambda: second.process.poll() is None
    threads, _ = run_all(clerks, second.url)
    for t in threads:
        t.join(120)
    assert all(c.done for c in clerks), [c.userid for c in clerks if not c.done]
    _each_form_went_through_every_question_once(db, clerks)
    _every_acknowledged_answer_is_stored(db, clerks)
    _nothing_half_written(db)
    second.stop()


def _entries(db, userid) -> dict[str, ActivityEntry]:
    with db.read() as session:
        rows = session.exec(select(ActivityEntry).where(ActivityEntry.updated_by == userid)).all()
    return {r.key: r for r in rows}


def _questions(db, userid) -> list:
    with db.read() as session:
        campaign = campaigns.active_campaign(session=session)
        unit = session.get(Unit, userid.upper().removesuffix("C0"))
    return tables.questions(campaign, "activity", unit.org_type)


def _every_acknowledged_answer_is_stored(db, clerks) -> None:
    for clerk in clerks:
        names = {q.name: q.key for q in _questions(db, clerk.userid)}
        stored = _entries(db, clerk.userid)
        for name, value in clerk.acked:
            assert stored[names[name]].count == value, (clerk.userid, name)


def _each_form_went_through_every_question_once(db, clerks) -> None:
    for clerk in clerks:
        assert [name for name, _ in clerk.acked] == [q.name for q in _questions(db, clerk.userid)], clerk.userid


def _nothing_half_written(db) -> None:
    with db.read() as session:
        entries = session.exec(select(ActivityEntry)).all()
        audits = session.exec(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity == "activity")).one()
        open_flows = session.exec(select(DialogState).where(DialogState.flow.is_not(None))).all()
    assert all(e.version == 1 for e in entries)
    assert audits == len(entries)  # each entry with its audit row, written in one transaction
    assert [s.userid for s in open_flows if s.userid.startswith("k")] == []
