"""WeComClient against the loopback FakeWeCom: token caching, bounded retries, timeouts, request shapes."""

from __future__ import annotations

import socket
import threading
import time
import traceback

import pytest

from bot.channels.wecom_api import WeComClient, WeComError, forget_tokens
from tests.fakes.wecom_server import FakeWeCom

TEXT = {"msgtype": "text", "text": {"content": "明天交表"}}
SECRET = "s3cret-value-do-not-leak"


@pytest.fixture(autouse=True)
def fresh_tokens():
    forget_tokens()
    yield
    forget_tokens()


@pytest.fixture
def fake():
    with FakeWeCom() as server:
        yield server


@pytest.fixture
def client(fake):
    return WeComClient(fake.base_url, "corp", SECRET, 1000002, timeout=2.0)


def failure(call, *args, **kwargs) -> WeComError:
    with pytest.raises(WeComError) as caught:
        call(*args, **kwargs)
    return caught.value


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- tokens -------------------------------------------------------------------------------------


def test_gettoken_and_send_resolve_only_loopback(fake, client, monkeypatch):
    hosts, real = [], socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: hosts.append(host) or real(host, *a, **k))
    client.send_message(["u1"], TEXT)
    assert set(hosts) == {"127.0.0.1"}


def test_gettoken_goes_to_api_base_with_corp_credentials(fake, client):
    client.send_message(["u1"], TEXT)
    assert [call.params for call in fake.calls_to("gettoken")] == [{"corpid": "corp", "corpsecret": SECRET}]


def test_token_is_cached_across_sends(fake, client):
    client.send_message(["u1"], TEXT)
    client.send_message(["u2"], TEXT)
    assert (len(fake.calls_to("gettoken")), [c.params["access_token"] for c in fake.calls_to("message/send")]) == (
        1,
        ["tok-1", "tok-1"],
    )


def test_clients_of_the_same_app_share_one_token(fake):
    for _ in range(3):
        WeComClient(fake.base_url, "corp", SECRET, 1000002).send_message(["u1"], TEXT)
    assert len(fake.calls_to("gettoken")) == 1


def test_different_apps_fetch_their_own_tokens(fake):
    WeComClient(fake.base_url, "corp", "secret-a", 1).send_message(["u1"], TEXT)
    WeComClient(fake.base_url, "corp", "secret-b", 2).send_message(["u1"], TEXT)
    assert len(fake.calls_to("gettoken")) == 2


def test_token_with_under_60_s_left_is_refetched():
    with FakeWeCom(token_ttl=30) as fake:
        client = WeComClient(fake.base_url, "corp", SECRET, 1)
        client.send_message(["u1"], TEXT)
        client.send_message(["u1"], TEXT)
        assert len(fake.calls_to("gettoken")) == 2


def test_concurrent_first_calls_fetch_one_token(fake, client):
    threads = [threading.Thread(target=client.send_message, args=([f"u{i}"], TEXT)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(fake.calls_to("gettoken")), len(fake.calls_to("message/send"))) == (1, 8)


def test_expired_token_is_refetched_once_and_the_call_retried(fake, client):
    client.send_message(["u1"], TEXT)
    fake.expire_tokens()
    result = client.send_message(["u1"], TEXT)
    assert (result["errcode"], len(fake.calls_to("gettoken")), len(fake.calls_to("message/send"))) == (0, 2, 3)


@pytest.mark.parametrize("errcode", [40014, 41001, 42001])
def test_token_error_causes_exactly_one_refetch_and_one_retry(fake, client, errcode):
    fake.fail_next("message/send", errcode)
    client.send_message(["u1"], TEXT)
    assert [c.params["access_token"] for c in fake.calls_to("message/send")] == ["tok-1", "tok-2"]


def test_persistent_42001_gives_up_after_one_retry(fake, client):
    fake.fail_next("message/send", 42001, times=100)
    error = failure(client.send_message, ["u1"], TEXT)
    assert (error.errcode, error.retryable, len(fake.calls_to("gettoken")), len(fake.calls_to("message/send"))) == (
        42001,
        True,
        2,
        2,
    )


def test_gettoken_rejecting_the_secret_is_not_retryable_and_sends_nothing():
    with FakeWeCom(secret="the-real-secret") as fake:
        error = failure(WeComClient(fake.base_url, "corp", "wrong", 1).send_message, ["u1"], TEXT)
        assert (error.errcode, error.retryable, fake.calls_to("message/send")) == (40001, False, [])


# --- errors -------------------------------------------------------------------------------------


def test_rate_limit_45009_is_retryable_and_not_retried_here(fake, client):
    fake.fail_next("message/send", 45009)
    error = failure(client.send_message, ["u1"], TEXT)
    assert (error.errcode, error.retryable, len(fake.calls_to("message/send"))) == (45009, True, 1)


@pytest.mark.parametrize("errcode", [-1, 45033])
def test_busy_and_concurrency_errors_are_retryable(fake, client, errcode):
    fake.fail_next("message/send", errcode)
    assert failure(client.send_message, ["u1"], TEXT).retryable


@pytest.mark.parametrize("errcode", [81013, 60011, 60020, 48002, 40001, 40013, 86001])
def test_permanent_errors_are_not_retryable(fake, client, errcode):
    fake.fail_next("message/send", errcode)
    error = failure(client.send_message, ["u1"], TEXT)
    assert (error.errcode, error.retryable) == (errcode, False)


def test_all_recipients_unknown_is_81013():
    with FakeWeCom(known_users=["u1"]) as fake:
        error = failure(WeComClient(fake.base_url, "corp", SECRET, 1).send_message, ["ghost"], TEXT)
        assert (error.errcode, error.retryable) == (81013, False)


def test_slow_answer_becomes_retryable_error_near_the_timeout(fake):
    client = WeComClient(fake.base_url, "corp", SECRET, 1, timeout=0.5)
    fake.delay_next("message/send", 2.0)
    started = time.monotonic()
    error = failure(client.send_message, ["u1"], TEXT)
    assert (error.retryable, time.monotonic() - started < 1.9) == (True, True)


def test_slow_gettoken_is_bounded_by_the_timeout(fake):
    client = WeComClient(fake.base_url, "corp", SECRET, 1, timeout=0.5)
    fake.delay_next("gettoken", 2.0)
    started = time.monotonic()
    error = failure(client.send_message, ["u1"], TEXT)
    assert (error.retryable, time.monotonic() - started < 1.9) == (True, True)


def test_unreachable_api_is_retryable():
    client = WeComClient(f"http://127.0.0.1:{closed_port()}/cgi-bin/", "corp", SECRET, 1, timeout=0.5)
    assert failure(client.send_message, ["u1"], TEXT).retryable


def test_transport_error_never_reveals_the_secret():
    client = WeComClient(f"http://127.0.0.1:{closed_port()}/cgi-bin/", "corp", SECRET, 1, timeout=0.5)
    error = failure(client.send_message, ["u1"], TEXT)
    assert SECRET not in "".join(traceback.format_exception(error))


def test_wrong_api_path_is_a_non_retryable_http_error(fake):
    error = failure(WeComClient(fake.base_url + "nowhere/", "corp", SECRET, 1).send_message, ["u1"], TEXT)
    assert (error.errmsg, error.retryable) == ("HTTP 404", False)


# --- request shapes -----------------------------------------------------------------------------


def test_more_than_1000_recipients_is_refused_before_any_call(fake, client):
    with pytest.raises(ValueError):
        client.send_message([f"u{i}" for i in range(1001)], TEXT)
    assert fake.calls == []


def test_exactly_1000_recipients_are_sent(fake, client):
    client.send_message([f"u{i}" for i in range(1000)], TEXT)
    assert fake.delivered_to("u999") == 1


@pytest.mark.parametrize("touser", [[], ["a|b"], [""]])
def test_empty_or_piped_userids_are_refused(client, touser):
    with pytest.raises(ValueError):
        client.send_message(touser, TEXT)


def test_send_body_joins_touser_with_pipe_and_adds_agentid(fake, client):
    client.send_message(["a", "b", "c"], TEXT)
    assert fake.calls_to("message/send")[0].body == {"touser": "a|b|c", "agentid": 1000002, **TEXT}


def test_send_counts_deliveries_per_user(fake, client):
    client.send_message(["a", "b"], TEXT)
    client.send_message(["a"], TEXT)
    assert (fake.delivered_to("a"), fake.delivered_to("b"), fake.delivered_to("c")) == (2, 1, 0)


def test_duplicate_check_fields_present_when_asked(fake, client):
    client.send_message(["a"], TEXT, duplicate_check_s=1800)
    body = fake.calls_to("message/send")[0].body
    assert (body["enable_duplicate_check"], body["duplicate_check_interval"]) == (1, 1800)


def test_duplicate_check_fields_absent_by_default(fake, client):
    client.send_message(["a"], TEXT)
    assert "enable_duplicate_check" not in fake.calls_to("message/send")[0].body


@pytest.mark.parametrize("seconds", [-1, 14401])
def test_duplicate_check_outside_four_hours_is_refused(client, seconds):
    with pytest.raises(ValueError):
        client.send_message(["a"], TEXT, duplicate_check_s=seconds)


def test_send_returns_msgid(client):
    assert client.send_message(["a"], TEXT)["msgid"] == "m-1"


def test_update_template_card_posts_agentid_and_payload(fake, client):
    payload = {"userids": ["a"], "response_code": "rc-1", "button": {"replace_name": "已投票"}}
    client.update_template_card(payload)
    assert fake.calls_to("message/update_template_card")[0].body == {"agentid": 1000002, **payload}


def test_appchat_create_send_and_get_round_trip(fake, client):
    chat_id = client.appchat_create("", "支部", "a", ["a", "b"])["chatid"]
    client.appchat_send(chat_id, {"msgtype": "markdown", "markdown": {"content": "**提醒**"}})
    info = client.appchat_get(chat_id)["chat_info"]
    assert (info["userlist"], fake.delivered_to_chat(chat_id)) == (["a", "b"], 1)


def test_appchat_create_passes_chosen_chat_id(fake, client):
    assert client.appchat_create("branch1", "支部", "a", ["a", "b"])["chatid"] == "branch1"


def test_appchat_send_to_unknown_chat_is_86001(client):
    assert failure(client.appchat_send, "nochat", {"msgtype": "text", "text": {"content": "x"}}).errcode == 86001


def test_appchat_refuses_template_card(fake, client):
    with pytest.raises(ValueError):
        client.appchat_send("c", {"msgtype": "template_card", "template_card": {}})


def test_forgetting_one_address_keeps_the_tokens_of_others():
    from bot.channels import wecom_api

    here, there = wecom_api._slot_for("http://a/", "corp", "s"), wecom_api._slot_for("http://b/", "corp", "s")
    here.value = there.value = "tok"
    forget_tokens("http://a/")
    assert wecom_api._slot_for("http://a/", "corp", "s").value is None
    assert wecom_api._slot_for("http://b/", "corp", "s") is there and there.value == "tok"
