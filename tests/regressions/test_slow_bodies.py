import socket
import time

import httpx
import pytest

from tests.kaohe_process import KaoheServe, demo_env
from tests.wecom_client_side import envelope, text_xml


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("slow-bodies")
    env = demo_env(tmp_path, KAOHE_BODY_TIMEOUT_S="1")
    live = KaoheServe(tmp_path, env, args=("--no-scheduler",))
    yield live
    live.stop()


def short_body(port: int, path: str, declared: int, sent: bytes) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    conn.sendall(f"{head}Content-Length: {declared}\r\nConnection: keep-alive\r\n\r\n".encode() + sent)
    return conn


def read_until_closed(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("path", ["/wecom/callback?msg_signature=a&timestamp=1&nonce=1", "/api/sim/send"])
def test_a_body_shorter_than_its_content_length_is_answered_408_and_closed(server, path):
    params, body = envelope(text_xml("wangfang", "帮助"))
    conn = short_body(server.port, path, len(body) + 500, body)
    began = time.monotonic()
    answer = read_until_closed(conn)  # returns only once the server closes the kept-open connection
    took = time.monotonic() - began
    conn.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert 0.8 < took < 5
    assert "body not received within 1 s" in server.log()


def test_a_client_leaving_mid_body_is_one_warning_line_not_a_traceback(server):
    conn = short_body(server.port, "/wecom/callback?msg_signature=a&timestamp=1&nonce=1", 5000, b"<xml>")
    time.sleep(0.2)
    conn.close()
    give_up = time.monotonic() + 10
    while "client disconnected" not in server.log() and time.monotonic() < give_up:
        time.sleep(0.1)
    log = server.log()
    assert "client disconnected after 5 bytes of the body" in log
    assert "Traceback" not in log and " ERROR " not in log
    assert httpx.get(f"{server.url}/healthz").status_code == 200
