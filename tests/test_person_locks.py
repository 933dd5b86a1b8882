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
        db.lock_person(session, "lisi")
        during_one = _free(db, ["wangfang", "lisi"])
    assert (during_batch, during_one, _free(db, ["wangfang", "zhaolei", "lisi"])) == (
        [False, False, True],
        [True, False],
        [True, True, True],
    )
    db.dispose()
