import pytest
from sqlalchemy import text

from storage.db import Database, _lock_key


def _free(db: Database, userids: list[str]) -> list[bool]:
    """Whether another connection could take each person's lock now (it lets go at once)."""
    with db.engine.connect() as other:
        sql = text("SELECT pg_try_advisory_xact_lock(:k)")
        free = [other.execute(sql, {"k": _lock_key("person", u)}).scalar() for u in userids]
        other.rollback()
    return free


@pytest.mark.postgres
def test_locked_people_stay_locked_to_others_until_the_transaction_ends(pg_url):
    db = Database(pg_url)
    with db.write() as session:
        db.lock_people(session, ["wangfang", "zhaolei", "wangfang"])
        during_batch = _free(db, ["wangfang", "zhaolei", "lisi"])
    with db.write() as session:
        db.lock_people(session, ["lisi"])
        during_one = _free(db, ["wangfang", "lisi"])
    assert (during_batch, during_one, _free(db, ["wangfang", "zhaolei", "lisi"])) == (
        [False, False, True],
        [True, False],
        [True, True, True],
    )
    db.dispose()


def test_every_turn_holds_its_senders_lock_while_it_runs(pg_services, monkeypatch):
    # alone (dispatch), in a batch on the thread (dispatch_many) and in a batch on the event loop: the lock
    # goes in the turn's first round trip, and another connection cannot take it while the turn is routed
    import asyncio

    from sqlalchemy.util.concurrency import greenlet_spawn

    from handlers import router
    from handlers.base import Inbound

    seen = {}
    monkeypatch.setattr(
        router,
        "_BEFORE",
        [
            *router._BEFORE,
            lambda turn: seen.update({turn.inbound.msg_key: _free(pg_services.db, [turn.inbound.userid, "lisi"])}),
        ],
    )
    dispatcher = pg_services.dispatcher
    dispatcher.dispatch(Inbound("app", "wangfang", "帮助", "alone"))
    dispatcher.dispatch_many([(Inbound("app", u, "帮助", f"thread-{u}"), None) for u in ("wangfang", "zhaolei")])
    work = [(Inbound("app", u, "帮助", f"loop-{u}"), None) for u in ("wangfang", "zhaolei")]
    asyncio.run(greenlet_spawn(dispatcher.dispatch_on_loop, work))
    assert seen == {
        key: [False, True] for key in ("alone", "thread-wangfang", "thread-zhaolei", "loop-wangfang", "loop-zhaolei")
    }
