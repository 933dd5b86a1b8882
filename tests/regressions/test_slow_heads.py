"""A request's line and headers have a deadline (bot/http_guard.py), against a real `kaohe serve`, on each of
its HTTP parsers (httptools, the default, and h11)."""

import socket
import time
from urllib.parse import urlencode

import httpx
import pytest

from tests.kaohe_process import KaoheServe, demo_env
from tests.wecom_client_side import envelope, text_xml

HEADER_TIMEOUT_S = 1


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(tmp_path_factory, request):
    tmp_path = tmp_path_factory.mktemp("slow-heads")
    env = demo_env(tmp_path, KAOHE_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S))
    live = KaoheServe(tmp_path, env, args=("--no-scheduler", "--http", request.param))
    live.parser = request.param
    yield live
    live.stop()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def callback_head_and_body() -> tuple[bytes, bytes]:
    """A real callback's request line and headers, and its body, to send apart."""
    params, body = envelope(text_xml("wangfang", "帮助"))
    head = (
        f"POST /wecom/callback?{urlencode(params)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode(), body


def read_until_closed(conn: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def read_response(conn: socket.socket) -> bytes:
    """One whole response: its head, then as many bytes as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def test_it_runs_on_the_parser_it_was_told(server):
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    assert f"http: {server.parser}, a request's head within 1 s" in server.log(), server.log()


def test_a_connection_that_sends_nothing_is_closed_after_the_deadline(server):
    conn = connect(server.port)
    began = time.monotonic()
    answer = read_until_closed(conn)
    took = time.monotonic() - began
    conn.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert HEADER_TIMEOUT_S - 0.2 < took < HEADER_TIMEOUT_S + 3
    assert "no whole request head within 1 s" in server.log()


def test_headers_dripped_a_byte_at_a_time_do_not_keep_the_connection(server):
    conn = connect(server.port)
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    began, closed = time.monotonic(), False
    for byte in head:  # a byte every 50 ms: each arrives well within any per-read timeout
        try:
            conn.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        time.sleep(0.05)
        if time.monotonic() - began > HEADER_TIMEOUT_S + 3:
            break
    answer = read_until_closed(conn)
    took = time.monotonic() - began
    conn.close()
    assert closed or answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert took < HEADER_TIMEOUT_S + 3, f"still open after {took:.1f} s"


def test_a_kept_alive_connection_has_the_deadline_again_for_its_next_request_only(server):
    conn = connect(server.port)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    conn.sendall(request)
    first = read_response(conn)
    assert first.startswith(b"HTTP/1.1 200"), first[:200]
    time.sleep(HEADER_TIMEOUT_S * 0.5)  # idle, within the deadline: the connection is still good
    conn.sendall(request)
    second = read_response(conn)
    assert second.startswith(b"HTTP/1.1 200"), second[:200]
    began = time.monotonic()
    answer = read_until_closed(conn)  # then idle past it
    conn.close()
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - began < HEADER_TIMEOUT_S + 3


@pytest.mark.parametrize(
    "before", [b"", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"], ids=["alone", "pipelined"]
)
def test_a_slow_body_is_not_the_heads_business(server, before):
    # The head is whole at once; the body (a real callback) then comes later than the head's deadline.
    # Pipelined: a quick request first, in the same write; the callback's head was whole when the first
    # answer went, so it is not timed out behind it.
    head, body = callback_head_and_body()
    conn = connect(server.port)
    conn.sendall(before + head)
    if before:
        first = read_response(conn)
        assert first.startswith(b"HTTP/1.1 200"), first[:200]
    time.sleep(HEADER_TIMEOUT_S + 0.5)
    conn.sendall(body)
    answer = read_response(conn)
    conn.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]


def test_the_service_still_answers_others_meanwhile(server):
    idle = [connect(server.port) for _ in range(20)]
    try:
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        for conn in idle:
            conn.close()


def test_a_head_longer_than_h11s_limit_is_refused_at_once_and_the_service_goes_on(server):
    # httptools keeps a header line however long it grows; sent fast, one would fill the memory well
    # within the head's deadline. Past 16 KiB the connection gets a 4xx (h11: 400, httptools: 431) and
    # is closed, long before the deadline. On a kept-alive connection: after a first request, counted anew.
    conn = connect(server.port)
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert read_response(conn).startswith(b"HTTP/1.1 200")
    began, closed = time.monotonic(), False
    try:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: ")
        for _ in range(64):  # up to 1 MiB, the line never ending
            conn.sendall(b"a" * 16384)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    answer = read_until_closed(conn)
    took = time.monotonic() - began
    conn.close()
    assert closed or answer.startswith((b"HTTP/1.1 431", b"HTTP/1.1 400")), answer[:200]
    assert not answer.startswith(b"HTTP/1.1 408") and took < HEADER_TIMEOUT_S, f"{took:.2f} s: {answer[:80]!r}"
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    if server.parser == "httptools":  # the limit is this protocol's own; h11 refuses in its parser
        assert "a request head over 16384 bytes" in server.log(), server.log()


def test_a_big_body_after_a_short_head_is_not_a_long_head(server):
    # the head's count stops where its body begins: a callback of 40 KB (in the body's limit) is answered
    params, body = envelope(text_xml("wangfang", "帮助"))
    padded = body.replace(b"</xml>", b"<Pad>" + b"x" * 40000 + b"</Pad></xml>")
    answer = httpx.post(f"{server.url}/wecom/callback", params=params, content=padded, timeout=10)
    assert answer.status_code == 200, (answer.status_code, answer.text)
