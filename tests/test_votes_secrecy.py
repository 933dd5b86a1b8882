import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.secret_key import key_file, secret_key
from bot.settings import SettingsError, load_settings
from handlers.base import Inbound
from storage import votes
from storage.models import Ballot
from storage.secrecy import Keyring, SealBroken
from tests.vote_chat import GroupChat


def open_vote(services):
    GroupChat(services, "hulin", chat_id=None).say("发起推荐 先进基层党组织 限选2")
    with services.db.read() as session:
        return votes.votes(session=session, campaign_id="luoyang-2013")[-1].id


def every_text(services) -> str:
    """Everything the database holds, as one text: what someone with a copy of it, but no key, can read."""
    with services.db.engine.connect() as conn:
        tables = [r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))]
        rows = [row for t in tables for row in conn.execute(text(f'SELECT * FROM "{t}"'))]
    return "\n".join(" | ".join(_readable(v) for v in row) for row in rows)


def _readable(value) -> str:
    """JSON columns as a person reads them (json escapes Chinese as \\uXXXX)."""
    if isinstance(value, str) and value[:1] in "[{":
        return json.dumps(json.loads(value), ensure_ascii=False)
    return str(value)


def test_the_database_alone_cannot_tell_who_voted_for_whom(services):
    vote_id = open_vote(services)
    GroupChat(services, "liqiang", chat_id=None).say("投票 4")  # 市档案局机关支部, chosen by nobody else
    GroupChat(services, "zhangmin", chat_id=None).say("投票 1")
    dump = every_text(services)
    assert "liqiang" in dump  # the roster and message keys name people…
    assert "市档案局机关支部" in dump  # …and the candidates are listed,
    for ballot_text in ("投票 4", "已投", "[4]", '"4"'):  # but no stored row carries a choice
        assert ballot_text not in dump
    with services.db.read() as session:
        rows = session.exec(select(Ballot)).all()
    assert {r.voter_hash for r in rows}.isdisjoint({"liqiang", "zhangmin"})
    other = Keyring(b"another key of thirty-two bytes!")
    assert other.voter_hash(vote_id, "liqiang") not in {r.voter_hash for r in rows}
    with pytest.raises(SealBroken):
        other.unseal(rows[0].sealed, f"ballot:{vote_id}:{rows[0].voter_hash}")


def test_with_the_key_the_service_counts_each_sealed_ballot(services):
    vote_id = open_vote(services)
    GroupChat(services, "liqiang", chat_id=None).say("投票 1 4")
    with services.db.read() as session:
        (row,) = session.exec(select(Ballot)).all()
    assert row.voter_hash == services.keyring.voter_hash(vote_id, "liqiang")
    assert services.keyring.unseal(row.sealed, f"ballot:{vote_id}:{row.voter_hash}") == [1, 4]


def test_a_sealed_ballot_moved_to_another_voter_does_not_open(services):
    vote_id = open_vote(services)
    GroupChat(services, "liqiang", chat_id=None).say("投票 1")
    with services.db.read() as session:
        (row,) = session.exec(select(Ballot)).all()
    with pytest.raises(SealBroken):
        services.keyring.unseal(row.sealed, f"ballot:{vote_id}:{services.keyring.voter_hash(vote_id, 'wangfang')}")


def test_a_redelivered_private_ballot_gets_the_same_named_answer_from_a_sealed_record(services):
    open_vote(services)
    inbound = Inbound("sim", "liqiang", "投票 1 3", "same-key")
    first = services.dispatcher.dispatch(inbound)[0].text
    assert services.dispatcher.dispatch(inbound)[0].text == first
    assert "已投「先进基层党组织」：1. 市财政局机关党委" in first and "已投" not in every_text(services)


def test_two_clicks_arriving_together_leave_one_ballot(any_services):
    vote_id = open_vote(any_services)
    start = threading.Barrier(8)

    def click(i: int):
        start.wait()
        chat = GroupChat(any_services, "liqiang", chat_id=None)
        return chat.say(f"投票 {[1, 3, 4][i % 3]}")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(click, range(8)))
    assert all("已投" in a for a in answers), answers
    with any_services.db.read() as session:
        assert votes.ballot_count(session=session, vote_id=vote_id) == 1


def test_the_key_of_vote_and_voter_hash_refuses_a_second_row(any_services):
    vote_id = open_vote(any_services)
    with pytest.raises(IntegrityError), any_services.db.write() as session:
        session.add(Ballot(vote_id=vote_id, voter_hash="h", sealed="a"))
        session.flush()
        session.add(Ballot(vote_id=vote_id, voter_hash="h", sealed="b"))
        session.flush()


def test_casting_twice_through_storage_replaces_the_ballot(any_services):
    vote_id = open_vote(any_services)
    for sealed in ("first", "second"):
        with any_services.db.write() as session:
            votes.cast(session=session, vote_id=vote_id, voter_hash="h", sealed=sealed)
    with any_services.db.read() as session:
        assert [b.sealed for b in votes.sealed_ballots(session=session, vote_id=vote_id)] == ["second"]


def test_without_kaohe_secret_key_a_key_is_generated_once_beside_the_database(tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'k.db'}", _env_file=None)
    first = secret_key(settings)
    assert key_file(settings) == tmp_path / "kaohe-secret.key"
    assert len(first) == 64 and secret_key(settings) == first
    assert (key_file(settings).stat().st_mode & 0o777) == 0o600


def test_kaohe_secret_key_is_used_when_set_and_a_short_one_is_refused(tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'k.db'}", secret_key="x" * 32, _env_file=None)
    assert secret_key(settings) == b"x" * 32 and not key_file(settings).exists()
    with pytest.raises(SettingsError, match="KAOHE_SECRET_KEY: must be at least 32 characters"):
        load_settings(secret_key="short", _env_file=None)


def test_card_json_is_valid_for_candidate_names_with_quotes(services):
    from handlers.vote_cards import card
    from storage.models import Vote, VoteCandidate

    vote = Vote(id=7, campaign_id="c", group_id=1, kind="k", title='A"B', max_choices=1)
    parsed = json.loads(card(vote, "组", [VoteCandidate(vote_id=7, number=1, label='x"y\\z')], "g"))
    assert parsed["checkbox"]["option_list"][0]["text"] == '1. x"y\\z' and parsed["checkbox"]["mode"] == 0
