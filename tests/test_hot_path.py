import os
import threading
import time

import pytest
from sqlalchemy import event, text
from sqlmodel import select

from bot.services import build_services
from handlers.base import Inbound
from storage import core, dialogs, entries
from storage.db import Database
from storage.models import ActivityEntry, AuditEntry
from tests.conftest import IN_SELF_CHECK as AT
from tests.conftest import _services
from tests.transcript import Chat

CAMPAIGN = "luoyang-2013"


class Statements:
    def __init__(self, engine):
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, _conn, _cursor, statement, *_args):
        self.seen.append(statement)

    def reading(self, table: str) -> list[str]:
        return [s for s in self.seen if s.lstrip().upper().startswith("SELECT") and f"FROM {table}" in s]


def test_an_answer_in_a_form_reads_the_units_entries_once(services):
    clerk = Chat(services, "wangfang")
    clerk.script("填报", "6")
    statements = Statements(services.db.engine)
    answer = clerk.say("12")
    assert "已记录：党小组会 12 次" in answer
    assert len(statements.reading("activity_entry")) == 1


def test_on_sqlite_an_answer_in_a_form_reads_its_entries_and_the_units_submission_in_one_statement(services):
    clerk = Chat(services, "wangfang")
    clerk.script("填报", "6")
    statements = Statements(services.db.engine)
    assert "已记录：党小组会 12 次" in clerk.say("12")
    selects = [s for s in statements.seen if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, selects
    assert "FROM activity_entry" in selects[0] and "FROM submission" in selects[0]


def test_the_units_submission_read_with_its_entries_is_the_lock_check_s_row(any_services):
    """read_with_submission's state, fused with the entries or not: converted as submission_state's, also when every
    entry asked for is known already (the state alone), and None for a unit never submitted."""
    read = dict(kind="activity", campaign_id=CAMPAIGN, keys=["dangweihui", "dangke"])
    with any_services.db.write() as session:
        assert entries.read_with_submission(session=session, unit_code="U01", **read) is None
        entries.set_submitted(
            session=session, campaign_id=CAMPAIGN, unit_code="U01", actor="wangfang", submitted=True, now=AT
        )
    with any_services.db.write() as session:
        fused = entries.read_with_submission(session=session, unit_code="U01", **read)
        alone = entries.read_with_submission(session=session, unit_code="U01", **read)  # the keys are known now
        apart = entries.submission_state(session=session, campaign_id=CAMPAIGN, unit_code="U01")
    assert tuple(fused) == tuple(alone) == tuple(apart) == (True, AT, None)


def _save(db: Database, value: int, seen: int | None, **kw):
    with db.write() as session:
        return entries.set_entry(
            session=session,
            kind="activity",
            campaign_id=CAMPAIGN,
            unit_code="U01",
            key="dangweihui",
            value=value,
            note=None,
            actor="wangfang",
            seen_version=seen,
            **kw,
        )


@pytest.mark.postgres
def test_a_write_against_a_version_read_before_another_writer_moved_it_is_refused(pg_services):
    db = pg_services.db
    _save(db, 6, None)
    with db.write() as session:
        read = entries.unit_entries(session=session, kind="activity", campaign_id=CAMPAIGN, unit_code="U01")
        assert read["dangweihui"].version == 1
        with db.engine.connect() as other:  # another writer commits version 2 after this transaction read 1
            other.execute(text("UPDATE activity_entry SET count = 7, version = 2 WHERE key = 'dangweihui'"))
            other.commit()
        with pytest.raises(entries.StaleEntry) as stale:
            entries.set_entry(
                session=session,
                kind="activity",
                campaign_id=CAMPAIGN,
                unit_code="U01",
                key="dangweihui",
                value=9,
                note=None,
                actor="zhangwei",
                seen_version=1,
            )
        assert stale.value.current.version == 2 and stale.value.current.count == 7


@pytest.mark.postgres
def test_two_clerks_saving_the_same_version_at_once_one_wins_and_one_is_told(pg_services):
    db = pg_services.db
    _save(db, 6, None)
    outcome = {}
    holder = Database(str(db.url.render_as_string(hide_password=False)))
    with holder.write() as session:
        entries.set_entry(
            session=session,
            kind="activity",
            campaign_id=CAMPAIGN,
            unit_code="U01",
            key="dangweihui",
            value=7,
            note=None,
            actor="zhangwei",
            seen_version=1,
        )

        def second() -> None:
            try:
                _save(db, 8, 1)
                outcome["second"] = "saved"
            except entries.StaleEntry as exc:
                outcome["second"] = f"stale at {exc.current.version}"

        thread = threading.Thread(target=second)
        thread.start()
        _wait_for_a_lock_wait(session)
        # the first transaction commits on leaving the block, releasing the row
    thread.join(30)
    holder.dispose()
    assert outcome["second"] == "stale at 2"
    with db.read() as session:
        audit = session.exec(select(AuditEntry).where(AuditEntry.key == "dangweihui").order_by(AuditEntry.id)).all()
    assert [a.new for a in audit] == ["6", "7"]


def _wait_for_a_lock_wait(session, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
    while time.monotonic() < deadline:
        with session.get_bind().connect() as probe:
            if probe.execute(query).scalar():
                return
        time.sleep(0.02)
    raise AssertionError("the second writer never waited for the first one's row")


def test_a_claimed_message_key_cannot_be_claimed_again_and_a_rollback_frees_it(any_services):
    db = any_services.db
    with pytest.raises(RuntimeError), db.write() as session:
        assert dialogs.claim(session=session, key="k", userid="wangfang")
        raise RuntimeError("the turn failed: its claim goes with it")
    with db.write() as session:
        assert dialogs.claim(session=session, key="k", userid="wangfang")
        dialogs.answer(session=session, key="k", replies=[{"text": "好"}])
    with db.write() as session:
        assert not dialogs.claim(session=session, key="k", userid="wangfang")
        assert dialogs.answered(session=session, key="k") == [{"text": "好"}]


def test_the_claim_reads_the_senders_own_state_or_a_fresh_one_and_nothing_when_the_key_was_taken(any_services):
    db = any_services.db
    with db.write() as session:
        dialogs.save_state(session=session, state=dialogs.State("liqiang", "activities", {"i": 3}))
        dialogs.save_state(session=session, state=dialogs.State("zhaomin", "selfscore", {"i": 1}))
    with db.write() as session:
        rows = core.run_all(session, [dialogs.claiming(session, f"k-{u}", u) for u in ("liqiang", "wangfang")])
        mine, fresh = (dialogs.state_of(u, r) for u, r in zip(("liqiang", "wangfang"), rows, strict=True))
        again = core.run(session, *dialogs.claiming(session, "k-liqiang", "liqiang"))
    assert (mine.flow, mine.data) == ("activities", {"i": 3}) and mine.updated_at is not None
    assert fresh == dialogs.State("wangfang") and fresh.data == {}  # no row of hers: a state of her own to fill
    assert all(dialogs.claimed(r) for r in rows) and not dialogs.claimed(again) and again.first() is None


@pytest.mark.postgres
def test_one_message_delivered_to_two_processes_at_once_is_handled_once(pg_url, clock, transport):
    first = _services(pg_url, clock, transport)
    second = build_services(first.settings, clock=clock, transport=transport)
    Chat(first, "wangfang").say("填报")
    start, answers = threading.Barrier(2), []

    def deliver(services) -> None:
        start.wait()
        answers.append(services.dispatcher.dispatch(Inbound("app", "wangfang", "6", "app:msg:42"))[0].text)

    threads = [threading.Thread(target=deliver, args=(s,)) for s in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with first.db.read() as session:
        versions = [e.version for e in session.exec(select(ActivityEntry))]
        audit = list(session.exec(select(AuditEntry)))
    second.close()
    first.close()
    assert len(answers) == 2 and answers[0] == answers[1] and "已记录" in answers[0]
    assert versions == [1] and len(audit) == 1


def test_the_sender_is_woken_by_a_turn_that_queued_messages_and_only_then(services):
    wakeup = services.sender.wakeup
    clerk = Chat(services, "wangfang")
    wakeup.clear()
    clerk.say("填报")
    assert not wakeup.is_set()
    services.dispatcher.dispatch(Inbound("sim", "wangfang", "进度", "long"), passive_bytes=40)
    assert wakeup.is_set()


def test_the_wecom_client_reads_the_proxy_environment_once_when_made(monkeypatch):
    from bot.channels.wecom_api import WeComClient

    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    client = WeComClient("https://qyapi.weixin.qq.com/cgi-bin/", "wwcorp", "secret", 1000002)
    http = client._wx._http
    assert http.proxies.get("https") == "http://proxy.example:3128" and http.trust_env is False


def test_a_reloaded_campaign_gets_its_own_questions_not_the_cached_ones_of_the_old(services):
    from handlers import tables
    from storage.campaign import DEFAULT_CAMPAIGN, load_campaign

    old = load_campaign(DEFAULT_CAMPAIGN)
    first = old.activities[0]
    org = next(iter(first.targets))
    assert tables.questions(old, "activity", org)[0].key == first.key
    renamed = old.model_copy(
        update={"activities": [first.model_copy(update={"name": "改过的名字"}), *old.activities[1:]]}
    )
    assert tables.questions(renamed, "activity", org)[0].name == "改过的名字"
    assert tables.questions(old, "activity", org)[0].name == first.name


def test_the_callbacks_are_the_apps_own_first_routes_as_the_floors_is(services):
    from fastapi.routing import APIRoute

    from bot.app import create_app

    first = create_app(services.settings, services=services, sender=False).router.routes[:4]
    assert all(isinstance(route, APIRoute) for route in first)  # not a router matching each request again
    assert [(r.path, sorted(r.methods)) for r in first] == [
        ("/wecom/callback", ["POST"]),
        ("/wecom/callback", ["GET"]),
        ("/wecom/bot/callback", ["POST"]),
        ("/wecom/bot/callback", ["GET"]),
    ]


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"FASTAPI_OTEL_AUTO_CONFIGURE": "true"}, True),
        ({"OTEL_SERVICE_NAME": "kaohe"}, True),
    ],
)
def test_fastapis_telemetry_is_on_only_when_the_environment_asks_for_opentelemetry(services, monkeypatch, environ, on):
    from bot.app import create_app

    for name in [n for n in os.environ if n.startswith(("OTEL_", "FASTAPI_OTEL"))]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    app = create_app(services.settings, services=services, sender=False)
    assert app._telemetry["tracing"] is on and app._telemetry["metrics"] is on and app._telemetry["logs"] is on
